//! The file-system seam: every file operation armdb performs goes through
//! [`FileSystem`] and [`FsFile`].
//!
//! [`StdFs`], the operating system's file system, is the default
//! ([`Config::fs`](crate::Config::fs)). With the `sim` feature, [`SimFs`] keeps
//! files in memory, tells written bytes from durable ones, cuts power at any
//! fsync and injects I/O errors: the reliability suites run the engine on it
//! (`docs/testing.md`).
//!
//! The traits speak `std::io`: armdb attaches the operation and path to every
//! error it gets back.

use std::ffi::OsString;
use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::Arc;

#[cfg(feature = "sim")]
mod sim;
mod std_fs;

#[cfg(feature = "sim")]
pub use sim::{Fault, FaultError, Loss, OpKind, SimFs, SimStats};
pub use std_fs::StdFs;

/// How [`FileSystem::open`] opens a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Read an existing file.
    Read,
    /// Read and write an existing file.
    ReadWrite,
    /// Create a new file for reading and writing; fails if the path exists.
    CreateNew,
    /// Create the file, or truncate it to zero bytes if it exists; for writing.
    CreateTruncate,
}

/// An open file: positional reads and writes, `fsync`, length.
///
/// Implementations are shared between threads (`&self` everywhere), like a
/// `std::fs::File` used through `FileExt`.
pub trait FsFile: Send + Sync + Debug {
    /// Fills `buf` from `offset`; an `UnexpectedEof` error if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`, extending the file if needed.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `fdatasync(2)`: the file's bytes (and its length) are durable on return.
    fn sync_data(&self) -> io::Result<()>;
    /// The file's current length.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        self.len().map(|n| n == 0)
    }
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Maps the first `len` bytes of the file read-only (`len` may run past the
    /// end, so an active file can be mapped once for all its later appends), or
    /// `Ok(None)` where the file system has no memory maps. The default has none.
    ///
    /// armdb reads through a map only bytes that `write_all_at` has already
    /// written and that no `set_len` has cut since.
    fn map(&self, len: usize) -> io::Result<Option<Box<dyn FsMap>>> {
        let _ = len;
        Ok(None)
    }
}

/// A read-only memory map of a file, from its first byte.
pub trait FsMap: Send + Sync + Debug {
    /// The mapped bytes. Only the part below the file's length may be read.
    fn bytes(&self) -> &[u8];
}

/// A directory lock held until it is dropped.
pub trait DirLockGuard: Send + Sync + Debug {}

/// The file-system operations armdb uses, beside those of an open [`FsFile`].
pub trait FileSystem: Send + Sync + Debug {
    /// Opens `path` in `mode`.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>>;
    /// Creates `dir` and its missing parents; returns whether `dir` was created.
    fn create_dir_all(&self, dir: &Path) -> io::Result<bool>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// The names of the entries of `dir`.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// fsyncs a directory, so that creations, renames and removals in it are durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on the file `path` (creating it), or `Ok(None)`
    /// if someone else holds it.
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn DirLockGuard>>>;
}

/// The shared handle to a database's file system.
pub type Fs = Arc<dyn FileSystem>;

/// Whether an I/O error says the disk (or a quota) is full: such a failure
/// leaves nothing acknowledged behind, so armdb reports it without poisoning
/// the database, and writes resume once space returns.
pub(crate) fn is_no_space(e: &io::Error) -> bool {
    const EDQUOT: i32 = 122;
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(EDQUOT)
}
