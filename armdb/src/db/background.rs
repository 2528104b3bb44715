//! The background worker: writes hints for newly sealed files and runs
//! background compaction passes.

use std::sync::Weak;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::DbInner;
use crate::compaction::Pass;

/// How often the worker looks for sealed files without a hint.
const TICK: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(super) struct Worker {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Worker {
    /// Starts the worker. It holds only a weak reference: the database closes
    /// when its last handle goes, whatever the worker is doing.
    pub(super) fn spawn(db: Weak<DbInner>) -> std::io::Result<Self> {
        let (stop, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("armdb-background".into()).spawn(move || {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&db, &rx)));
            if run.is_err()
                && let Some(db) = db.upgrade()
            {
                // A compaction may have stopped half way: refuse writes until a reopen.
                db.log.health.poison(&crate::Error::InvalidArgument("the background worker panicked".into()));
            }
        })?;
        Ok(Self { stop, thread })
    }

    /// Stops the worker and waits for it, unless called from the worker itself
    /// (when it dropped the last handle of the database).
    pub(super) fn stop(self) {
        drop(self.stop);
        if self.thread.thread().id() == std::thread::current().id() {
            return;
        }
        if self.thread.join().is_err() {
            tracing::error!("the background worker panicked");
        }
    }
}

/// The worker's loop: until told to stop or the database is gone.
fn work(db: &Weak<DbInner>, rx: &mpsc::Receiver<()>) {
    let mut last_compaction = Instant::now();
    while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
        let Some(db) = db.upgrade() else { break };
        if db.log.health.check().is_err() {
            continue;
        }
        if let Err(e) = db.write_hints() {
            tracing::warn!(error = %e, "writing hint files failed");
        }
        let config = &db.config.compaction;
        if let Some(every) = config.interval
            && last_compaction.elapsed() >= every
        {
            last_compaction = Instant::now();
            if let Err(e) = db.compact(Pass::Background(config)) {
                tracing::warn!(error = %e, "background compaction failed");
            }
        }
    }
}
