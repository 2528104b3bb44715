//! The log set: every shard of a database, the global sequence number, the
//! background flusher and the value cache.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;

use super::file::Loc;
use super::format::{SHARD_HASH_SEED, decode_entry};
use super::health::Health;
use super::lock::DirLock;
use super::manifest::Manifest;
use super::shard::{Appender, Mapped, Shard};
use crate::config::Durability;
use crate::sync::lock;
use crate::{Error, Result};

type CacheKey = (u16, u32, u32);

#[derive(Clone, Debug)]
struct ByteWeight;

impl quick_cache::Weighter<CacheKey, Bytes> for ByteWeight {
    fn weight(&self, _key: &CacheKey, val: &Bytes) -> u64 {
        val.len() as u64 + 32
    }
}

type ValueCache = quick_cache::sync::Cache<CacheKey, Bytes, ByteWeight>;

#[derive(Debug)]
struct Flusher {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

/// Counters of the log set: value cache use and acknowledged durable writes.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Writes acknowledged after an fsync covered them (`Durability::Sync`).
    pub synced_writes: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct LogSet {
    pub dir: PathBuf,
    pub fs: crate::fs::Fs,
    manifest: Mutex<Manifest>,
    /// Replication's hook into compaction: tombstones with a seq above this are
    /// kept, because some follower has not acknowledged them yet. `u64::MAX`
    /// while no follower is registered.
    pub retention_floor: AtomicU64,
    /// One maintenance task at a time: a compaction pass or hint writing (so a
    /// hint is never written for a file compaction is deleting).
    pub maintenance: Mutex<()>,
    pub shards: Arc<[Shard]>,
    durability: Durability,
    next_seq: AtomicU64,
    pub health: Arc<Health>,
    cache: Option<ValueCache>,
    pub counters: Counters,
    flusher: Mutex<Option<Flusher>>,
    dir_lock: Mutex<Option<DirLock>>,
}

impl LogSet {
    pub(crate) fn new(
        dir: PathBuf,
        config: &crate::Config,
        shards: Vec<Shard>,
        next_seq: u64,
        dir_lock: DirLock,
        manifest: Manifest,
    ) -> Result<Arc<Self>> {
        let shards: Arc<[Shard]> = shards.into();
        let health = Arc::new(Health::default());
        let flusher = match config.durability {
            Durability::Buffered { flush_every } => Some(
                spawn_flusher(Arc::clone(&shards), Arc::clone(&health), flush_every)
                    .map_err(|e| Error::io("spawn the flusher thread for", &dir, e))?,
            ),
            Durability::Flush | Durability::Sync => None,
        };
        let cache = (config.value_cache_bytes > 0).then(|| {
            let items = (config.value_cache_bytes / 256).max(16);
            ValueCache::with_weighter(items, config.value_cache_bytes as u64, ByteWeight)
        });
        Ok(Arc::new(Self {
            dir,
            fs: Arc::clone(&config.fs),
            manifest: Mutex::new(manifest),
            retention_floor: AtomicU64::new(u64::MAX),
            maintenance: Mutex::new(()),
            shards,
            durability: config.durability,
            next_seq: AtomicU64::new(next_seq),
            health,
            cache,
            counters: Counters::default(),
            flusher: Mutex::new(flusher),
            dir_lock: Mutex::new(Some(dir_lock)),
        }))
    }

    /// The home shard of a key: `xxh3_64(key, seed = tree id) % shards`.
    pub(crate) fn shard_of(&self, tree: u32, key: &[u8]) -> usize {
        shard_of(tree, key, self.shards.len())
    }

