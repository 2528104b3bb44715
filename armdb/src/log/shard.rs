//! One shard: its files, its write buffer, and group commit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use super::file::{DataFile, Loc};
use super::format::{FILE_HEADER_LEN, FileHeader, FileKind, MAX_SEQ, encode_entry, entry_len};
use super::fsio::sync_dir;
use super::health::Health;
use crate::fs::Fs;
use crate::limits::MAX_VALUE_LEN;
use crate::sync::lock;
use crate::{Error, Result};

/// The files of a shard by id. Replaced as a whole (copy on write) so readers
/// never lock.
pub(crate) type FileTable = BTreeMap<u32, Arc<DataFile>>;

/// State that only the holder of the shard lock touches.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) active: Arc<DataFile>,
    /// Encoded entries not yet written to `active`; `buf[0]` belongs at `buf_start`.
    buf: Vec<u8>,
    buf_start: u64,
    next_file_id: u32,
    /// Highest seq appended to this shard.
    last_seq: u64,
    /// The length the active file was last given: at least `buf_start`.
    /// Beyond the written bytes it is a sparse run of zeros that recovery
    /// reads as the end of the log.
    reserved: u64,
    /// `Config::preallocate`: how far ahead of its appends the active file is grown.
    preallocate: u64,
    /// `Config::max_file_size`: no reservation goes past it.
    max_file_size: u64,
}

