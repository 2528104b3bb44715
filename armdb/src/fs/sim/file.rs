//! Open files and the directory lock of a [`SimFs`](super::SimFs).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Inode, OpKind, State, lock, not_found};
use crate::fs::{DirLockGuard, FsFile};

/// An open file of a [`SimFs`].
#[derive(Debug)]
pub(super) struct SimFile {
    pub(super) state: Arc<Mutex<State>>,
    pub(super) path: PathBuf,
    pub(super) ino: u64,
    pub(super) generation: u64,
}

impl SimFile {
    /// Locks the state if the handle is still alive and the power on.
    fn live(&self) -> io::Result<MutexGuard<'_, State>> {
        let s = lock(&self.state);
        s.check_power()?;
        if s.generation != self.generation {
            return Err(io::Error::other("file handle from before a power cut"));
        }
        Ok(s)
    }
}

pub(super) fn inode<'a>(s: &'a mut State, ino: u64, path: &Path) -> io::Result<&'a mut Inode> {
    s.inodes.get_mut(&ino).ok_or_else(|| not_found(path))
}

impl FsFile for SimFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut s = self.live()?;
        s.stats.reads += 1;
        s.fault(OpKind::Read, &self.path)?;
        if inode(&mut s, self.ino, &self.path)?.data.read(buf, offset) {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the file"))
        }
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut s = self.live()?;
        s.stats.writes += 1;
        let fault = s.fault(OpKind::Write, &self.path);
        let written = if fault.is_err() { &buf[..buf.len() / 2] } else { buf };
        inode(&mut s, self.ino, &self.path)?.data.write(written, offset);
        fault
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut s = self.live()?;
        s.stats.syncs += 1;
        s.sync_point()?;
        if let Err(e) = s.fault(OpKind::Sync, &self.path) {
            // The kernel may drop the dirty pages of a failed writeback.
            let i = inode(&mut s, self.ino, &self.path)?;
            i.data = i.durable.clone();
            return Err(e);
        }
        let i = inode(&mut s, self.ino, &self.path)?;
        i.durable = i.data.clone();
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let mut s = self.live()?;
        Ok(inode(&mut s, self.ino, &self.path)?.data.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.live()?;
        let grows = len > inode(&mut s, self.ino, &self.path)?.data.len();
        if grows {
            // Only growing a file can run out of space: only that counts as a
            // write, so every counted write is one a fault can hit.
            s.stats.writes += 1;
            s.fault(OpKind::Write, &self.path)?;
        }
        inode(&mut s, self.ino, &self.path)?.data.set_len(len);
        Ok(())
    }
}

#[derive(Debug)]
pub(super) struct SimLock {
    pub(super) state: Arc<Mutex<State>>,
    pub(super) path: PathBuf,
    pub(super) generation: u64,
}

impl DirLockGuard for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut s = lock(&self.state);
        if s.generation == self.generation {
            s.locks.remove(&self.path);
        }
    }
}
