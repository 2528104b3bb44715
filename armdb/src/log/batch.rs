//! Appending an atomic batch: every part under its shard's lock, one seq.
//!
//! Framing (see `docs/format.md`): every entry of a batch carries `FLAG_BATCH`
//! and the batch's seq; each shard's part is written into one file and closed by
//! a marker (tree id 0) that counts the part's entries and the batch's shards.
//! Recovery applies a batch only when every shard it names holds a whole part.

use std::sync::{MutexGuard, mpsc};

use super::file::Loc;
use super::format::{BatchMarker, FLAG_BATCH, MARKER_KEY_LEN, MARKER_VALUE_LEN, RESERVED_TREE_ID, entry_len};
use super::set::LogSet;
use super::shard::{SyncJob, Writer, check_value_len, next_seq};
use crate::config::Durability;
use crate::limits::{MAX_BATCH_ENTRIES, MAX_FILE_SIZE};
use crate::{Error, Result};

/// One entry of a batch: its home shard, tree, encoded key and value (`None`: delete).
#[derive(Debug)]
pub(crate) struct BatchEntry<'a> {
    pub shard: usize,
    pub tree: u32,
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// The locks of every shard a batch writes to, taken in shard order.
pub(crate) struct BatchLocks<'a> {
    log: &'a LogSet,
    /// (shard index, its writer), ascending by shard.
    guards: Vec<(usize, MutexGuard<'a, Writer>)>,
    /// The batch's seq, entry count and the shards it wrote to, once appended.
    appended: Option<(u64, usize, Vec<usize>)>,
}

impl LogSet {
    /// Locks `shards` (any order, duplicates allowed) in ascending order.
    pub(crate) fn lock_shards(&self, shards: impl IntoIterator<Item = usize>) -> Result<BatchLocks<'_>> {
        self.health.check()?;
        let mut ids: Vec<usize> = shards.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        let guards = ids.into_iter().map(|i| (i, self.shards[i].lock())).collect();
        Ok(BatchLocks { log: self, guards, appended: None })
    }
}