    /// Runs `f` under the lock of `shard`; `f` appends entries and updates indexes.
    /// In `Sync` mode the call returns once what `f` appended is durable.
    pub(crate) fn write<T>(&self, shard: usize, f: impl FnOnce(&mut Appender<'_>) -> Result<T>) -> Result<T> {
        self.health.check()?;
        let s = &self.shards[shard];
        let mut a = Appender {
            shard: s,
            w: s.lock(),
            seq: &self.next_seq,
            health: &self.health,
            flush_each: !matches!(self.durability, Durability::Buffered { .. }),
            appended: None,
        };
        let out = f(&mut a)?;
        let appended = a.appended;
        drop(a);
        if let (Some(seq), Durability::Sync) = (appended, self.durability) {
            s.sync_through(seq, &self.health)?;
            self.counters.synced_writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(out)
    }

    /// Reads and verifies the value of the entry at `loc`, which must belong to
    /// `key` of `tree`: through the file's memory map when it has one, else from
    /// the value cache or with `pread`. `None` when the location's file was
    /// retired by compaction (look the key up again).
    pub(crate) fn read_value(&self, loc: Loc, tree: u32, key: &[u8]) -> Result<Option<Bytes>> {
        let shard = &self.shards[loc.shard as usize];
        match shard.read_mapped(loc, |bytes| {
            self.check_entry(loc, tree, key, bytes).map(|r| Bytes::copy_from_slice(&bytes[r]))
        }) {
            Mapped::Read(value) => return value.map(Some),
            Mapped::Retired => return Ok(None),
            Mapped::Unmapped => {}
        }
        let ck = (loc.shard, loc.file, loc.offset);
        if let Some(v) = self.cache.as_ref().and_then(|c| c.get(&ck)) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(v));
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let Some(bytes) = shard.read_entry(loc)? else {
            return Ok(None);
        };
        let value = self.verify_value(loc, tree, key, bytes)?;
        if let Some(c) = &self.cache {
            c.insert(ck, value.clone());
        }
        Ok(Some(value))
    }

    /// Starts loading the entry at `loc` into the CPU's cache (see [`Shard::prefetch`]).
    pub(crate) fn prefetch(&self, loc: Loc) {
        self.shards[loc.shard as usize].prefetch(loc);
    }

    /// Checks an entry read from `loc` and returns its value.
    pub(crate) fn verify_value(&self, loc: Loc, tree: u32, key: &[u8], bytes: Vec<u8>) -> Result<Bytes> {
        let range = self.check_entry(loc, tree, key, &bytes)?;
        Ok(Bytes::from(bytes).slice(range))
    }

    /// Checks the CRCs, tree and key of the entry `bytes` read from `loc`, and
    /// returns where its value lies in `bytes`.
    fn check_entry(&self, loc: Loc, tree: u32, key: &[u8], bytes: &[u8]) -> Result<Range<usize>> {
        let path = || self.shards[loc.shard as usize].dir.join(super::format::log_file_name(loc.file));
        let entry =
            decode_entry(bytes).map_err(|e| Error::corrupt(path(), u64::from(loc.offset), e.kind()))?;
        if entry.header.tree != tree || entry.key != key || entry.value.is_none() {
            return Err(Error::invalid(
                path(),
                u64::from(loc.offset),
                format!("entry belongs to tree {} and another key than the index expects", entry.header.tree),
            ));
        }
        let start = entry.value.map_or(0, |v| v.as_ptr() as usize - bytes.as_ptr() as usize);
        Ok(start..start + entry.header.value_len as usize)
    }

    /// Locks every shard, in shard order (the one order in which several shard
    /// locks may be held).
    pub(crate) fn lock_all(&self) -> Vec<std::sync::MutexGuard<'_, super::shard::Writer>> {
        self.shards.iter().map(Shard::lock).collect()
    }

    /// Counts the entry at `loc` as garbage for compaction.
    pub(crate) fn mark_dead(&self, loc: Loc) {
        if let Some(f) = self.shards[loc.shard as usize].files().get(&loc.file) {
            f.add_dead(u64::from(loc.len));
        }
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.health.check()?;
        for s in self.shards.iter() {
            s.flush(&self.health)?;
        }
        Ok(())
    }

    /// Makes every write so far durable in every shard and records that in the
    /// manifest: every batch up to the recorded seq is then whole, so later
    /// recovery and compaction may treat its entries as plain entries.
    pub(crate) fn advance_durable_seq(&self) -> Result<()> {
        let upto = self.next_seq().saturating_sub(1);
        self.sync()?;
        let mut m = lock(&self.manifest);
        if upto > m.durable_seq {
            let mut next = m.clone();
            next.durable_seq = upto;
            next.store(&*self.fs, &self.dir).inspect_err(|e| self.health.write_failed(e))?;
            *m = next;
        }
        Ok(())
    }

