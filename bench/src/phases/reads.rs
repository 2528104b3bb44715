//! The read phases: len, random point reads, random range reads, threaded
//! point reads and prefix scans. Every value read is checked.

use super::Run;
use crate::Result;
use crate::data::DataSet;
use crate::engines::{Engine, Reader};
use crate::progress::{Progress, TICK};

/// Counts the entries the engine's own way and checks the count.
pub(super) fn len(run: &mut Run<'_>, engine: &dyn Engine) -> Result<()> {
    let expected = run.live;
    // One operation: the count.
    run.timed("len", 1, 1, |p| {
        let n = engine.count()?;
        if n != expected {
            return Err(format!("len is {n}, expected {expected}").into());
        }
        p.inc(1);
        Ok(())
    })?;
    Ok(())
}

/// Gets and checks the keys `order` names; fails on a missing key.
fn get_all(reader: &mut dyn Reader, data: &DataSet, order: &[u32], p: &Progress) -> Result<()> {
    for (i, &k) in order.iter().enumerate() {
        let key = &data.keys[k as usize];
        if !reader.get(key)? {
            return Err(format!("key #{k} is missing").into());
        }
        if (i as u64 + 1).is_multiple_of(TICK) {
            p.inc(TICK);
        }
    }
    Ok(())
}

/// Point gets of random existing keys, in passes over the same random order.
pub(super) fn random(run: &mut Run<'_>, engine: &dyn Engine) -> Result<()> {
    let data = run.data;
    let order = &data.order[..run.plan.reads.min(data.len())];
    let passes = run.plan.read_passes;
    run.timed("random reads", 1, (order.len() * passes) as u64, |p| {
        let mut reader = engine.reader()?;
        for _ in 0..passes {
            get_all(&mut *reader, data, order, p)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Scans of `range_len` entries from random existing keys.
pub(super) fn ranges(run: &mut Run<'_>, engine: &dyn Engine) -> Result<()> {
    let data = run.data;
    let starts = &data.order[..run.plan.ranges.min(data.len())];
    let (passes, len) = (run.plan.read_passes, run.plan.range_len);
    run.timed("random range reads", 1, (starts.len() * passes) as u64, |p| {
        let mut reader = engine.reader()?;
        for _ in 0..passes {
            for (i, &k) in starts.iter().enumerate() {
                if reader.range(&data.keys[k as usize], len)? == 0 {
                    return Err(format!("range from key #{k} is empty").into());
                }
                if (i as u64 + 1).is_multiple_of(TICK) {
                    p.inc(TICK);
                }
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Every key once, split over 1, 2 and 4 threads, each with its own reader.
pub(super) fn threaded(run: &mut Run<'_>, engine: &dyn Engine) -> Result<()> {
    let data = run.data;
    for threads in run.plan.read_threads {
        let chunk = data.len().div_ceil(threads);
        run.timed("threaded random reads", threads, data.len() as u64, |p| {
            std::thread::scope(|s| {
                let workers: Vec<_> = data
                    .order
                    .chunks(chunk)
                    .map(|order| {
                        s.spawn(move || -> Result<()> {
                            let mut reader = engine.reader()?;
                            get_all(&mut *reader, data, order, p)
                        })
                    })
                    .collect();
                workers.into_iter().try_for_each(|w| w.join().map_err(|_| "reader thread panicked")?)
            })
        })?;
    }
    Ok(())
}

/// Scans of every entry under the leading bytes of random existing keys.
pub(super) fn prefixes(run: &mut Run<'_>, engine: &dyn Engine) -> Result<()> {
    let data = run.data;
    let starts = &data.order[..run.plan.prefix_scans.min(data.len())];
    let len = run.plan.prefix_len;
    run.timed("prefix scans", 1, starts.len() as u64, |p| {
        let mut reader = engine.reader()?;
        for (i, &k) in starts.iter().enumerate() {
            if reader.prefix(&data.keys[k as usize][..len])? == 0 {
                return Err(format!("prefix of key #{k} is empty").into());
            }
            if (i as u64 + 1).is_multiple_of(TICK) {
                p.inc(TICK);
            }
        }
        Ok(())
    })?;
    Ok(())
}
