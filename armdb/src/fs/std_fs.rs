//! The operating system's file system.

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::{DirLockGuard, FileSystem, FsFile, FsMap, OpenMode};

/// `std::fs`: positional I/O through `FileExt`, `fdatasync`, `flock`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFs;

impl FsFile for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn len(&self) -> io::Result<u64> {
        self.metadata().map(|m| m.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }

    fn map(&self, len: usize) -> io::Result<Option<Box<dyn FsMap>>> {
        if len == 0 {
            return Ok(None);
        }
        // SAFETY: the map is read-only and armdb reads through it only bytes it has
        // already written to this file and not cut off since (`FsFile::map`); the
        // database directory is locked against other armdb processes. What the
        // map cannot guard against is another program truncating a data file, or
        // a disk error on a page being read: both raise SIGBUS instead of an
        // error, which is why `Config::mmap_reads` can turn maps off.
        #[allow(unsafe_code, reason = "memory-mapped reads of armdb's own append-only files")]
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(self)? };
        Ok(Some(Box::new(Map(map))))
    }
}

/// A read-only map of a data file.
#[derive(Debug)]
struct Map(memmap2::Mmap);

impl FsMap for Map {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Debug)]
struct Flock(#[allow(dead_code, reason = "held for its lock, released when dropped")] File);

impl DirLockGuard for Flock {}

impl FileSystem for StdFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut o = OpenOptions::new();
        match mode {
            OpenMode::Read => o.read(true),
            OpenMode::ReadWrite => o.read(true).write(true),
            OpenMode::CreateNew => o.read(true).write(true).create_new(true),
            OpenMode::CreateTruncate => o.write(true).create(true).truncate(true),
        };
        Ok(Arc::new(o.open(path)?))
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<bool> {
        if dir.is_dir() {
            return Ok(false);
        }
        std::fs::create_dir_all(dir).map(|()| true)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn DirLockGuard>>> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(Flock(file)))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}