    /// Records in the MANIFEST the data files about to be deleted (empty:
    /// the deletion finished). Once listed they are dead for good.
    pub(crate) fn set_retiring(&self, files: Vec<(u16, u32)>) -> Result<()> {
        let mut m = lock(&self.manifest);
        let mut next = m.clone();
        next.retiring = files;
        next.store(&*self.fs, &self.dir).inspect_err(|e| self.health.write_failed(e))?;
        *m = next;
        Ok(())
    }

    pub(crate) fn sync(&self) -> Result<()> {
        self.health.check()?;
        for s in self.shards.iter() {
            s.sync_through(u64::MAX, &self.health)?;
        }
        Ok(())
    }

    /// Flushes and fsyncs everything, stops background work and releases the
    /// directory lock. Later writes through surviving handles fail with `Error::Closed`.
    pub(crate) fn close(&self) -> Result<()> {
        // No compaction or hint writing outlives the directory lock.
        let _maintenance = lock(&self.maintenance);
        self.stop_flusher();
        let was_healthy = self.health.check();
        {
            // With every shard locked no write is half way: mark the database
            // closed, so every later write fails, and flush what was acknowledged.
            let mut all = self.lock_all();
            self.health.close();
            if was_healthy.is_ok() {
                for w in &mut all {
                    if let Err(e) = w.flush() {
                        if !e.is_no_space() {
                            self.health.poison(&e);
                            return Err(e);
                        }
                        // A full disk: the acknowledged writes stay buffered and
                        // the log stays open; the flusher (and the last handle's
                        // drop) write them once space returns.
                        self.health.reopen();
                        drop(all);
                        self.restart_flusher();
                        return Err(e);
                    }
                }
            }
        }
        let synced = match was_healthy {
            Ok(()) => self.shards.iter().try_for_each(|s| s.sync_for_close(&self.health)),
            Err(e) => Err(e),
        };
        lock(&self.dir_lock).take();
        synced
    }

    fn restart_flusher(&self) {
        let Durability::Buffered { flush_every } = self.durability else { return };
        match spawn_flusher(Arc::clone(&self.shards), Arc::clone(&self.health), flush_every) {
            Ok(f) => *lock(&self.flusher) = Some(f),
            Err(e) => tracing::error!(error = %e, "cannot restart the background flusher"),
        }
    }

    fn stop_flusher(&self) {
        if let Some(f) = lock(&self.flusher).take() {
            drop(f.stop);
            if f.thread.join().is_err() {
                tracing::error!("the background flusher panicked");
            }
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed)
    }

    pub(crate) fn next_seq_counter(&self) -> &AtomicU64 {
        &self.next_seq
    }

    pub(crate) fn durability(&self) -> Durability {
        self.durability
    }
}

impl Drop for LogSet {
    fn drop(&mut self) {
        self.stop_flusher();
        if self.health.check().is_ok() {
            if let Err(e) = self.flush() {
                tracing::error!(error = %e, "flush on drop failed");
                return;
            }
            self.shards.iter().for_each(Shard::trim_reserved);
        }
    }
}

pub(crate) fn shard_of(tree: u32, key: &[u8], shards: usize) -> usize {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(key, SHARD_HASH_SEED ^ u64::from(tree));
    (h % shards as u64) as usize
}

fn spawn_flusher(shards: Arc<[Shard]>, health: Arc<Health>, every: Duration) -> std::io::Result<Flusher> {
    let (stop, rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new().name("armdb-flusher".into()).spawn(move || {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                if health.check().is_err() {
                    continue;
                }
                for s in shards.iter() {
                    if let Err(e) = s.flush(&health) {
                        tracing::error!(shard = s.id, error = %e, "background flush failed");
                    }
                }
            }
        }));
        if run.is_err() {
            // Buffers would no longer reach the OS: refuse further writes.
            health.poison(&Error::InvalidArgument("the background flusher panicked".into()));
        }
    });
    thread.map(|thread| Flusher { stop, thread })
}
