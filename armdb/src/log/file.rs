//! One data file: positional reads and writes through the file-system seam.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::format::{FILE_HEADER_LEN, FileHeader, FileKind, TMP_SUFFIX, log_file_name};
use crate::fs::{FileSystem, FsFile, FsMap, OpenMode};
use crate::{Error, Result};

/// Where an entry lives: enough to read it back and to tell it apart from every
/// other entry of the database (shard, file and offset together are unique).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Loc {
    pub shard: u16,
    pub file: u32,
    pub offset: u32,
    /// Length of the whole entry on disk, padding included.
    pub len: u32,
}

impl Loc {
    pub(crate) fn end(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.len)
    }
}

/// An open data file of one shard.
#[derive(Debug)]
pub(crate) struct DataFile {
    pub id: u32,
    pub path: PathBuf,
    pub kind: FileKind,
    file: Arc<dyn FsFile>,
    /// Bytes handed to the OS; everything below this offset can be `pread`.
    written: AtomicU64,
    /// Bytes of entries no index points at any more (overwritten, deleted, tombstones).
    dead: AtomicU64,
    /// Lowest seq of an entry in the file (`u64::MAX` while it has none).
    min_seq: AtomicU64,
    /// Entries in the file and the bytes of their keys, where known (appended
    /// in this process, or scanned by recovery): what a hint would at least
    /// weigh, without reading the file.
    entries: AtomicU64,
    key_bytes: AtomicU64,
    /// A valid hint file describes this (sealed) file, or `Config::hints`
    /// decided against one: hint writing leaves the file alone.
    hinted: AtomicBool,
    /// The read-only memory map, made at the first mapped read; `None` inside
    /// when the file system has no maps or mapping failed.
    map: OnceLock<Option<Box<dyn FsMap>>>,
}

impl DataFile {
    /// Creates a new file (never an existing one: ids are not reused) and writes its header.
    pub(crate) fn create(fs: &dyn FileSystem, dir: &Path, header: FileHeader) -> Result<Arc<Self>> {
        Self::create_at(fs, dir.join(log_file_name(header.file_id)), header)
    }

    /// Creates a file under a temporary name, for compaction output: recovery
    /// deletes temporary files, and `publish` gives it its real name once whole.
    pub(crate) fn create_temp(fs: &dyn FileSystem, dir: &Path, header: FileHeader) -> Result<Arc<Self>> {
        Self::create_at(fs, dir.join(format!("{}{TMP_SUFFIX}", log_file_name(header.file_id))), header)
    }

    fn create_at(fs: &dyn FileSystem, path: PathBuf, header: FileHeader) -> Result<Arc<Self>> {
        let file =
            fs.open(&path, OpenMode::CreateNew).map_err(|e| Error::io("create data file", &path, e))?;
        if let Err(e) = file.write_all_at(&header.encode(), 0) {
            // Leave no file with a partial header behind: the next try reuses the id.
            // One that stays would become the last file of its shard at the next
            // open, and the file before it, still being appended to, a sealed
            // file: its error poisons (it is no full disk).
            if let Err(rm) = fs.remove_file(&path) {
                tracing::error!(path = %path.display(), error = %rm, "cannot remove a data file whose header failed");
                return Err(Error::io("remove a data file whose header failed", &path, rm));
            }
            return Err(Error::io("write data file header", &path, e));
        }
        Ok(Self::new(header.file_id, path, header.kind, file, FILE_HEADER_LEN as u64))
    }

    /// Renames a file made by `create_temp` to its real name (the caller fsyncs
    /// the directory afterwards). The open handle stays valid.
    pub(crate) fn publish(&self, fs: &dyn FileSystem, dir: &Path) -> Result<Arc<Self>> {
        let target = dir.join(log_file_name(self.id));
        fs.rename(&self.path, &target).map_err(|e| Error::io("rename compaction output to", &target, e))?;
        let file = Arc::clone(&self.file);
        let out = Self::new(self.id, target, self.kind, file, self.written());
        out.note_seq(self.min_seq());
        out.add_dead(self.dead());
        let (entries, key_bytes) = self.entry_tally();
        out.note_entries(entries, key_bytes);
        Ok(out)
    }

