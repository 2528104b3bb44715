//! The active file grows ahead of its appends (`Config::preallocate`).
//!
//! A durable append into reserved space changes no file size, which is what
//! makes it cheap; the reserved zeros must never cost an entry or look like
//! damage. Pass criterion: while a database is open its active file is longer
//! than its entries, every sealed file ends exactly at its last entry, and a
//! close leaves no reserved zeros; after a power cut that keeps any subset of
//! the unsynced pages, recovery reads the zeros as the end of the log, keeps
//! every acknowledged write, reports no corruption and takes new writes; with
//! `preallocate: 0` no file ever holds bytes past its entries.

mod support;

use std::path::Path;
use std::sync::Arc;

use armdb::fs::{Loss, SimFs};
use armdb::{CompactionConfig, Config, Db, Durability, VarTree};

use support::{data_files, entries_end};

const MAX_FILE: u64 = 64 << 10;
const RESERVE: u64 = 16 << 10;

fn config(durability: Durability) -> Config {
    Config {
        shards: 1,
        max_file_size: MAX_FILE,
        preallocate: RESERVE,
        durability,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        ..Config::default()
    }
}

fn value(k: u32) -> Vec<u8> {
    format!("value {k} {}", "v".repeat((k % 97) as usize)).into_bytes()
}

fn put_range(t: &VarTree<u32>, keys: std::ops::Range<u32>) {
    for k in keys {
        t.put(&k, &value(k)).expect("put");
    }
}

fn assert_all(t: &VarTree<u32>, keys: std::ops::Range<u32>, ctx: &str) {
    for k in keys {
        assert_eq!(t.get(&k).expect("get").as_deref(), Some(&value(k)[..]), "{ctx}: key {k}");
    }
}

/// Every data file but the newest ends at its last entry.
fn assert_sealed_files_exact(files: &[(std::path::PathBuf, Vec<u8>)]) {
    for (path, bytes) in &files[..files.len() - 1] {
        assert_eq!(entries_end(bytes), bytes.len(), "sealed file {} ends in reserved zeros", path.display());
    }
}

fn read_all(paths: &[impl AsRef<Path>]) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    paths.iter().map(|p| (p.as_ref().to_path_buf(), std::fs::read(p).expect("read a data file"))).collect()
}

#[test]
fn the_active_file_is_reserved_ahead_and_trimmed_on_seal_and_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config(Durability::Sync)).expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    put_range(&t, 0..10);
    let files = read_all(&data_files(dir.path()));
    let (_, active) = files.last().expect("a data file");
    let end = entries_end(active);
    assert!(
        active.len() as u64 >= end as u64 + RESERVE / 2,
        "active file of {} bytes, entries end at {end}",
        active.len()
    );
    assert!(active[end..].iter().all(|&b| b == 0), "the reserved space is zeros");

    // Enough to rotate several times: each sealed file is cut back to its entries.
    put_range(&t, 10..1_500);
    let files = read_all(&data_files(dir.path()));
    assert!(files.len() >= 3, "the shard should have rotated, {} files", files.len());
    assert_sealed_files_exact(&files);
    assert_all(&t, 0..1_500, "open");

    drop(t);
    db.close().expect("close");
    for (path, bytes) in read_all(&data_files(dir.path())) {
        assert_eq!(entries_end(&bytes), bytes.len(), "{} keeps reserved zeros after close", path.display());
    }
    let db = Db::open(dir.path(), config(Durability::Sync)).expect("reopen");
    assert_eq!(db.stats().recovery.truncated_bytes, 0, "a clean close leaves nothing to truncate");
    assert_all(&db.var_tree::<u32>("t").expect("tree"), 0..1_500, "reopened");
}

#[test]
fn a_dropped_database_leaves_no_reserved_zeros() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), config(Durability::Flush)).expect("open");
        put_range(&db.var_tree::<u32>("t").expect("tree"), 0..100);
    }
    let db = Db::open(dir.path(), config(Durability::Flush)).expect("reopen");
    assert_eq!(db.stats().recovery.truncated_bytes, 0, "{:?}", db.stats().recovery);
    assert_all(&db.var_tree::<u32>("t").expect("tree"), 0..100, "reopened");
}

#[test]
fn without_preallocation_no_file_holds_bytes_past_its_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Config { preallocate: 0, ..config(Durability::Sync) }).expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    for k in 0..600 {
        t.put(&k, &value(k)).expect("put");
        if k % 50 == 0 {
            for (path, bytes) in read_all(&data_files(dir.path())) {
                assert_eq!(entries_end(&bytes), bytes.len(), "{} after key {k}", path.display());
            }
        }
    }
}

const ROOT: &str = "/db";

fn sim_config(sim: &SimFs) -> Config {
    Config { fs: Arc::new(sim.clone()), ..config(Durability::Sync) }
}

/// Acknowledged `Sync` writes, a power cut losing `loss`, a reopen: every
/// acknowledged key is there, no entry is reported corrupt, new writes work
/// and a second reopen truncates nothing.
fn power_cut_keeps_acknowledged_writes(loss: Loss, n: u32) {
    let sim = SimFs::new();
    let db = Db::open(ROOT, sim_config(&sim)).expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    put_range(&t, 0..n);
    sim.cut_power();
    drop(t);
    drop(db);
    sim.restart(loss);

    let db = Db::open(ROOT, sim_config(&sim)).expect("open after the power cut");
    let report = db.stats().recovery;
    assert_eq!(report.corrupt_entries, 0, "{loss:?}: reserved zeros read as damage: {report:?}");
    let t = db.var_tree::<u32>("t").expect("tree");
    assert_all(&t, 0..n, &format!("{loss:?}: after the power cut"));
    put_range(&t, n..n + 200);
    drop(t);
    db.close().expect("close");

    let db = Db::open(ROOT, sim_config(&sim)).expect("second reopen");
    assert_eq!(db.stats().recovery.truncated_bytes, 0, "{loss:?}: {:?}", db.stats().recovery);
    assert_all(&db.var_tree::<u32>("t").expect("tree"), 0..n + 200, &format!("{loss:?}: second reopen"));
}

#[test]
fn a_power_cut_inside_reserved_space_loses_no_acknowledged_write() {
    // Short of the first rotation, then across several.
    for n in [40, 1_200] {
        power_cut_keeps_acknowledged_writes(Loss::DropUnsynced, n);
        for seed in 0..8 {
            power_cut_keeps_acknowledged_writes(Loss::KeepRandomPages { seed }, n);
        }
    }
}

#[test]
fn the_zeros_a_power_cut_leaves_are_truncated_and_counted() {
    let sim = SimFs::new();
    let db = Db::open(ROOT, sim_config(&sim)).expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    put_range(&t, 0..20);
    sim.cut_power();
    drop(t);
    drop(db);
    sim.restart(Loss::DropUnsynced);
    let active = sim.list_files().into_iter().filter(|p| p.extension().is_some_and(|e| e == "log")).max();
    let bytes = sim.read_file(&active.expect("a data file")).expect("read the active file");
    let reserved = bytes.len() - entries_end(&bytes);
    assert!(reserved > 0, "the synced length should include reserved space");

    let db = Db::open(ROOT, sim_config(&sim)).expect("open after the power cut");
    let report = db.stats().recovery;
    assert_eq!(report.truncated_bytes, reserved as u64, "{report:?}");
    assert_eq!(report.corrupt_entries, 0, "{report:?}");
    assert_all(&db.var_tree::<u32>("t").expect("tree"), 0..20, "after the power cut");
}
