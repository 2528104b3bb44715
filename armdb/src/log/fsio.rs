//! Small file-system helpers that attach the path and operation to every error.

use std::path::Path;

use crate::fs::{FileSystem, OpenMode};
use crate::{Error, Result};

/// fsyncs a directory so that file creations and renames in it are durable.
pub(crate) fn sync_dir(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    fs.sync_dir(dir).map_err(|e| Error::io("fsync directory", dir, e))
}

/// Replaces `dir/name` with `bytes` atomically: write a temporary file, fsync it,
/// rename it over the target, fsync the directory.
pub(crate) fn write_atomic(fs: &dyn FileSystem, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    write_atomic_no_dir_sync(fs, dir, name, bytes)?;
    sync_dir(fs, dir)
}

/// `write_atomic` without the directory fsync, for derived files whose loss is
/// harmless (hints): the rename may not survive a power cut.
pub(crate) fn write_atomic_no_dir_sync(
    fs: &dyn FileSystem,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<()> {
    let tmp = dir.join(format!("{name}{}", super::format::TMP_SUFFIX));
    let target = dir.join(name);
    let f = fs.open(&tmp, OpenMode::CreateTruncate).map_err(|e| Error::io("create", &tmp, e))?;
    let written = f
        .write_all_at(bytes, 0)
        .map_err(|e| Error::io("write", &tmp, e))
        .and_then(|()| f.sync_data().map_err(|e| Error::io("fsync", &tmp, e)));
    drop(f);
    let renamed = written
        .and_then(|()| fs.rename(&tmp, &target).map_err(|e| Error::io("rename into place", &target, e)));
    if renamed.is_err() {
        // Recovery would delete it too; a full disk wants the space back now.
        let _ = remove_if_exists(fs, &tmp, "remove temporary file");
    }
    renamed
}

/// Reads a whole file, refusing one longer than `limit` before reading it;
/// `None` if it does not exist.
pub(crate) fn read_small(fs: &dyn FileSystem, path: &Path, limit: usize) -> Result<Option<Vec<u8>>> {
    let f = match fs.open(path, OpenMode::Read) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let len = f.len().map_err(|e| Error::io("stat", path, e))?;
    if len > limit as u64 {
        return Err(Error::invalid(
            path,
            0,
            format!("file is {len} bytes, more than the {limit}-byte limit"),
        ));
    }
    let mut bytes = vec![0u8; len as usize];
    f.read_exact_at(&mut bytes, 0).map_err(|e| Error::io("read", path, e))?;
    Ok(Some(bytes))
}

/// Removes a file; one that is already gone is fine. `what` names the file in errors.
pub(crate) fn remove_if_exists(fs: &dyn FileSystem, path: &Path, what: &'static str) -> Result<bool> {
    match fs.remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(what, path, e)),
    }
}
