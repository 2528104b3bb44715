//! `Config::hints` decides which sealed files get a hint file: `Auto` only
//! where the hint is at most 1/8 of its data file (large var-tree values),
//! `Always` everywhere, `Never` nowhere. Whatever was written, a reopen
//! recovers the same contents and reads every hint it finds.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use armdb::{CompactionConfig, Config, Db, Durability, Hints};

use support::{data_files, hint_files};

fn config(hints: Hints) -> Config {
    Config {
        shards: 1,
        max_file_size: 256 << 10,
        durability: Durability::Flush,
        hints,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        ..Config::default()
    }
}

/// Fills a var tree with `n` values of `value_len` bytes and a const tree with
/// as many 16-byte values, closes (which writes the hints), and returns the var
/// tree's contents.
fn fill(root: &Path, hints: Hints, n: u32, value_len: usize, consts: bool) -> BTreeMap<u32, Vec<u8>> {
    let db = Db::open(root, config(hints)).expect("open");
    let var = db.var_tree::<u32>("var").expect("var tree");
    let c = db.const_tree::<u32, 16>("const").expect("const tree");
    let mut model = BTreeMap::new();
    for k in 0..n {
        let v = vec![(k % 251) as u8; value_len];
        var.put(&k, &v).expect("put");
        model.insert(k, v);
        if consts {
            c.put(&k, &[k as u8; 16]).expect("put const");
        }
    }
    drop((var, c));
    db.close().expect("close");
    model
}

/// Reopens with `hints` and checks the contents; returns how many files were read from hints.
fn reopen(root: &Path, hints: Hints, model: &BTreeMap<u32, Vec<u8>>) -> usize {
    let db = Db::open(root, config(hints)).expect("reopen");
    let var = db.var_tree::<u32>("var").expect("var tree");
    for (k, v) in model {
        assert_eq!(var.get(k).expect("get").as_deref(), Some(v.as_slice()), "key {k}");
    }
    assert_eq!(var.len(), model.len());
    let from_hints = db.stats().recovery.hint_files;
    drop(var);
    db.close().expect("close");
    from_hints
}

#[test]
fn auto_writes_hints_for_large_values_only() {
    let large = tempfile::tempdir().expect("temporary directory");
    let model = fill(large.path(), Hints::Auto, 400, 4096, false);
    let sealed = data_files(large.path()).len() - 1;
    assert!(sealed >= 3, "the test needs several sealed files, has {sealed}");
    assert_eq!(hint_files(large.path()).len(), sealed, "4 KiB values: every sealed file gets a hint");
    assert_eq!(reopen(large.path(), Hints::Auto, &model), sealed);

    let small = tempfile::tempdir().expect("temporary directory");
    let model = fill(small.path(), Hints::Auto, 20_000, 40, true);
    assert!(data_files(small.path()).len() >= 4, "the test needs several sealed files");
    assert_eq!(
        hint_files(small.path()),
        Vec::<std::path::PathBuf>::new(),
        "40-byte values: no hint pays off"
    );
    assert_eq!(reopen(small.path(), Hints::Auto, &model), 0);
}

#[test]
fn always_and_never_do_what_they_say_and_any_hint_found_is_read() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let model = fill(dir.path(), Hints::Always, 20_000, 40, true);
    let sealed = data_files(dir.path()).len() - 1;
    assert_eq!(hint_files(dir.path()).len(), sealed, "Always: a hint for every sealed file");
    // A database opened with `Never` still reads the hints it finds.
    assert_eq!(reopen(dir.path(), Hints::Never, &model), sealed);

    let never = tempfile::tempdir().expect("temporary directory");
    let model = fill(never.path(), Hints::Never, 400, 4096, false);
    assert!(hint_files(never.path()).is_empty(), "Never: no hints");
    assert_eq!(reopen(never.path(), Hints::Never, &model), 0);
}

/// `Auto` rules a hint out from the entries and key bytes it counted while the
/// file was written, without reading the file back.
#[test]
fn auto_rules_out_small_value_hints_without_reading_the_files() {
    let sim = armdb::fs::SimFs::new();
    let config = Config { fs: std::sync::Arc::new(sim.clone()), ..config(Hints::Auto) };
    let db = Db::open("/db", config).expect("open");
    let var = db.var_tree::<u32>("var").expect("var tree");
    for k in 0..20_000u32 {
        var.put(&k, &[k as u8; 40]).expect("put");
    }
    drop(var);
    let reads = sim.stats().reads;
    db.close().expect("close");
    assert!(db_files(&sim) >= 4, "the test needs several sealed files");
    assert_eq!(sim.stats().reads, reads, "close read data files to decide on hints");
}

fn db_files(sim: &armdb::fs::SimFs) -> usize {
    sim.list_files().iter().filter(|p| p.extension().is_some_and(|e| e == "log")).count()
}

/// A hint recovery could not use (here: damaged), under a setting that would
/// not write one again, is removed rather than read and dropped at every open.
#[test]
fn an_unusable_hint_the_setting_would_not_write_is_removed() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let model = fill(dir.path(), Hints::Always, 20_000, 40, true);
    let hints = hint_files(dir.path());
    assert!(hints.len() >= 3, "the test needs several hints");
    let damaged = &hints[1];
    let mut bytes = std::fs::read(damaged).expect("read a hint");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(damaged, &bytes).expect("damage a hint");
    // The damaged hint is not used; the others are.
    assert_eq!(reopen(dir.path(), Hints::Auto, &model), hints.len() - 1);
    assert!(!damaged.exists(), "the unusable hint is still there");
    assert_eq!(hint_files(dir.path()).len(), hints.len() - 1, "usable hints are kept");
    assert_eq!(reopen(dir.path(), Hints::Auto, &model), hints.len() - 1);
}
