//! Helpers shared by the integration tests: the seed and the CI scale, checksums
//! and random ranges, reading trees back as `BTreeMap` models, the files of a
//! database directory, and the on-disk format of `docs/format.md` as the crash
//! and corruption tests walk it; and, in [`workload`], the workload of the
//! fault-injection suites (`fsync_failure`, `no_space`).
//!
//! Each test file includes it with `mod support;`.

#![allow(dead_code, reason = "each test binary uses a different part of the support module")]

pub mod workload;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use armdb::{Bytes, Db, Key};
use rand::Rng;

// ---------------------------------------------------------------------------
// Seed and scale
// ---------------------------------------------------------------------------

/// The seed of a randomized test: `ARMDB_SEED` if set, else the test file's
/// `default`. Printed, so that a failure can be reproduced with
/// `ARMDB_SEED=<seed> cargo test --test <file>`.
pub fn seed(default: u64) -> u64 {
    let seed = match std::env::var("ARMDB_SEED") {
        Ok(s) => s.trim().parse().expect("ARMDB_SEED must be a decimal u64"),
        Err(_) => default,
    };
    println!("ARMDB_SEED={seed}");
    seed
}

/// Whether the tests run under CI (`CI=true`), where the slow ones scale down
/// to fit CI's time budget.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The number of operations of a model test: `ARMDB_OPS` if set, else `ci`
/// under CI and `local` otherwise.
pub fn op_count(ci: usize, local: usize) -> usize {
    if let Ok(s) = std::env::var("ARMDB_OPS") {
        return s.trim().parse().expect("ARMDB_OPS must be a decimal usize");
    }
    if on_ci() { ci } else { local }
}

// ---------------------------------------------------------------------------
// Values and ranges
// ---------------------------------------------------------------------------

/// FNV-1a, 64-bit: a checksum that values carry so that a reader can tell a
/// torn or mixed-up value from a whole one.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A random bound at `key`: `Included` or `Excluded` two times in five each,
/// `Unbounded` one time in five.
pub fn random_bound<K>(rng: &mut impl Rng, key: K) -> Bound<K> {
    match rng.random_range(0..5) {
        0..2 => Bound::Included(key),
        2..4 => Bound::Excluded(key),
        _ => Bound::Unbounded,
    }
}

/// Two random bounds as a range `BTreeMap::range` accepts: swapped if the
/// start lies after the end, and `None` for `(Excluded(k), Excluded(k))`, which
/// it panics on.
pub fn ordered_bounds<K: Ord + Copy>(a: Bound<K>, b: Bound<K>) -> Option<(Bound<K>, Bound<K>)> {
    let (mut lo, mut hi) = (a, b);
    if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) = (lo, hi)
        && a > b
    {
        std::mem::swap(&mut lo, &mut hi);
    }
    if let (Bound::Excluded(a), Bound::Excluded(b)) = (lo, hi)
        && a == b
    {
        return None;
    }
    Some((lo, hi))
}

// ---------------------------------------------------------------------------
// Reading trees back
// ---------------------------------------------------------------------------

/// One item of a var tree iterator with its value copied out; panics, naming
/// `what`, if the value could not be read.
pub fn var_pair<K>(item: armdb::Result<(K, Bytes)>, what: &str) -> (K, Vec<u8>) {
    let (k, v) = item.unwrap_or_else(|e| panic!("{what}: reading a value failed: {e}"));
    (k, v.to_vec())
}

/// Every item of a var tree iterator (`iter`, `range`, `prefix`, reversed or
/// not) with its value copied out, in the iterator's order; panics, naming
/// `what`, on a read error.
pub fn var_pairs<K>(items: impl Iterator<Item = armdb::Result<(K, Bytes)>>, what: &str) -> Vec<(K, Vec<u8>)> {
    items.map(|item| var_pair(item, what)).collect()
}

/// What a const tree (keys `K`, values `[u8; N]`) and a var tree (keys `VK`)
/// hold: the model a test keeps of its writes, and the state it reads back with
/// [`read`](Self::read) to compare.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreesModel<K, const N: usize, VK = K> {
    pub consts: BTreeMap<K, [u8; N]>,
    pub var: BTreeMap<VK, Vec<u8>>,
}

impl<K: Key, const N: usize, VK: Key> TreesModel<K, N, VK> {
    /// Reads the const tree `consts` and the var tree `var` of an open database.
    pub fn read(db: &Db, consts: &str, var: &str) -> Self {
        let const_tree = db.const_tree::<K, N>(consts).expect("const tree");
        let var_tree = db.var_tree::<VK>(var).expect("var tree");
        Self {
            consts: const_tree.iter().collect(),
            var: var_pairs(var_tree.iter(), "iterate the var tree").into_iter().collect(),
        }
    }
}

