//! A simulated file system for crash and fault testing (feature `sim`).
//!
//! Files live in memory. Each file keeps two images: the bytes written (what
//! reads see) and the bytes an fsync made durable. Directory entries are the
//! same: a creation, rename or removal is durable only once its directory is
//! fsynced. A power cut freezes the file system (every call fails with `EIO`);
//! [`SimFs::restart`] then keeps only what was durable, or, with
//! [`Loss::KeepRandomPages`], also a random subset of the unsynced 4 KiB pages,
//! as a real disk may. Handles opened before the cut stay dead.
//!
//! Faults fail the n-th call of one kind ([`OpKind`]) with `EIO` or `ENOSPC`,
//! once or until cleared. A failed write leaves the first half of its bytes
//! behind, as a short write would; a failed fsync drops the file's unsynced
//! bytes, as Linux may drop dirty pages after a writeback error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

mod contents;
mod fault;
mod file;

use contents::Contents;
use fault::Armed;
pub use fault::{Fault, FaultError, OpKind};
use file::{SimFile, SimLock, inode};

use super::{DirLockGuard, FileSystem, FsFile, OpenMode};

/// Page size of [`Loss::KeepRandomPages`].
const PAGE: usize = 4096;

/// What survives a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Exactly what was fsynced (files) and what directory fsyncs made durable (names).
    DropUnsynced,
    /// What was fsynced, plus each unsynced 4 KiB page with probability 1/2
    /// (a page that was never written reads as zeros), and a file length that is
    /// either the durable or the written one. Drawn from `seed`.
    KeepRandomPages {
        /// Seed of the draw.
        seed: u64,
    },
}

/// Counts of the calls the simulated file system served and failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Positional writes and calls that grow a file (the calls a full disk fails).
    pub writes: u64,
    /// File fsyncs.
    pub syncs: u64,
    /// Directory fsyncs.
    pub dir_syncs: u64,
    /// Renames.
    pub renames: u64,
    /// File creations.
    pub creates: u64,
    /// Positional reads.
    pub reads: u64,
    /// File removals.
    pub removes: u64,
    /// Calls failed by an injected fault.
    pub faults: u64,
    /// Power cuts.
    pub power_cuts: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(u64),
}

#[derive(Debug, Default)]
struct Inode {
    data: Contents,
    durable: Contents,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    next_ino: u64,
    inodes: HashMap<u64, Inode>,
    names: BTreeMap<PathBuf, Node>,
    durable: BTreeMap<PathBuf, Node>,
    locks: HashSet<PathBuf>,
    power_cut: bool,
    /// Syncs (file or directory) left before the one that cuts the power.
    cut_in: Option<u64>,
    faults: Vec<Armed>,
    stats: SimStats,
}

/// An in-memory file system that can lose power and fail calls on demand.
///
/// Clones share one file system, so a test keeps a clone to cut the power of
/// the `Db` it gave the other to.
#[derive(Clone, Debug, Default)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} does not exist", path.display()))
}

impl State {
    fn check_power(&self) -> io::Result<()> {
        if self.power_cut {
            return Err(io::Error::other("simulated power cut: the disk is gone"));
        }
        Ok(())
    }

    /// Counts a call of `op` on `path` against the armed faults.
    fn fault(&mut self, op: OpKind, path: &Path) -> io::Result<()> {
        let text = path.to_string_lossy();
        let mut hit = None;
        for a in &mut self.faults {
            if a.fault.op != op || a.fault.path_contains.as_deref().is_some_and(|p| !text.contains(p)) {
                continue;
            }
            a.seen += 1;
            if a.seen == a.fault.nth || (a.fault.persist && a.seen > a.fault.nth) {
                hit.get_or_insert(a.fault.error);
            }
        }
        match hit {
            Some(e) => {
                self.stats.faults += 1;
                Err(e.to_io())
            }
            None => Ok(()),
        }
    }

    /// Counts a sync; `Err` when it is the one that cuts the power.
    fn sync_point(&mut self) -> io::Result<()> {
        if let Some(n) = self.cut_in.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.cut_in = None;
                self.power_cut = true;
                self.stats.power_cuts += 1;
                return self.check_power();
            }
        }
        Ok(())
    }

    fn parent_is_dir(&self, path: &Path) -> bool {
        match path.parent() {
            None => true,
            Some(p) if p.as_os_str().is_empty() || p.parent().is_none() => true,
            Some(p) => self.names.get(p) == Some(&Node::Dir),
        }
    }

    fn new_file(&mut self, path: &Path) -> u64 {
        self.next_ino += 1;
        let ino = self.next_ino;
        self.inodes.insert(ino, Inode::default());
        self.names.insert(path.to_owned(), Node::File(ino));
        ino
    }
}

