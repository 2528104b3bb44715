//! Lock helpers.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Threads a large piece of work (a big batch's index updates, an index
/// build at open) is split over: the machine's cores, at most 4.
pub(crate) fn worker_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
}

/// Locks a mutex, recovering the guard if a thread panicked while holding it.
///
/// Every armdb mutex protects state that is consistent between statements that
/// can panic: user callbacks run before any engine state is changed.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