    /// Wraps a file recovery has validated up to `len` bytes.
    pub(crate) fn from_recovered(
        id: u32,
        path: PathBuf,
        kind: FileKind,
        file: Arc<dyn FsFile>,
        len: u64,
    ) -> Arc<Self> {
        Self::new(id, path, kind, file, len)
    }

    fn new(id: u32, path: PathBuf, kind: FileKind, file: Arc<dyn FsFile>, len: u64) -> Arc<Self> {
        Arc::new(Self {
            id,
            path,
            kind,
            file,
            written: AtomicU64::new(len),
            dead: AtomicU64::new(0),
            min_seq: AtomicU64::new(u64::MAX),
            entries: AtomicU64::new(0),
            key_bytes: AtomicU64::new(0),
            hinted: AtomicBool::new(false),
            map: OnceLock::new(),
        })
    }

    /// The open file, for scans.
    pub(crate) fn handle(&self) -> &dyn FsFile {
        &*self.file
    }

    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    pub(crate) fn dead(&self) -> u64 {
        self.dead.load(Ordering::Relaxed)
    }

    pub(crate) fn add_dead(&self, bytes: u64) {
        self.dead.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn hinted(&self) -> bool {
        self.hinted.load(Ordering::Relaxed)
    }

    pub(crate) fn set_hinted(&self) {
        self.hinted.store(true, Ordering::Relaxed);
    }

    pub(crate) fn min_seq(&self) -> u64 {
        self.min_seq.load(Ordering::Relaxed)
    }

    pub(crate) fn note_seq(&self, seq: u64) {
        self.min_seq.fetch_min(seq, Ordering::Relaxed);
    }

    /// Counts `entries` more entries with `key_bytes` bytes of keys.
    pub(crate) fn note_entries(&self, entries: u64, key_bytes: u64) {
        self.entries.fetch_add(entries, Ordering::Relaxed);
        self.key_bytes.fetch_add(key_bytes, Ordering::Relaxed);
    }

    /// The entries counted by `note_entries` and the bytes of their keys.
    pub(crate) fn entry_tally(&self) -> (u64, u64) {
        (self.entries.load(Ordering::Relaxed), self.key_bytes.load(Ordering::Relaxed))
    }

    /// Writes `bytes` at `offset`, which must be the current end, and publishes them to readers.
    pub(crate) fn append_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        debug_assert_eq!(offset, self.written());
        self.file.write_all_at(bytes, offset).map_err(|e| Error::io("write", &self.path, e))?;
        self.written.store(offset + bytes.len() as u64, Ordering::Release);
        Ok(())
    }

    /// Grows the file to `len` bytes of zeros past its written ones (sparse:
    /// no block is allocated until written). Appends then land inside the file.
    pub(crate) fn reserve(&self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| Error::io("reserve space in", &self.path, e))
    }

    /// Cuts the file back to `len` bytes (at most its written length), dropping
    /// what a failed or undone write left there. Nothing indexed lies beyond `len`.
    pub(crate) fn cut_to(&self, len: u64) -> Result<()> {
        // `written` first: no read through a map may reach bytes being cut.
        self.written.fetch_min(len, Ordering::AcqRel);
        self.file.set_len(len).map_err(|e| Error::io("cut back", &self.path, e))
    }

    /// The `len` bytes at `offset` through the file's memory map, if they are
    /// written and inside it. The first call maps the file's first
    /// `max(written, reserve)` bytes, so an active file is mapped once for the
    /// appends still to come.
    pub(crate) fn mapped(&self, offset: u64, len: usize, reserve: u64) -> Option<&[u8]> {
        let end = offset.checked_add(len as u64)?;
        if end > self.written() {
            return None;
        }
        let map = self.map.get_or_init(|| {
            let len = usize::try_from(self.written().max(reserve)).ok()?;
            self.file
                .map(len)
                .inspect_err(|e| {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot map a data file; reading it with pread");
                })
                .ok()
                .flatten()
        });
        map.as_ref()?.bytes().get(usize::try_from(offset).ok()?..usize::try_from(end).ok()?)
    }

    pub(crate) fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset).map_err(|e| Error::io("read", &self.path, e))?;
        Ok(buf)
    }

    /// `fdatasync(2)`.
    pub(crate) fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io("fsync", &self.path, e))
    }
}