fn children<'a>(
    map: &'a BTreeMap<PathBuf, Node>,
    dir: &'a Path,
) -> impl Iterator<Item = (&'a PathBuf, &'a Node)> {
    map.iter().filter(move |(p, _)| p.parent() == Some(dir))
}

impl SimFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Cuts the power now: every call fails until [`restart`](Self::restart).
    pub fn cut_power(&self) {
        let mut s = self.state();
        if !s.power_cut {
            s.power_cut = true;
            s.stats.power_cuts += 1;
        }
    }

    /// Cuts the power at the `n`-th fsync (of a file or a directory) from now
    /// (`n` ≥ 1), instead of performing it.
    pub fn cut_power_at_sync(&self, n: u64) {
        self.state().cut_in = Some(n.max(1));
    }

    /// Whether the power is cut.
    pub fn is_power_cut(&self) -> bool {
        self.state().power_cut
    }

    /// Restores power after a cut (or simulates one first if the power is on):
    /// keeps what `loss` says survives, forgets locks, faults and armed cuts, and
    /// kills every handle opened before.
    pub fn restart(&self, loss: Loss) {
        let mut s = self.state();
        if !s.power_cut {
            s.stats.power_cuts += 1;
        }
        let mut rng = match loss {
            Loss::DropUnsynced => None,
            Loss::KeepRandomPages { seed } => Some(SplitMix(seed)),
        };
        let names = s.durable.clone();
        let mut inodes = HashMap::new();
        for node in names.values() {
            let Node::File(ino) = *node else { continue };
            let Some(old) = s.inodes.get(&ino) else { continue };
            let data = match rng.as_mut() {
                None => old.durable.clone(),
                Some(rng) => survive(&old.durable, &old.data, rng),
            };
            inodes.insert(ino, Inode { durable: data.clone(), data });
        }
        s.inodes = inodes;
        s.names = names;
        s.locks.clear();
        s.faults.clear();
        s.cut_in = None;
        s.power_cut = false;
        s.generation += 1;
    }

    /// Arms a fault.
    pub fn inject(&self, fault: Fault) {
        self.state().faults.push(Armed { fault, seen: 0 });
    }

    /// Disarms every fault (space has returned, the device recovered).
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Counts of the calls served so far.
    pub fn stats(&self) -> SimStats {
        self.state().stats
    }

    /// The written bytes of the file at `path`, if it exists.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let s = self.state();
        match s.names.get(path) {
            Some(Node::File(ino)) => s.inodes.get(ino).map(|i| i.data.to_vec()),
            _ => None,
        }
    }

    /// Creates or replaces the file at `path` with `bytes`, durably (parent
    /// directories too): for tests that plant or damage files.
    pub fn write_file(&self, path: &Path, bytes: &[u8]) {
        let mut s = self.state();
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| d.parent().is_some() && !d.as_os_str().is_empty()) {
            s.names.insert(d.to_owned(), Node::Dir);
            s.durable.insert(d.to_owned(), Node::Dir);
            dir = d.parent();
        }
        let ino = match s.names.get(path) {
            Some(Node::File(ino)) => *ino,
            _ => s.new_file(path),
        };
        s.durable.insert(path.to_owned(), Node::File(ino));
        let inode = s.inodes.entry(ino).or_default();
        inode.data = Contents::from_vec(bytes.to_vec());
        inode.durable = Contents::from_vec(bytes.to_vec());
    }

    /// The paths of every file, in order.
    pub fn list_files(&self) -> Vec<PathBuf> {
        let s = self.state();
        s.names.iter().filter(|(_, n)| matches!(n, Node::File(_))).map(|(p, _)| p.clone()).collect()
    }
}

