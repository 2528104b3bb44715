//! The write phases: bulk load, individual, concurrent and batch durable
//! writes, and non-durable writes. Each write phase inserts keys of its own.

use super::Run;
use crate::Result;
use crate::engines::{Commit, Engine};
use crate::progress::TICK;

/// Streams of fresh keys, one per write phase.
const INDIVIDUAL: u64 = 1;
const CONCURRENT: u64 = 2;
const BATCHES: u64 = 3;
const NOSYNC: u64 = 4;

/// All pairs in one commit, made durable.
pub(super) fn bulk_load(run: &mut Run<'_>, engine: &mut dyn Engine) -> Result<()> {
    engine.set_commit(Commit::Sync)?;
    let data = run.data;
    let n = data.len() as u64;
    run.timed("bulk load", 1, n, |p| {
        engine.write(&data.keys, &data.values)?;
        p.inc(n);
        Ok(())
    })?;
    run.live += n;
    Ok(())
}

/// Single-insert durable commits, one after another.
pub(super) fn individual(run: &mut Run<'_>, engine: &mut dyn Engine) -> Result<()> {
    engine.set_commit(Commit::Sync)?;
    let (keys, values) = run.data.fresh(INDIVIDUAL, run.plan.individual_writes);
    let engine = &*engine;
    run.timed("individual writes", 1, keys.len() as u64, |p| {
        for i in 0..keys.len() {
            engine.write(&keys[i..=i], &values[i..=i])?;
            p.inc(1);
        }
        Ok(())
    })?;
    run.live += keys.len() as u64;
    Ok(())
}

/// Single-insert durable commits from several threads at once.
pub(super) fn concurrent(run: &mut Run<'_>, engine: &mut dyn Engine) -> Result<()> {
    engine.set_commit(Commit::Sync)?;
    let threads = run.plan.concurrent_threads;
    let per_thread = run.plan.concurrent_writes_per_thread;
    let (keys, values) = run.data.fresh(CONCURRENT, threads * per_thread);
    let engine = &*engine;
    run.timed("concurrent durable writes", threads, keys.len() as u64, |p| {
        std::thread::scope(|s| {
            let workers: Vec<_> = keys
                .chunks(per_thread)
                .zip(values.chunks(per_thread))
                .map(|(keys, values)| {
                    s.spawn(move || -> Result<()> {
                        for i in 0..keys.len() {
                            engine.write(&keys[i..=i], &values[i..=i])?;
                            p.inc(1);
                        }
                        Ok(())
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|w| w.join().map_err(|_| "writer thread panicked")?)
        })
    })?;
    run.live += keys.len() as u64;
    Ok(())
}

/// Durable batches of inserts.
pub(super) fn batches(run: &mut Run<'_>, engine: &mut dyn Engine) -> Result<()> {
    engine.set_commit(Commit::Sync)?;
    let len = run.plan.batch_len;
    let (keys, values) = run.data.fresh(BATCHES, run.plan.batches * len);
    let engine = &*engine;
    run.timed("batch writes", 1, keys.len() as u64, |p| {
        for (k, v) in keys.chunks(len).zip(values.chunks(len)) {
            engine.write(k, v)?;
            p.inc(k.len() as u64);
        }
        Ok(())
    })?;
    run.live += keys.len() as u64;
    Ok(())
}

/// Single inserts with no durability.
pub(super) fn nosync(run: &mut Run<'_>, engine: &mut dyn Engine) -> Result<()> {
    engine.set_commit(Commit::NoSync)?;
    let (keys, values) = run.data.fresh(NOSYNC, run.plan.nosync_writes);
    let engine = &*engine;
    run.timed("nosync writes", 1, keys.len() as u64, |p| {
        for i in 0..keys.len() {
            engine.write(&keys[i..=i], &values[i..=i])?;
            if (i as u64 + 1).is_multiple_of(TICK) {
                p.inc(TICK);
            }
        }
        Ok(())
    })?;
    run.live += keys.len() as u64;
    Ok(())
}