impl<const N: usize> TreesModel<u32, N, u64> {
    /// What `entries` (as found on disk) resolve to, for a const tree with `u32`
    /// keys and a var tree with `u64` keys — an entry's key length tells its
    /// tree: for every key the entry with the highest seq, absent if that one
    /// is a tombstone.
    pub fn resolve<'a>(entries: impl IntoIterator<Item = &'a DiskEntry>) -> Self {
        let mut latest: BTreeMap<&[u8], &DiskEntry> = BTreeMap::new();
        for e in entries {
            if latest.get(e.key.as_slice()).is_none_or(|l| l.seq < e.seq) {
                latest.insert(&e.key, e);
            }
        }
        let mut state = Self::default();
        for (key, e) in latest.into_iter().filter(|(_, e)| !e.tombstone) {
            match key.len() {
                8 => {
                    state.var.insert(u64::from_be_bytes(key.try_into().expect("8 bytes")), e.value.clone());
                }
                4 => {
                    let value = e.value.as_slice().try_into().expect("a const value of the tree's size");
                    state.consts.insert(u32::from_be_bytes(key.try_into().expect("4 bytes")), value);
                }
                n => panic!("an entry with a {n}-byte key belongs to neither tree"),
            }
        }
        state
    }
}

// ---------------------------------------------------------------------------
// Files of a database directory
// ---------------------------------------------------------------------------

/// Whether `path` names a data file (`NNNNNNNNNN.log`).
pub fn is_data_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "log")
}

/// Whether `path` names a hint file (`NNNNNNNNNN.hint`).
pub fn is_hint_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "hint")
}

