//! The limit proxies: the raw cost of what any engine must do at least, measured
//! in the same run as the engines, with the same keys and value checks.
//!
//! - `limit-fsync`: 4 KiB appended and `fdatasync`ed, one after another.
//! - `limit-seqwrite`: the data set's key and value bytes written sequentially
//!   in 1 MiB writes, then `fdatasync`ed once.
//! - `limit-skiplist`: `crossbeam_skiplist::SkipMap` inserts, gets, 10-entry
//!   ranges and prefix scans.
//! - `limit-hashmap`: `papaya::HashMap` (foldhash) gets, on 1, 2 and 4 threads.
//! - `limit-seqread`: the seqwrite file read back sequentially (from the page
//!   cache, as the engines' reopens are).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use crossbeam_skiplist::SkipMap;

use crate::Result;
use crate::data::{DataSet, Key, PAIR_LEN, verify};
use crate::progress::Progress;
use crate::report::Record;
use crate::scale::Plan;

/// Buffer size of the sequential proxies.
const IO_CHUNK: usize = 1 << 20;

type HashMap = papaya::HashMap<Key, u32, foldhash::fast::RandomState>;

/// Times `f` doing `ops` operations and records it as `engine`/`phase`.
fn timed(
    records: &mut Vec<Record>,
    engine: &str,
    phase: &str,
    threads: usize,
    ops: u64,
    f: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let progress = Progress::start(engine, phase, ops);
    let started = Instant::now();
    f().map_err(|e| format!("{engine} {phase}: {e}"))?;
    let record = Record::timed(engine, phase, threads, ops, started.elapsed().as_secs_f64());
    progress.finish(&record.line());
    records.push(record);
    Ok(())
}

/// Measures every proxy, with scratch files under `tmp`.
///
/// # Errors
/// I/O errors; a value that fails its check.
pub fn run(plan: &Plan, data: &DataSet, tmp: &Path, records: &mut Vec<Record>) -> Result<()> {
    let dir = tempfile::Builder::new().prefix("armdb-bench-limits-").tempdir_in(tmp)?;
    fsync(plan, &dir.path().join("fsync"), records)?;
    let seq = dir.path().join("seq");
    seqwrite(data, &seq, records)?;
    seqread(data, &seq, records)?;
    dir.close()?;
    skiplist(plan, data, records)?;
    hashmap(plan, data, records)
}

fn fsync(plan: &Plan, path: &Path, records: &mut Vec<Record>) -> Result<()> {
    let mut file = File::create(path)?;
    let block = [0xA5u8; 4096];
    timed(records, "limit-fsync", "individual writes", 1, plan.fsync_rounds as u64, || {
        for _ in 0..plan.fsync_rounds {
            file.write_all(&block)?;
            file.sync_data()?;
        }
        Ok(())
    })
}

fn seqwrite(data: &DataSet, path: &Path, records: &mut Vec<Record>) -> Result<()> {
    let mut file = File::create(path)?;
    timed(records, "limit-seqwrite", "bulk load", 1, data.len() as u64, || {
        let mut buf = Vec::with_capacity(IO_CHUNK);
        for (k, v) in data.keys.iter().zip(&data.values) {
            buf.extend_from_slice(k);
            buf.extend_from_slice(v);
            if buf.len() + PAIR_LEN as usize > IO_CHUNK {
                file.write_all(&buf)?;
                buf.clear();
            }
        }
        file.write_all(&buf)?;
        file.sync_data()?;
        Ok(())
    })
}

fn seqread(data: &DataSet, path: &Path, records: &mut Vec<Record>) -> Result<()> {
    let expected = data.len() as u64 * PAIR_LEN;
    timed(records, "limit-seqread", "reopen", 1, 1, || {
        let mut file = File::open(path)?;
        let mut buf = vec![0u8; IO_CHUNK];
        let (mut total, mut fold) = (0u64, 0u8);
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            // Touch the bytes, as a reader that parses them must.
            fold ^= buf[..n].iter().fold(0, |a, b| a ^ b);
            total += n as u64;
        }
        std::hint::black_box(fold);
        if total != expected {
            return Err(format!("read {total} bytes, wrote {expected}").into());
        }
        Ok(())
    })
}

fn skiplist(plan: &Plan, data: &DataSet, records: &mut Vec<Record>) -> Result<()> {
    let map: SkipMap<Key, u32> = SkipMap::new();
    let name = "limit-skiplist";
    timed(records, name, "bulk load", 1, data.len() as u64, || {
        for (i, k) in data.keys.iter().enumerate() {
            map.insert(*k, i as u32);
        }
        Ok(())
    })?;
    let check = |i: u32| verify(&data.keys[i as usize], &data.values[i as usize]);
    let order = &data.order[..plan.reads.min(data.len())];
    timed(records, name, "random reads", 1, (order.len() * plan.read_passes) as u64, || {
        for _ in 0..plan.read_passes {
            for &k in order {
                let entry = map.get(&data.keys[k as usize]).ok_or("missing key")?;
                check(*entry.value())?;
            }
        }
        Ok(())
    })?;
    let starts = &data.order[..plan.ranges.min(data.len())];
    timed(records, name, "random range reads", 1, (starts.len() * plan.read_passes) as u64, || {
        for _ in 0..plan.read_passes {
            for &k in starts {
                for entry in map.range(data.keys[k as usize]..).take(plan.range_len) {
                    check(*entry.value())?;
                }
            }
        }
        Ok(())
    })?;
    let starts = &data.order[..plan.prefix_scans.min(data.len())];
    timed(records, name, "prefix scans", 1, starts.len() as u64, || {
        for &k in starts {
            let (mut lo, mut hi) = ([0u8; 24], [0xFFu8; 24]);
            let prefix = &data.keys[k as usize][..plan.prefix_len];
            lo[..prefix.len()].copy_from_slice(prefix);
            hi[..prefix.len()].copy_from_slice(prefix);
            for entry in map.range(lo..=hi) {
                check(*entry.value())?;
            }
        }
        Ok(())
    })
}

fn hashmap(plan: &Plan, data: &DataSet, records: &mut Vec<Record>) -> Result<()> {
    let map = HashMap::with_capacity_and_hasher(data.len(), foldhash::fast::RandomState::default());
    {
        let pinned = map.pin();
        for (i, k) in data.keys.iter().enumerate() {
            pinned.insert(*k, i as u32);
        }
    }
    let get_all = |order: &[u32]| -> Result<()> {
        let pinned = map.pin();
        for &k in order {
            let i = *pinned.get(&data.keys[k as usize]).ok_or("missing key")?;
            verify(&data.keys[i as usize], &data.values[i as usize])?;
        }
        Ok(())
    };
    let name = "limit-hashmap";
    let order = &data.order[..plan.reads.min(data.len())];
    timed(records, name, "random reads", 1, (order.len() * plan.read_passes) as u64, || {
        (0..plan.read_passes).try_for_each(|_| get_all(order))
    })?;
    for threads in plan.read_threads {
        let chunk = data.len().div_ceil(threads);
        timed(records, name, "threaded random reads", threads, data.len() as u64, || {
            std::thread::scope(|s| {
                let workers: Vec<_> = data.order.chunks(chunk).map(|o| s.spawn(|| get_all(o))).collect();
                workers.into_iter().try_for_each(|w| w.join().map_err(|_| "reader thread panicked")?)
            })
        })?;
    }
    Ok(())
}