impl BatchLocks<'_> {
    /// Appends every entry under one seq and returns their locations, in the
    /// order given. Every entry's shard must be locked. On error nothing is
    /// applied and the parts already appended are undone (cut off the files
    /// they reached); if that fails the database is poisoned, and recovery
    /// drops the incomplete batch.
    pub(crate) fn append(&mut self, entries: &[BatchEntry<'_>]) -> Result<Vec<Loc>> {
        let log = self.log;
        log.health.check()?;
        if entries.len() > MAX_BATCH_ENTRIES {
            return Err(Error::InvalidArgument(format!(
                "batch of {} entries exceeds the limit of {MAX_BATCH_ENTRIES}",
                entries.len()
            )));
        }
        for e in entries {
            check_value_len(e.value)?;
            if !self.guards.iter().any(|(i, _)| *i == e.shard) {
                return Err(Error::InvalidArgument(format!("batch entry for unlocked shard {}", e.shard)));
            }
        }
        // Each shard's part (entry indexes) and its bytes, marker included; all
        // checked before a seq is taken, so a refused batch leaves nothing behind.
        let mut parts: Vec<(usize, Vec<usize>, u64)> = Vec::new();
        for (shard_id, _) in &self.guards {
            let part: Vec<usize> = (0..entries.len()).filter(|&n| entries[n].shard == *shard_id).collect();
            if part.is_empty() {
                continue;
            }
            let bytes = part
                .iter()
                .map(|&n| entry_len(entries[n].key.len(), entries[n].value.map_or(0, <[u8]>::len)) as u64)
                .sum::<u64>()
                + entry_len(MARKER_KEY_LEN, MARKER_VALUE_LEN) as u64;
            if bytes > MAX_FILE_SIZE {
                return Err(Error::InvalidArgument(format!(
                    "a batch's part in shard {shard_id} is {bytes} bytes; at most {MAX_FILE_SIZE} fit one file"
                )));
            }
            parts.push((*shard_id, part, bytes));
        }
        let seq = next_seq(log.next_seq_counter())?;
        let mut locs = vec![None; entries.len()];
        let flush_each = !matches!(log.durability(), Durability::Buffered { .. });
        let shard_count = parts.len() as u16;
        // (shard, end offset before its part) of every part appended so far.
        let mut done: Vec<(usize, u64)> = Vec::with_capacity(parts.len());
        for (shard_id, part, bytes) in parts {
            let Some((_, w)) = self.guards.iter_mut().find(|(i, _)| *i == shard_id) else { continue };
            let shard = &log.shards[shard_id];
            if let Err(e) = shard.make_room(w, bytes, &log.health) {
                self.undo(&done);
                return Err(e);
            }
            done.push((shard_id, w.end_offset()));
            let Some((_, w)) = self.guards.iter_mut().find(|(i, _)| *i == shard_id) else { continue };
            let before = w.buffered_len();
            for &n in &part {
                let e = &entries[n];
                locs[n] = Some(shard.encode(w, seq, e.tree, FLAG_BATCH, e.key, e.value));
            }
            let marker = BatchMarker { entries: part.len() as u32, shards: shard_count };
            let marker_loc = shard.encode(
                w,
                seq,
                RESERVED_TREE_ID,
                FLAG_BATCH,
                &seq.to_le_bytes(),
                Some(&marker.encode()),
            );
            // Only recovery reads a marker: for compaction it is garbage at once.
            w.active.add_dead(u64::from(marker_loc.len));
            if let Err(e) = shard.flush_after(w, flush_each, before, &log.health) {
                self.undo(&done);
                return Err(e);
            }
        }
        self.appended = Some((seq, entries.len(), done.iter().map(|&(s, _)| s).collect()));
        locs.into_iter()
            .collect::<Option<Vec<Loc>>>()
            .ok_or_else(|| Error::InvalidArgument("batch entry without a location".into()))
    }

    /// Undoes the parts appended so far of a batch that failed.
    fn undo(&mut self, done: &[(usize, u64)]) {
        for &(shard_id, start) in done {
            let Some((_, w)) = self.guards.iter_mut().find(|(i, _)| *i == shard_id) else { continue };
            if let Err(e) = w.undo_to(start) {
                self.log.health.poison(&e);
            }
        }
    }

    /// Runs `apply` (the batch's index changes) under the locks, releases them
    /// and, in `Sync` mode, returns once the batch is durable in every shard it
    /// wrote to. A batch of at least `OVERLAP_SYNC_FROM` entries fsyncs each of
    /// its shards on a thread of its own while `apply` runs; a smaller one
    /// fsyncs after it, on the caller's thread.
    pub(crate) fn finish(self, apply: impl FnOnce()) -> Result<()> {
        let BatchLocks { log, mut guards, appended } = self;
        // Only the shards the batch wrote to: a shard locked for a delete of an
        // absent key holds nothing of it.
        let Some((seq, n, shards)) = appended.filter(|_| log.durability() == Durability::Sync) else {
            apply();
            return Ok(());
        };
        if n < OVERLAP_SYNC_FROM {
            apply();
            drop(guards);
            for i in shards {
                log.shards[i].sync_through(seq, &log.health)?;
            }
        } else {
            let mut jobs = Vec::with_capacity(shards.len());
            for (i, w) in guards.iter_mut().filter(|(i, _)| shards.contains(i)) {
                match log.shards[*i].sync_job(w, &log.health) {
                    Ok(job) => jobs.push((*i, job)),
                    Err(e) => {
                        // The entries are appended: the indexes follow them,
                        // as after any failed fsync.
                        apply();
                        return Err(e);
                    }
                }
            }
            std::thread::scope(|scope| {
                let mut syncing = Vec::with_capacity(jobs.len());
                // Jobs no thread could be started for: run here once the locks
                // are released (an fsync waits for `sync_lock`, whose holder
                // may be waiting for one of these shard locks).
                let mut here = Vec::new();
                for (i, job) in jobs {
                    let shard = &log.shards[i];
                    // The job goes to the thread once it exists.
                    let (tx, rx) = mpsc::channel::<SyncJob>();
                    let run =
                        move || rx.recv().map_or(Ok(()), |job| shard.sync_job_through(job, seq, &log.health));
                    let spawned =
                        std::thread::Builder::new().name("armdb-batch-sync".into()).spawn_scoped(scope, run);
                    match spawned {
                        Ok(handle) => match tx.send(job) {
                            Ok(()) => syncing.push(handle),
                            Err(mpsc::SendError(job)) => here.push((shard, job)),
                        },
                        Err(_) => here.push((shard, job)),
                    }
                }
                apply();
                drop(guards);
                let mut result = Ok(());
                for (shard, job) in here {
                    result = result.and(shard.sync_job_through(job, seq, &log.health));
                }
                for handle in syncing {
                    let r = handle.join().unwrap_or_else(|_| {
                        Err(Error::InvalidArgument("a batch's fsync thread panicked".into()))
                    });
                    result = result.and(r);
                }
                result
            })?;
        }
        log.counters.synced_writes.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Durable batches of at least this many entries fsync while they apply.
const OVERLAP_SYNC_FROM: usize = 64;

const _: () = assert!(MARKER_KEY_LEN == std::mem::size_of::<u64>());
