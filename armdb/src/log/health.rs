//! Whether the log set still accepts writes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::sync::lock;
use crate::{Error, Result};

const OPEN: u8 = 0;
const POISONED: u8 = 1;
const CLOSED: u8 = 2;

/// Shared by the write path, the flusher and `close`.
///
/// A failed write or fsync poisons the database: the kernel may have dropped the
/// dirty pages, so no later write can be acknowledged until a reopen re-reads the
/// files.
#[derive(Debug, Default)]
pub(crate) struct Health {
    state: AtomicU8,
    reason: Mutex<String>,
}

impl Health {
    pub(crate) fn check(&self) -> Result<()> {
        match self.state.load(Ordering::Acquire) {
            OPEN => Ok(()),
            POISONED => Err(Error::Poisoned(lock(&self.reason).clone())),
            _ => Err(Error::Closed),
        }
    }

    /// Records the first failure; later ones keep the first reason.
    pub(crate) fn poison(&self, err: &Error) {
        if self.state.compare_exchange(OPEN, POISONED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            *lock(&self.reason) = err.to_string();
            tracing::error!(error = %err, "database poisoned");
        }
    }

    /// Poisons for a failed write unless the disk was full: a write refused for
    /// want of space leaves nothing acknowledged behind, and the next write retries.
    pub(crate) fn write_failed(&self, err: &Error) {
        if !err.is_no_space() {
            self.poison(err);
        }
    }

    /// Undoes `close` when closing failed for want of space.
    pub(crate) fn reopen(&self) {
        let _ = self.state.compare_exchange(CLOSED, OPEN, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn close(&self) {
        self.state.store(CLOSED, Ordering::Release);
    }
}
