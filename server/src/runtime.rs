//! Runtimes apart from the one serving HTTP, ingest and live sockets, whose threads run at a
//! lower CPU priority: work that may take every core (queries, the live engine, tiering) still
//! leaves acknowledging appends its turn.

/// The store's tiering and compaction: below ingest and the live engine (5), above queries (10),
/// whose load must not starve tiering into refusing appends.
pub(crate) const MAINTENANCE_NICENESS: i32 = 9;

/// A multi-threaded runtime whose worker threads run at a given niceness.
pub(crate) struct LowerRuntime(Option<tokio::runtime::Runtime>);

impl LowerRuntime {
    /// `threads` workers named `name`, each at `niceness` (the scheduler gives a busy thread at
    /// nice 0 about 1.25^niceness times its share of a core).
    pub(crate) fn new(
        name: &'static str,
        threads: usize,
        niceness: i32,
    ) -> std::io::Result<LowerRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(name)
            .on_thread_start(move || lower_priority(niceness))
            .enable_all()
            .build()?;
        Ok(LowerRuntime(Some(runtime)))
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("taken only on drop").handle()
    }
}

impl Drop for LowerRuntime {
    fn drop(&mut self) {
        // Dropped from inside the server's runtime, where a blocking shutdown would panic;
        // whatever still runs is cancelled, which is what a stopping server wants.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's CPU priority (on Linux a thread's id names it alone to
/// `setpriority`). Failing to is harmless: the thread then competes as an equal.
fn lower_priority(niceness: i32) {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), niceness)
    {
        tracing::debug!(%err, "thread keeps its priority");
    }
}
