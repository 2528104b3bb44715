//! The directory lock: one open `Db` per directory, across processes.

use std::path::Path;

use super::format::LOCK_FILE;
use crate::fs::{DirLockGuard, FileSystem};
use crate::{Error, Result};

/// Holds an exclusive lock (`flock` on the OS) on `dir/LOCK` until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _guard: Box<dyn DirLockGuard>,
}

impl DirLock {
    pub(crate) fn acquire(fs: &dyn FileSystem, dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        match fs.try_lock(&path) {
            Ok(Some(guard)) => Ok(Self { _guard: guard }),
            Ok(None) => Err(Error::Locked { path }),
            Err(e) => Err(Error::io("lock", &path, e)),
        }
    }
}
