//! Queries that run under an id their client chose: how far each has got (files and bytes of
//! the lake scanned of those its plan reads, elapsed time), and a way to stop one from another
//! request (`DELETE /api/v1/query/{id}`), which the SQL workbench's cancel button sends.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use protocol::Progress;
use tokio_util::sync::CancellationToken;

/// The longest query id.
pub(crate) const MAX_ID_LEN: usize = 128;

/// The queries running under an id.
#[derive(Debug, Default, Clone)]
pub(crate) struct Running {
    queries: Arc<Mutex<HashMap<String, Arc<Entry>>>>,
}

/// One running query.
#[derive(Debug)]
pub(crate) struct Entry {
    started: Instant,
    pub(crate) cancel: CancellationToken,
    /// Its physical plan, once planned: the scans' metrics say how far it has got.
    pub(crate) plan: OnceLock<Arc<dyn ExecutionPlan>>,
}

/// Removes its query from [`Running`] when the query ends, however it ends.
pub(crate) struct Registered {
    running: Running,
    id: String,
    pub(crate) entry: Arc<Entry>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut queries = self.running.queries.lock().expect("poisoned");
        if queries
            .get(&self.id)
            .is_some_and(|e| Arc::ptr_eq(e, &self.entry))
        {
            queries.remove(&self.id);
        }
    }
}

impl Running {
    /// Registers a query under `id`; `None` when a query runs under it already.
    pub(crate) fn register(&self, id: &str) -> Option<Registered> {
        let mut queries = self.queries.lock().expect("poisoned");
        if queries.contains_key(id) {
            return None;
        }
        let entry = Arc::new(Entry {
            started: Instant::now(),
            cancel: CancellationToken::new(),
            plan: OnceLock::new(),
        });
        queries.insert(id.to_owned(), Arc::clone(&entry));
        Some(Registered {
            running: self.clone(),
            id: id.to_owned(),
            entry,
        })
    }

    /// Stops the query under `id`; whether there was one.
    pub(crate) fn cancel(&self, id: &str) -> bool {
        let entry = self.queries.lock().expect("poisoned").get(id).cloned();
        entry.inspect(|e| e.cancel.cancel()).is_some()
    }

    pub(crate) fn progress(&self, id: &str) -> Option<Progress> {
        let entry = self.queries.lock().expect("poisoned").get(id).cloned()?;
        let mut progress = Progress {
            elapsed_ms: entry.started.elapsed().as_millis() as u64,
            planned: false,
            files_total: 0,
            files_scanned: 0,
            bytes_total: 0,
            bytes_scanned: 0,
        };
        if let Some(plan) = entry.plan.get() {
            progress.planned = true;
            let mut opened = HashSet::new();
            scans(plan, &mut progress, &mut opened);
            progress.files_scanned = opened.len() as u64;
        }
        Some(progress)
    }
}

/// Adds what each file scan under `plan` reads and has read.
fn scans(plan: &Arc<dyn ExecutionPlan>, progress: &mut Progress, opened: &mut HashSet<String>) {
    if let Some(scan) = plan.downcast_ref::<DataSourceExec>()
        && let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>()
    {
        for file in config.file_groups.iter().flat_map(|g| g.files()) {
            progress.files_total += 1;
            progress.bytes_total += file.object_meta.size;
        }
        if let Some(metrics) = plan.metrics() {
            for metric in metrics.iter() {
                if metric.value().name() != "bytes_scanned" {
                    continue;
                }
                progress.bytes_scanned += metric.value().as_usize() as u64;
                // Each file's metrics carry its name: a file with them has been opened.
                if let Some(file) = metric.labels().iter().find(|l| l.name() == "filename") {
                    opened.insert(file.value().to_owned());
                }
            }
        }
    }
    if let Some(partials) = plan.downcast_ref::<super::partials::PartialsExec>() {
        for file in partials.file_plans() {
            scans(file, progress, opened);
        }
    }
    for child in plan.children() {
        scans(child, progress, opened);
    }
}
