//! Small file-system helpers that attach the path and operation to every error.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// fsyncs a directory so that file creations and renames in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("fsync directory", dir, e))
}

/// Replaces `dir/name` with `bytes` atomically: write a temporary file, fsync it,
/// rename it over the target, fsync the directory.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    write_atomic_no_dir_sync(dir, name, bytes)?;
    sync_dir(dir)
}

/// `write_atomic` without the directory fsync, for derived files whose loss is
/// harmless (hints): the rename may not survive a power cut.
pub(crate) fn write_atomic_no_dir_sync(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}{}", super::format::TMP_SUFFIX));
    let target = dir.join(name);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, &target).map_err(|e| Error::io("rename into place", &target, e))
}

/// Reads a whole small file, refusing one longer than `limit` before reading it.
pub(crate) fn read_small(path: &Path, limit: usize) -> Result<Option<Vec<u8>>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let len = f.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    if len > limit as u64 {
        return Err(Error::invalid(
            path,
            0,
            format!("file is {len} bytes, more than the {limit}-byte limit"),
        ));
    }
    std::fs::read(path).map(Some).map_err(|e| Error::io("read", path, e))
}
