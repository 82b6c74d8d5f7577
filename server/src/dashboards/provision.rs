//! Dashboards as code: every `*.json`, `*.yaml` and `*.yml` file of a directory is a dashboard,
//! read-only in the UI. The directory is looked at every [`POLL`]; when a file appears, changes or
//! goes, the whole directory is read again. A file that does not load is reported (file, line,
//! column, what) in the log and on the dashboards list, and the others stay.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use protocol::dashboard::{Dashboard, FileProblem};
use tokio_util::sync::CancellationToken;

use super::source;

/// How often the directory is looked at for changes.
pub(crate) const POLL: Duration = Duration::from_millis(500);

/// Files larger than this are refused rather than read.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// A dashboard loaded from a file.
#[derive(Debug, Clone)]
pub(crate) struct ProvisionedDashboard {
    pub(crate) dashboard: Dashboard,
    pub(crate) file: PathBuf,
    /// µs since the epoch.
    pub(crate) loaded_at: i64,
}

/// What a directory of dashboard files holds: the dashboards that loaded, by uid, and the
/// problems of the files that did not.
#[derive(Debug, Clone, Default)]
pub(crate) struct Provisioned {
    pub(crate) dashboards: BTreeMap<String, ProvisionedDashboard>,
    pub(crate) problems: Vec<FileProblem>,
}

/// Whether `path` names a dashboard file, and whether it is JSON.
fn kind(path: &Path) -> Option<bool> {
    match path.extension()?.to_str()? {
        "json" => Some(true),
        "yaml" | "yml" => Some(false),
        _ => None,
    }
}

/// The dashboard files of `dir`, by name.
pub(crate) fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| kind(path).is_some() && path.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Reads every dashboard file of `dir`.
pub(crate) fn load(dir: &Path) -> Provisioned {
    let mut provisioned = Provisioned::default();
    let files = match files(dir) {
        Ok(files) => files,
        Err(err) => {
            provisioned.problems.push(FileProblem {
                file: dir.display().to_string(),
                line: 0,
                column: 0,
                message: format!("cannot read the dashboards directory: {err}"),
            });
            return provisioned;
        }
    };
    for file in files {
        match load_file(&file) {
            Ok(dashboard) => {
                if let Some(first) = provisioned.dashboards.get(&dashboard.uid) {
                    provisioned.problems.push(FileProblem {
                        file: file.display().to_string(),
                        line: 1,
                        column: 1,
                        message: format!(
                            "uid `{}` is also the uid of {}",
                            dashboard.uid,
                            first.file.display()
                        ),
                    });
                    continue;
                }
                provisioned.dashboards.insert(
                    dashboard.uid.clone(),
                    ProvisionedDashboard {
                        dashboard,
                        file,
                        loaded_at: storage::now_micros(),
                    },
                );
            }
            Err(problem) => provisioned.problems.push(problem),
        }
    }
    provisioned
}

/// Reads one dashboard file.
pub(crate) fn load_file(file: &Path) -> Result<Dashboard, FileProblem> {
    let problem = |line, column, message| FileProblem {
        file: file.display().to_string(),
        line,
        column,
        message,
    };
    let size = std::fs::metadata(file)
        .map_err(|e| problem(0, 0, format!("cannot read: {e}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(problem(
            0,
            0,
            format!("{size} bytes: a dashboard file is at most {MAX_FILE_BYTES} bytes"),
        ));
    }
    let text =
        std::fs::read_to_string(file).map_err(|e| problem(0, 0, format!("cannot read: {e}")))?;
    let json = kind(file).unwrap_or(true);
    let source = source::read(&text, json)
        .map_err(|err| problem(err.position.line, err.position.column, err.message))?;
    super::parse(&source.value).map_err(|p| {
        let at = source.position(&p.pointer);
        let pointer = if p.pointer.is_empty() {
            "/"
        } else {
            &p.pointer
        };
        problem(at.line, at.column, format!("{pointer}: {}", p.message))
    })
}

/// What the directory looks like: its files' names, sizes and times. A change means a reload.
pub(crate) fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (path, size, modified)
        })
        .collect()
}

/// Logs what a load found.
pub(crate) fn report(dir: &Path, provisioned: &Provisioned) {
    for p in &provisioned.problems {
        tracing::warn!(file = %p.file, line = p.line, column = p.column,
            "dashboard file not loaded: {}", p.message);
    }
    tracing::info!(
        dir = %dir.display(),
        dashboards = provisioned.dashboards.len(),
        problems = provisioned.problems.len(),
        "dashboards provisioned"
    );
}

/// Reloads `dir` into `shared` whenever its files change, until `stop`.
pub(crate) async fn watch(dir: PathBuf, shared: Arc<RwLock<Provisioned>>, stop: CancellationToken) {
    let mut seen = fingerprint(&dir);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let dir2 = dir.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&dir2)).await else {
            continue;
        };
        if now == seen {
            continue;
        }
        let dir2 = dir.clone();
        let Ok(provisioned) = tokio::task::spawn_blocking(move || load(&dir2)).await else {
            continue;
        };
        report(&dir, &provisioned);
        *shared.write().unwrap_or_else(|p| p.into_inner()) = provisioned;
        seen = now;
    }
}
