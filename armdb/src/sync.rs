//! Lock, thread and cache helpers.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Threads a large piece of work (a big batch's index updates, an index
/// build at open) is split over: the machine's cores, at most 4.
pub(crate) fn worker_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
}

/// Runs `f` on consecutive parts of `items`, one per worker thread (at most
/// [`worker_threads`]), the caller's thread taking the first part; a part no
/// thread could be started for runs on the caller's thread afterwards. Returns
/// every part's result, `Err` holding the panic of a part that ran on a thread
/// of its own (a panic of the caller's part unwinds from here).
pub(crate) fn run_in_parts<T: Send, R: Send>(
    name: &str,
    items: &mut [T],
    f: impl Fn(&mut [T]) -> R + Sync,
) -> Vec<std::thread::Result<R>> {
    let chunk = items.len().div_ceil(worker_threads()).max(1);
    let mut results = Vec::new();
    let mut left = Vec::new();
    std::thread::scope(|scope| {
        let f = &f;
        let mut parts = items.chunks_mut(chunk).enumerate();
        let first = parts.next();
        let mut running = Vec::new();
        for (n, part) in parts {
            match std::thread::Builder::new().name(name.into()).spawn_scoped(scope, move || f(part)) {
                Ok(handle) => running.push(handle),
                Err(_) => left.push(n),
            }
        }
        if let Some((_, part)) = first {
            results.push(Ok(f(part)));
        }
        results.extend(running.into_iter().map(std::thread::ScopedJoinHandle::join));
    });
    for n in left {
        let end = items.len().min((n + 1) * chunk);
        results.push(Ok(f(&mut items[n * chunk..end])));
    }
    results
}

/// Old entries a thread retires from an in-memory hash map (a keydir, a unique
/// secondary index) before it tries to free them. Retiring a batch starts
/// with a process-wide barrier (`membarrier(2)`, an interrupt to every core
/// running a thread of the process); at seize's default of 32 that barrier
/// took 27 % of the samples of a profile of random overwrites. 256 gets
/// nearly all of what 1,024 does (measured: 2.5–2.7 s of CPU per million
/// overwrites at 256, 2.2–2.8 at 1,024, 3.4–6.0 at 32).
///
/// The price, per thread that has retired an entry from a map: a batch
/// buffer of 256 × 32 bytes, and up to 255 replaced values not yet freed.
/// A batch is freed once every reader that was inside the map when it was
/// retired has left, and a thread that exits leaves its partial batch to
/// the next thread that takes its slot, or to the map's drop.
pub(crate) const RETIRE_BATCH: usize = 256;

/// An empty concurrent hash map for an index, with foldhash and
/// [`RETIRE_BATCH`].
pub(crate) fn hash_map<K, V>() -> papaya::HashMap<K, V, foldhash::fast::RandomState> {
    papaya::HashMap::builder()
        .hasher(foldhash::fast::RandomState::default())
        .collector(seize::Collector::new().batch_size(RETIRE_BATCH))
        .build()
}

/// Locks a mutex, recovering the guard if a thread panicked while holding it.
///
/// Every armdb mutex protects state that is consistent between statements that
/// can panic: user callbacks run before any engine state is changed.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Bytes of `bytes` that [`prefetch`] asks for: an entry's header, key and
/// the start of its value.
const PREFETCH_BYTES: usize = 256;

/// Asks the CPU to start loading the first cache lines of `bytes`, without
/// waiting for them. A hint only: no effect on what any read returns.
pub(crate) fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes[..bytes.len().min(PREFETCH_BYTES)].chunks(64) {
        // SAFETY: SSE is part of every x86_64 target, and a prefetch reads
        // nothing and cannot fault; the address is inside a live slice anyway.
        #[allow(unsafe_code, reason = "a cache hint, the one x86 intrinsic armdb calls")]
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
