//! A page of zeros inside the last data file of a shard, followed by valid
//! entries: what a disk leaves when a power cut lands after it wrote later
//! pages of the file but not an earlier one (`Loss::KeepRandomPages` of the
//! simulated file system does the same).
//!
//! Nothing after such a hole was ever fsynced (an fsync covers the whole
//! file), so recovery ends the log at the first damaged entry: the database
//! opens with exactly the entries before it, reports the truncated bytes, and
//! takes new writes. The same zeros in a sealed file, and a flipped bit (which
//! never reads as a page of zeros) in the last file, stay corruption:
//! `Db::open` fails with `Error::Corruption` naming the file.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use armdb::{Config, Db, Durability, Error, Hints};

use support::{DiskEntry, FILE_HEADER_LEN, data_files, parse_entries};

const PAGE: usize = 4096;

fn config(max_file_size: u64) -> Config {
    Config {
        shards: 1,
        max_file_size,
        durability: Durability::Flush,
        hints: Hints::Always,
        ..Config::default()
    }
}

/// Fills a var tree with distinct keys and closes the database; returns the data files.
fn populate(dir: &Path, max_file_size: u64, n: u32) -> Vec<PathBuf> {
    let db = Db::open(dir, config(max_file_size)).expect("open");
    let var = db.var_tree::<u32>("var").expect("var tree");
    for i in 0..n {
        var.put(&i, format!("value {i} {}", "v".repeat((i % 90) as usize)).as_bytes()).expect("put");
    }
    drop(var);
    db.close().expect("close");
    data_files(dir)
}

fn read_all(dir: &Path, max_file_size: u64) -> armdb::Result<(BTreeMap<u32, Vec<u8>>, Db)> {
    let db = Db::open(dir, config(max_file_size))?;
    let var = db.var_tree::<u32>("var")?;
    let state = support::var_pairs(var.iter(), "iterate").into_iter().collect();
    Ok((state, db))
}

/// The keys of the tree's entries (tree ids other than the marker's) in `entries`.
fn keys(entries: &[DiskEntry]) -> BTreeMap<u32, Vec<u8>> {
    entries
        .iter()
        .filter(|e| e.tree != 0)
        .map(|e| (u32::from_be_bytes(e.key[..4].try_into().expect("4-byte key")), e.value.clone()))
        .collect()
}

fn zero(path: &Path, from: usize, to: usize) {
    let mut bytes = std::fs::read(path).expect("read data file");
    bytes[from..to].fill(0);
    std::fs::write(path, bytes).expect("write data file");
}

#[test]
fn a_zero_page_in_the_last_file_ends_the_log_there() {
    for (page, mid_page) in [(2usize, false), (3, true), (5, false)] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let files = populate(dir.path(), 1 << 20, 500);
        assert_eq!(files.len(), 1, "one file, so it is the last one");
        let path = &files[0];
        let bytes = std::fs::read(path).expect("read");
        let entries = parse_entries(&bytes, FILE_HEADER_LEN);
        assert!(bytes.len() > (page + 2) * PAGE, "entries follow the hole");
        // The hole: a whole page, or from an entry's start in the middle of a
        // page to that page's end (the page was written up to there before).
        let (hole, first_damaged) = if mid_page {
            let e = entries.iter().find(|e| e.offset > page * PAGE + 100).expect("an entry in the page");
            (e.offset..(page + 1) * PAGE, e.offset)
        } else {
            let e = entries.iter().find(|e| e.end > page * PAGE).expect("an entry reaching the page");
            (page * PAGE..(page + 1) * PAGE, e.offset)
        };
        zero(path, hole.start, hole.end);
        let kept: Vec<DiskEntry> = entries.iter().filter(|e| e.end <= first_damaged).cloned().collect();
        let (state, db) =
            read_all(dir.path(), 1 << 20).expect("the hole is a power-cut tail, not corruption");
        assert_eq!(state, keys(&kept), "page {page}: exactly the entries before the hole");
        let report = db.stats().recovery;
        assert_eq!(report.truncated_bytes, (bytes.len() - first_damaged) as u64, "page {page}");
        assert_eq!(report.corrupt_entries, 0);
        let var = db.var_tree::<u32>("var").expect("var tree");
        var.put(&1_000_000, b"after the hole").expect("writes continue");
        drop(var);
        db.close().expect("close");
        let (again, db) = read_all(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(again.len(), state.len() + 1);
        assert_eq!(again.get(&1_000_000).map(Vec::as_slice), Some(&b"after the hole"[..]));
        assert_eq!(db.stats().recovery.truncated_bytes, 0, "the second open is clean");
    }
}

#[test]
fn a_flipped_bit_in_the_last_file_is_still_corruption() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let files = populate(dir.path(), 1 << 20, 500);
    let path = &files[0];
    let mut bytes = std::fs::read(path).expect("read");
    let entries = parse_entries(&bytes, FILE_HEADER_LEN);
    let victim = entries.iter().find(|e| e.offset > 2 * PAGE).expect("an entry");
    bytes[victim.offset + 30] ^= 0x10;
    std::fs::write(path, &bytes).expect("write");
    match read_all(dir.path(), 1 << 20) {
        Err(Error::Corruption { path: p, offset, .. }) => {
            assert_eq!(&p, path);
            assert_eq!(offset, victim.offset as u64);
        }
        other => panic!("expected corruption, got {:?}", other.map(|(s, _)| s.len())),
    }
}

#[test]
fn a_zero_page_in_a_sealed_file_is_corruption() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let files = populate(dir.path(), 4 * PAGE as u64, 600);
    assert!(files.len() >= 3, "several files");
    support::remove_hint_files(dir.path());
    let sealed = &files[0];
    zero(sealed, PAGE, 2 * PAGE);
    match read_all(dir.path(), 4 * PAGE as u64) {
        Err(Error::Corruption { path, .. }) => assert_eq!(&path, sealed),
        other => panic!("expected corruption, got {:?}", other.map(|(s, _)| s.len())),
    }
}
