//! Lock helpers.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, recovering the guard if a thread panicked while holding it.
///
/// Every armdb mutex protects state that is consistent between statements that
/// can panic: user callbacks run before any engine state is changed.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