/// The bytes of a file after a power cut that keeps random unsynced pages.
fn survive(durable: &Contents, written: &Contents, rng: &mut SplitMix) -> Contents {
    let len = if rng.coin() { written.len() } else { durable.len() };
    // Past what either image stores both read as zeros: nothing to copy there.
    let stored = len.min(written.stored().max(durable.stored()));
    let mut out = vec![0u8; stored as usize];
    for (page, chunk) in out.chunks_mut(PAGE).enumerate() {
        let at = (page * PAGE) as u64;
        let from = if rng.coin() { written } else { durable };
        for (i, b) in chunk.iter_mut().enumerate() {
            // A page keeps one image: written or durable; bytes beyond it are zeros.
            *b = from.byte(at + i as u64);
        }
    }
    let mut out = Contents::from_vec(out);
    out.set_len(len);
    out
}

/// splitmix64: a small, seedable generator, enough for choosing pages.
#[derive(Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn coin(&mut self) -> bool {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) & 1 == 1
    }
}

impl FileSystem for SimFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut s = self.state();
        s.check_power()?;
        if !s.parent_is_dir(path) {
            return Err(not_found(path.parent().unwrap_or(path)));
        }
        let existing = s.names.get(path).copied();
        let ino = match (mode, existing) {
            (_, Some(Node::Dir)) => {
                return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory"));
            }
            (OpenMode::Read | OpenMode::ReadWrite, Some(Node::File(ino))) => ino,
            (OpenMode::Read | OpenMode::ReadWrite, None) => return Err(not_found(path)),
            (OpenMode::CreateNew, Some(_)) => {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
            }
            (OpenMode::CreateNew | OpenMode::CreateTruncate, _) => {
                s.stats.creates += 1;
                s.fault(OpKind::Create, path)?;
                match existing {
                    Some(Node::File(ino)) => {
                        inode(&mut s, ino, path)?.data.set_len(0);
                        ino
                    }
                    _ => s.new_file(path),
                }
            }
        };
        Ok(Arc::new(SimFile {
            state: Arc::clone(&self.state),
            path: path.to_owned(),
            ino,
            generation: s.generation,
        }))
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<bool> {
        let mut s = self.state();
        s.check_power()?;
        let mut created = false;
        for d in dir.ancestors().collect::<Vec<_>>().into_iter().rev() {
            if d.as_os_str().is_empty() || d.parent().is_none() {
                continue;
            }
            match s.names.get(d) {
                Some(Node::Dir) => {}
                Some(Node::File(_)) => {
                    return Err(io::Error::new(io::ErrorKind::NotADirectory, "a file is in the way"));
                }
                None => {
                    s.names.insert(d.to_owned(), Node::Dir);
                    created = true;
                }
            }
        }
        Ok(created)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let s = self.state();
        s.check_power()?;
        Ok(path.parent().is_none() || s.names.contains_key(path))
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let s = self.state();
        s.check_power()?;
        if !(dir.parent().is_none() || s.names.get(dir) == Some(&Node::Dir)) {
            return Err(not_found(dir));
        }
        Ok(children(&s.names, dir).filter_map(|(p, _)| p.file_name().map(OsString::from)).collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state();
        s.check_power()?;
        s.stats.renames += 1;
        s.fault(OpKind::Rename, to)?;
        let Some(node @ Node::File(_)) = s.names.get(from).copied() else {
            return Err(not_found(from));
        };
        if !s.parent_is_dir(to) {
            return Err(not_found(to));
        }
        s.names.remove(from);
        s.names.insert(to.to_owned(), node);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state();
        s.check_power()?;
        s.stats.removes += 1;
        s.fault(OpKind::Remove, path)?;
        match s.names.get(path) {
            Some(Node::File(_)) => {
                s.names.remove(path);
                Ok(())
            }
            _ => Err(not_found(path)),
        }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state();
        s.check_power()?;
        s.stats.dir_syncs += 1;
        s.sync_point()?;
        s.fault(OpKind::SyncDir, dir)?;
        let now: Vec<(PathBuf, Node)> = children(&s.names, dir).map(|(p, n)| (p.clone(), *n)).collect();
        s.durable.retain(|p, _| p.parent() != Some(dir));
        s.durable.extend(now);
        Ok(())
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn DirLockGuard>>> {
        let mut s = self.state();
        s.check_power()?;
        if !s.names.contains_key(path) {
            s.new_file(path);
        }
        if !s.locks.insert(path.to_owned()) {
            return Ok(None);
        }
        Ok(Some(Box::new(SimLock {
            state: Arc::clone(&self.state),
            path: path.to_owned(),
            generation: s.generation,
        })))
    }
}

#[cfg(test)]
mod tests;