/// The files of every shard directory of the database at `root` that `keep`
/// accepts, sorted (so per shard, oldest first).
fn shard_files(root: &Path, keep: fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for shard in std::fs::read_dir(root).expect("list the database directory") {
        let shard = shard.expect("directory entry").path();
        if shard.is_dir() {
            for f in std::fs::read_dir(&shard).expect("list a shard directory") {
                let f = f.expect("directory entry").path();
                if keep(&f) {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    files
}

/// The data files of every shard of the database at `root`, sorted (so per
/// shard, oldest first).
pub fn data_files(root: &Path) -> Vec<PathBuf> {
    shard_files(root, is_data_file)
}

/// The hint files of every shard of the database at `root`, sorted.
pub fn hint_files(root: &Path) -> Vec<PathBuf> {
    shard_files(root, is_hint_file)
}

/// The bytes the data files of the database at `root` hold, each up to its
/// last nonzero byte: the zeros an active file is grown by ahead of its
/// appends (`Config::preallocate`) are neither data nor, sparse, disk use.
pub fn data_bytes(root: &Path) -> u64 {
    data_files(root)
        .iter()
        .map(|f| {
            // Up to the last nonzero byte, without parsing: a file being
            // written may end in half an entry.
            let bytes = std::fs::read(f).expect("read a data file");
            bytes.iter().rposition(|&b| b != 0).map_or(0, |last| last as u64 + 1)
        })
        .sum()
}

/// Removes every hint file of the database at `root`. Without hints, open
/// scans (and so checks) every sealed file; with a hint it trusts the file.
pub fn remove_hint_files(root: &Path) {
    for hint in shard_files(root, is_hint_file) {
        std::fs::remove_file(hint).expect("remove a hint file");
    }
}

/// A child process that is killed (SIGKILL) and reaped when dropped, so that
/// a parent test that panics leaves no child behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every file under `root`, recursively.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("list a directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The contents of every file under a directory, by path relative to it.
pub type DirSnapshot = BTreeMap<PathBuf, Vec<u8>>;

/// Reads every file under `root` (a closed database, say) into memory.
pub fn snapshot_dir(root: &Path) -> DirSnapshot {
    files_under(root)
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read a file");
            (path.strip_prefix(root).expect("under root").to_path_buf(), bytes)
        })
        .collect()
}

/// Replaces `root` with exactly the files of `snapshot`: anything written
/// there since (by an earlier round of the test) is gone.
pub fn restore_dir(root: &Path, snapshot: &DirSnapshot) {
    restore(root, snapshot, None);
}

/// As [`restore_dir`], with the file `cut_file` (relative to `root`) cut to its
/// first `cut` bytes, as a crash in the middle of an append leaves it.
pub fn restore_dir_with_cut(root: &Path, snapshot: &DirSnapshot, cut_file: &Path, cut: usize) {
    restore(root, snapshot, Some((cut_file, cut)));
}

/// Brings `root` back to exactly the files of `snapshot`, touching only what
/// differs: a file whose bytes changed (or that is missing) is rewritten, a
/// file the snapshot lacks (a hint or a data file an open created) is removed.
/// Much cheaper than [`restore_dir`] when a round of a test changed one file.
/// Creates `root` if needed. Returns how many files it rewrote or removed.
pub fn restore_changed(root: &Path, snapshot: &DirSnapshot) -> usize {
    let mut touched = 0;
    std::fs::create_dir_all(root).expect("create the directory");
    for path in files_under(root) {
        if !snapshot.contains_key(path.strip_prefix(root).expect("under root")) {
            std::fs::remove_file(&path).expect("remove a file the snapshot lacks");
            touched += 1;
        }
    }
    for (rel, bytes) in snapshot {
        let path = root.join(rel);
        if std::fs::read(&path).ok().as_ref() != Some(bytes) {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("create a directory");
            std::fs::write(&path, bytes).expect("write a file");
            touched += 1;
        }
    }
    touched
}

fn restore(root: &Path, snapshot: &DirSnapshot, cut: Option<(&Path, usize)>) {
    if root.exists() {
        std::fs::remove_dir_all(root).expect("remove the previous copy");
    }
    for (rel, bytes) in snapshot {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create a directory");
        let bytes = match cut {
            Some((file, len)) if file == rel => &bytes[..len],
            _ => &bytes[..],
        };
        std::fs::write(&path, bytes).expect("write a file");
    }
}

// ---------------------------------------------------------------------------
// The on-disk format (`docs/format.md`)
// ---------------------------------------------------------------------------

/// Bytes of a data file's header; the first entry starts here.
pub const FILE_HEADER_LEN: usize = 40;
/// Bytes of an entry's header: `seq u64` (the top bit marks a tombstone),
/// `tree u32`, `key_len u16`, `flags u16`, `value_len u32`, `payload CRC u32`,
/// `header CRC u32`. Key and value follow, and the entry is padded to 8 bytes.
pub const ENTRY_HEADER_LEN: usize = 28;
/// The tombstone bit of an entry's first word.
const TOMBSTONE: u64 = 1 << 63;

/// One entry of a data file, as found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskEntry {
    /// Where the entry starts in its file.
    pub offset: usize,
    /// Where the next entry starts: the end of this one, padding included.
    pub end: usize,
    /// The seq, without the tombstone bit.
    pub seq: u64,
    pub tombstone: bool,
    /// The tree id; 0 for a batch marker.
    pub tree: u32,
    pub flags: u16,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Walks the entries of a data file's bytes from `from` (`FILE_HEADER_LEN` for
/// a whole file) and asserts that the last one ends the file: what a sealed
/// file, or any file after `close`, looks like.
pub fn parse_entries(file: &[u8], from: usize) -> Vec<DiskEntry> {
    let entries = parse_live_entries(file, from);
    let end = entries.last().map_or(from, |e| e.end);
    assert_eq!(end, file.len(), "the entries from offset {from} do not end with the file");
    entries
}

/// [`parse_entries`] for the active file of an open database: the last entry
/// may be followed by zeros (the space reserved ahead of its appends,
/// `Config::preallocate`), and by nothing else.
pub fn parse_live_entries(file: &[u8], from: usize) -> Vec<DiskEntry> {
    let u16_at = |at: usize| u16::from_le_bytes([file[at], file[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().expect("4 bytes"));
    let mut out = Vec::new();
    let mut at = from;
    // An entry's header is never all zeros, so zeros to the end are no entry.
    while at < file.len() && file[at..].iter().any(|&b| b != 0) {
        let word = u64::from_le_bytes(file[at..at + 8].try_into().expect("8 bytes"));
        let key_len = usize::from(u16_at(at + 12));
        let value_len = u32_at(at + 16) as usize;
        let key_at = at + ENTRY_HEADER_LEN;
        let value_at = key_at + key_len;
        let end = at + (ENTRY_HEADER_LEN + key_len + value_len).next_multiple_of(8);
        out.push(DiskEntry {
            offset: at,
            end,
            seq: word & !TOMBSTONE,
            tombstone: word & TOMBSTONE != 0,
            tree: u32_at(at + 8),
            flags: u16_at(at + 14),
            key: file[key_at..value_at].to_vec(),
            value: file[value_at..value_at + value_len].to_vec(),
        });
        at = end;
    }
    assert!(
        at >= file.len() || file[at..].iter().all(|&b| b == 0),
        "the entries from offset {from} do not end with the file"
    );
    assert!(at <= file.len(), "the entries from offset {from} run past the end of the file");
    out
}

/// The offset just past the last entry of a data file's bytes (its header's
/// end if it holds none): the file's length, less any reserved zeros.
pub fn entries_end(file: &[u8]) -> usize {
    parse_live_entries(file, FILE_HEADER_LEN).last().map_or(FILE_HEADER_LEN, |e| e.end)
}

/// CRC-32 (IEEE) of the concatenation of `parts`, as the entry format specifies.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A whole, valid put entry (no flags) in the on-disk format, padding included.
pub fn encode_entry(seq: u64, tree: u32, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&tree.to_le_bytes());
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    let payload_crc = crc32(&[key, value]);
    out.extend_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32(&[&out]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(8), 0);
    out
}