impl Writer {
    fn end(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    /// Grows the active file ahead of the appends up to `end`, so that an
    /// append then changes no file size and its `fdatasync` commits a size
    /// change only once per reservation (a block allocation still needs one
    /// about once per 4 KiB block). docs/benchmarks.md has the figures.
    fn reserve(&mut self, end: u64) -> Result<()> {
        if self.preallocate == 0 || end <= self.reserved {
            return Ok(());
        }
        let target = end.saturating_add(self.preallocate).min(self.max_file_size.max(end));
        self.active.reserve(target)?;
        self.reserved = target;
        Ok(())
    }

    /// Gives the active file back its written length: sealing and closing
    /// leave no reserved zeros behind.
    fn trim(&mut self) -> Result<()> {
        if self.reserved > self.buf_start {
            self.cut_to(self.buf_start)?;
        }
        Ok(())
    }

    /// Cuts the active file back to `len` bytes (see [`DataFile::cut_to`]).
    /// A failed cut leaves `reserved` where it was, so the next trim cuts again.
    fn cut_to(&mut self, len: u64) -> Result<()> {
        self.active.cut_to(len)?;
        self.reserved = len;
        Ok(())
    }

    /// Writes the buffer to the active file. A failed write may leave part of
    /// the buffer past the file's end, where a later, shorter write would not
    /// cover it (a torn entry in the middle of the log, or whole entries of a
    /// refused write): it is cut off before the error returns. If even that
    /// fails, the error returned is the cut's, which poisons.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.reserve(self.end())?;
        if let Err(e) = self.active.append_at(self.buf_start, &self.buf) {
            self.cut_to(self.buf_start)?;
            return Err(e);
        }
        self.buf_start += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Undoes every append since the end offset was `start` (no index points
    /// there): drops buffered bytes, and cuts the file if they reached it.
    pub(crate) fn undo_to(&mut self, start: u64) -> Result<()> {
        if start >= self.buf_start {
            self.buf.truncate((start - self.buf_start) as usize);
            return Ok(());
        }
        self.buf.clear();
        self.cut_to(start)?;
        self.buf_start = start;
        Ok(())
    }

    pub(crate) fn end_offset(&self) -> u64 {
        self.end()
    }
}

/// Counters of one shard.
#[derive(Debug, Default)]
pub(crate) struct ShardCounters {
    pub writes: AtomicU64,
    pub fsyncs: AtomicU64,
    pub bytes_appended: AtomicU64,
}

/// What one fsync of a shard covers: its active file and the last seq appended.
#[derive(Debug)]
pub(crate) struct SyncJob {
    active: Arc<DataFile>,
    upto: u64,
}

/// What [`Shard::read_mapped`] found.
pub(crate) enum Mapped<T> {
    /// The entry was read through the map.
    Read(T),
    /// Compaction retired the file: look the key up again.
    Retired,
    /// Maps are off, the file system has none, or the bytes are not written
    /// yet (still in the write buffer) or lie past the map: read them another way.
    Unmapped,
}

#[derive(Debug)]
pub(crate) struct Shard {
    pub id: u16,
    pub dir: PathBuf,
    pub fs: Fs,
    db_id: u64,
    max_file_size: u64,
    write_buffer_size: usize,
    /// `Config::mmap_reads`: read entries of written bytes through memory maps.
    mmap_reads: bool,
    writer: Mutex<Writer>,
    files: ArcSwap<FileTable>,
    /// Serialises fsyncs; writers queued here share the next one (group commit).
    sync_lock: Mutex<()>,
    /// A file was created since the directory was last fsynced. Set by
    /// rotation; taken only under `sync_lock`, by the fsync that then fsyncs
    /// the directory before it advances `synced_seq`.
    dir_dirty: AtomicBool,
    synced_seq: AtomicU64,
    pub counters: ShardCounters,
}

/// How a shard is reopened, as recovery left it.
#[derive(Debug)]
pub(crate) struct ShardState {
    pub files: FileTable,
    pub active: Arc<DataFile>,
    pub next_file_id: u32,
    pub last_seq: u64,
    /// Bytes of live entries per file, as recovery resolved them.
    pub live_bytes: std::collections::HashMap<u32, u64>,
}

impl Shard {
    pub(crate) fn new(id: u16, dir: PathBuf, db_id: u64, config: &crate::Config, state: ShardState) -> Self {
        let buf_start = state.active.written();
        for (id, f) in &state.files {
            let used = f.written().saturating_sub(FILE_HEADER_LEN as u64);
            f.add_dead(used.saturating_sub(state.live_bytes.get(id).copied().unwrap_or(0)));
        }
        Self {
            id,
            dir,
            fs: std::sync::Arc::clone(&config.fs),
            db_id,
            max_file_size: config.max_file_size,
            write_buffer_size: config.write_buffer_size,
            mmap_reads: config.mmap_reads,
            writer: Mutex::new(Writer {
                active: state.active,
                buf: Vec::with_capacity(config.write_buffer_size.min(1 << 20)),
                buf_start,
                next_file_id: state.next_file_id,
                last_seq: state.last_seq,
                // Recovery cut the last file back to its last entry.
                reserved: buf_start,
                preallocate: config.preallocate,
                max_file_size: config.max_file_size,
            }),
            files: ArcSwap::from_pointee(state.files),
            sync_lock: Mutex::new(()),
            dir_dirty: AtomicBool::new(false),
            synced_seq: AtomicU64::new(state.last_seq),
            counters: ShardCounters::default(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Writer> {
        lock(&self.writer)
    }

    pub(crate) fn files(&self) -> arc_swap::Guard<Arc<FileTable>> {
        self.files.load()
    }

    /// Seals the active file if it holds any entry, so that compaction may
    /// rewrite it (`Db::compact`).
    pub(crate) fn seal_active(&self, health: &Health) -> Result<()> {
        let mut w = self.lock();
        if w.end() > FILE_HEADER_LEN as u64 {
            self.rotate(&mut w, health)?;
        }
        Ok(())
    }

    /// Reserves a file id for a compaction output.
    pub(crate) fn allocate_file_id(&self) -> Result<u32> {
        let mut w = self.lock();
        let id = w.next_file_id;
        w.next_file_id = id
            .checked_add(1)
            .ok_or_else(|| Error::InvalidArgument(format!("shard {} has used every file id", self.id)))?;
        Ok(id)
    }

    /// Makes `files` readable through the file table.
    pub(crate) fn publish_files(&self, files: &[Arc<DataFile>]) {
        self.files.rcu(|t| {
            let mut t = FileTable::clone(t);
            for f in files {
                t.insert(f.id, Arc::clone(f));
            }
            t
        });
    }

    /// Removes `ids` from the file table. Readers that still hold one of them
    /// keep reading it; readers that look it up afterwards find it gone and
    /// follow their index again.
    pub(crate) fn retire_files(&self, ids: &[u32]) {
        self.files.rcu(|t| {
            let mut t = FileTable::clone(t);
            for id in ids {
                t.remove(id);
            }
            t
        });
    }

    /// Writes the buffer to the OS. On a full disk the buffer is kept for the next try.
    pub(crate) fn flush(&self, health: &Health) -> Result<()> {
        let mut w = self.lock();
        w.flush().inspect_err(|e| health.write_failed(e))
    }

    /// Returns once every entry up to `seq` of this shard is durable. Writers that
    /// arrive while an fsync runs wait for it and then share the next one.
    pub(crate) fn sync_through(&self, seq: u64, health: &Health) -> Result<()> {
        self.group_commit(seq, health, || self.sync_now(health))
    }

    /// The group-commit protocol: returns at once if `seq` is durable already,
    /// else waits for `sync_lock` and runs `fsync` unless the fsync it waited
    /// for covered `seq`.
    fn group_commit(&self, seq: u64, health: &Health, fsync: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.synced_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _leader = lock(&self.sync_lock);
        if self.synced_seq.load(Ordering::Acquire) >= seq {
            return health.check();
        }
        health.check()?;
        fsync()
    }

    /// Flushes and fsyncs the active file (and the directory if a file was
    /// created), whatever the health; the caller holds `sync_lock` or has
    /// stopped every writer. Sealed files were fsynced when they were sealed.
    fn sync_now(&self, health: &Health) -> Result<()> {
        let job = self.sync_job(&mut self.lock(), health)?;
        self.run_job(job, health)
    }

    /// Flushes the buffer and takes what the next fsync must cover, under the
    /// shard lock the caller holds; [`sync_job_through`](Self::sync_job_through)
    /// then runs it without that lock, so a batch can apply its index changes
    /// while its fsync is under way.
    pub(crate) fn sync_job(&self, w: &mut Writer, health: &Health) -> Result<SyncJob> {
        w.flush().inspect_err(|e| health.write_failed(e))?;
        Ok(SyncJob { active: Arc::clone(&w.active), upto: w.last_seq })
    }

    /// `sync_through(seq)` with a job taken by [`sync_job`](Self::sync_job)
    /// after `seq` was appended.
    pub(crate) fn sync_job_through(&self, job: SyncJob, seq: u64, health: &Health) -> Result<()> {
        self.group_commit(seq, health, || self.run_job(job, health))
    }

    /// Fsyncs the job's file, then the directory if a file was created since
    /// its last fsync, then records what is durable. The caller holds `sync_lock`
    /// (or has stopped every writer).
    fn run_job(&self, job: SyncJob, health: &Health) -> Result<()> {
        job.active.sync().inspect_err(|e| health.poison(e))?;
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        // Taken after the file's fsync: a file created before this point is
        // covered by the directory fsync below, one created after sets the
        // flag again for the next fsync.
        if self.dir_dirty.swap(false, Ordering::AcqRel) {
            sync_dir(&*self.fs, &self.dir).inspect_err(|e| {
                self.dir_dirty.store(true, Ordering::Release);
                health.poison(e);
            })?;
        }
        self.synced_seq.fetch_max(job.upto, Ordering::AcqRel);
        Ok(())
    }

    /// The last step of `close`: syncs under `sync_lock` without a health check
    /// (the database is already marked closed).
    pub(crate) fn sync_for_close(&self, health: &Health) -> Result<()> {
        let _leader = lock(&self.sync_lock);
        self.lock().flush().inspect_err(|e| health.write_failed(e))?;
        self.trim_reserved();
        self.sync_now(health)
    }

    /// Cuts the active file back to its last entry, for a close or a drop, so
    /// that the next open finds no reserved zeros to truncate. Best effort:
    /// zeros left at the end of the last file are only tidied by that open.
    pub(crate) fn trim_reserved(&self) {
        if let Err(e) = self.lock().trim() {
            tracing::warn!(shard = self.id, error = %e, "cannot give the active file back its space");
        }
    }

    /// The sealed files, read together with the active id under the shard
    /// lock (rotation changes both under it), so the active file is never among them.
    pub(crate) fn sealed_files(&self) -> Vec<Arc<DataFile>> {
        let w = self.lock();
        self.files.load().values().filter(|f| f.id != w.active.id).cloned().collect()
    }

    /// Reads a whole entry, from the file or, if it is still buffered, from the buffer.
    ///
    /// `None` when compaction has retired the file since the location was read
    /// from an index: the caller looks the key up again.
    pub(crate) fn read_entry(&self, loc: Loc) -> Result<Option<Vec<u8>>> {
        let Some(file) = self.files.load().get(&loc.file).cloned() else {
            return Ok(None);
        };
        if loc.end() <= file.written() {
            return file.read_at(u64::from(loc.offset), loc.len as usize).map(Some);
        }
        let w = self.lock();
        if let Some(bytes) = buffered(&w, loc) {
            return Ok(Some(bytes.to_vec()));
        }
        drop(w);
        file.read_at(u64::from(loc.offset), loc.len as usize).map(Some)
    }

    /// Runs `f` on the bytes of the entry at `loc` read through its file's
    /// memory map, without copying them and without any lock.
    pub(crate) fn read_mapped<T>(&self, loc: Loc, f: impl FnOnce(&[u8]) -> T) -> Mapped<T> {
        if !self.mmap_reads {
            return Mapped::Unmapped;
        }
        let files = self.files.load();
        let Some(file) = files.get(&loc.file) else {
            return Mapped::Retired;
        };
        match file.mapped(u64::from(loc.offset), loc.len as usize, self.max_file_size) {
            Some(bytes) => Mapped::Read(f(bytes)),
            None => Mapped::Unmapped,
        }
    }

    /// Asks the CPU to start loading the entry at `loc` through its file's
    /// memory map, so that reading it a little later does not wait for memory.
    /// Does nothing when the entry is not mapped.
    pub(crate) fn prefetch(&self, loc: Loc) {
        if !self.mmap_reads {
            return;
        }
        let files = self.files.load();
        if let Some(bytes) = files
            .get(&loc.file)
            .and_then(|f| f.mapped(u64::from(loc.offset), loc.len as usize, self.max_file_size))
        {
            crate::sync::prefetch(bytes);
        }
    }

    fn file(&self, loc: Loc) -> Result<Arc<DataFile>> {
        self.files.load().get(&loc.file).cloned().ok_or_else(|| {
            Error::invalid(
                self.dir.clone(),
                u64::from(loc.offset),
                format!("location names data file {} which does not exist", loc.file),
            )
        })
    }

    /// Seals the active file and starts the next one. The sealed file is fsynced
    /// before the next file exists, so a torn tail can only ever be in the last
    /// file of a shard, whatever the durability mode. A full disk leaves the
    /// active file as it was; any other failure poisons.
    fn rotate(&self, w: &mut Writer, health: &Health) -> Result<()> {
        let _span = tracing::debug_span!("rotate", shard = self.id, sealed = w.active.id).entered();
        w.flush().inspect_err(|e| health.write_failed(e))?;
        // A sealed file ends at its last entry: only the last file of a shard
        // may end in reserved zeros. The fsync below makes the new length durable
        // before the next file exists.
        w.trim().inspect_err(|e| health.write_failed(e))?;
        w.active.sync().inspect_err(|e| health.poison(e))?;
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        let id = w.next_file_id;
        let next_id = id
            .checked_add(1)
            .ok_or_else(|| Error::InvalidArgument(format!("shard {} has used every file id", self.id)))?;
        let file = DataFile::create(
            &*self.fs,
            &self.dir,
            FileHeader { shard: self.id, kind: FileKind::Log, file_id: id, db_id: self.db_id },
        )
        .inspect_err(|e| health.write_failed(e))?;
        w.next_file_id = next_id;
        w.active = Arc::clone(&file);
        w.buf_start = FILE_HEADER_LEN as u64;
        w.reserved = FILE_HEADER_LEN as u64;
        self.dir_dirty.store(true, Ordering::Release);
        self.files.rcu(|t| {
            let mut t = FileTable::clone(t);
            t.insert(id, Arc::clone(&file));
            t
        });
        tracing::debug!(shard = self.id, file = id, "rotated to a new data file");
        Ok(())
    }
}

fn buffered(w: &Writer, loc: Loc) -> Option<&[u8]> {
    let start = u64::from(loc.offset).checked_sub(w.buf_start)? as usize;
    (w.active.id == loc.file && start + loc.len as usize <= w.buf.len())
        .then(|| &w.buf[start..start + loc.len as usize])
}

/// Appends entries while the shard lock is held.
pub(crate) struct Appender<'a> {
    pub(crate) shard: &'a Shard,
    pub(crate) w: MutexGuard<'a, Writer>,
    pub(crate) seq: &'a AtomicU64,
    pub(crate) health: &'a Health,
    /// Write each entry to the OS before `append` returns.
    pub(crate) flush_each: bool,
    /// Highest seq appended through this appender.
    pub(crate) appended: Option<u64>,
}

/// Refuses a value over the limit before anything is written.
pub(crate) fn check_value_len(value: Option<&[u8]>) -> Result<()> {
    let len = value.map_or(0, <[u8]>::len);
    if len > MAX_VALUE_LEN {
        return Err(Error::InvalidArgument(format!(
            "value of {len} bytes exceeds the {MAX_VALUE_LEN}-byte limit"
        )));
    }
    Ok(())
}

/// Takes the next seq.
pub(crate) fn next_seq(seq: &AtomicU64) -> Result<u64> {
    // Never past MAX_SEQ, however often an exhausted counter is asked.
    seq.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| (s <= MAX_SEQ).then_some(s + 1))
        .map_err(|_| Error::InvalidArgument("sequence numbers are exhausted".into()))
}

impl Shard {
    /// Rotates unless `bytes` more fit in the active file (or it holds no entry yet),
    /// so that what follows lands in one file.
    pub(crate) fn make_room(&self, w: &mut Writer, bytes: u64, health: &Health) -> Result<()> {
        if w.end() + bytes > self.max_file_size && w.end() > FILE_HEADER_LEN as u64 {
            self.rotate(w, health)?;
        }
        Ok(())
    }

    /// Encodes one entry into the buffer (no I/O) and returns its location.
    pub(crate) fn encode(
        &self,
        w: &mut Writer,
        seq: u64,
        tree: u32,
        flags: u16,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Loc {
        let offset = w.end();
        let start = w.buf.len();
        encode_entry(&mut w.buf, seq, tree, flags, key, value);
        w.active.note_seq(seq);
        w.active.note_entries(1, key.len() as u64);
        let len = w.buf.len() - start;
        w.last_seq = w.last_seq.max(seq);
        let c = &self.counters;
        c.writes.fetch_add(1, Ordering::Relaxed);
        c.bytes_appended.fetch_add(len as u64, Ordering::Relaxed);
        Loc { shard: self.id, file: w.active.id, offset: offset as u32, len: len as u32 }
    }

    /// Writes the buffer when `force` or when it is full. On failure the bytes
    /// from `rollback` on are dropped from the buffer, and the database is
    /// poisoned unless the disk was full (the earlier bytes wait for the next try).
    pub(crate) fn flush_after(
        &self,
        w: &mut Writer,
        force: bool,
        rollback: usize,
        health: &Health,
    ) -> Result<()> {
        if (force || w.buf.len() >= self.write_buffer_size)
            && let Err(e) = w.flush()
        {
            w.buf.truncate(rollback);
            health.write_failed(&e);
            return Err(e);
        }
        Ok(())
    }
}

impl Writer {
    pub(crate) fn buffered_len(&self) -> usize {
        self.buf.len()
    }
}

impl Appender<'_> {
    /// Appends one entry (a tombstone when `value` is `None`) and returns where it is.
    pub(crate) fn append(&mut self, tree: u32, key: &[u8], value: Option<&[u8]>) -> Result<(u64, Loc)> {
        self.health.check()?;
        check_value_len(value)?;
        let len = entry_len(key.len(), value.map_or(0, <[u8]>::len));
        let w = &mut *self.w;
        self.shard.make_room(w, len as u64, self.health)?;
        let seq = next_seq(self.seq)?;
        let before = w.buf.len();
        let loc = self.shard.encode(w, seq, tree, 0, key, value);
        self.shard.flush_after(w, self.flush_each, before, self.health)?;
        self.appended = Some(seq);
        Ok((seq, loc))
    }

    /// Reads an entry of this shard without taking the lock again.
    pub(crate) fn read_entry(&self, loc: Loc) -> Result<Vec<u8>> {
        if let Some(bytes) = buffered(&self.w, loc) {
            return Ok(bytes.to_vec());
        }
        self.shard.file(loc)?.read_at(u64::from(loc.offset), loc.len as usize)
    }
}
