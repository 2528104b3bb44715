//! `Config::mmap_reads` changes how values are read, never which: memory-mapped
//! reads and `pread` reads return the same values for entries in sealed files,
//! in the active file, in the write buffer (`Durability::Buffered`, not yet
//! written to the file), in files compaction wrote, and for entries larger
//! than a whole data file (which lie past the map of the file).
//!
//! Guards against a map that was made shorter than a file that grew since,
//! reads of buffered bytes through a map that cannot hold them yet, and a map
//! left pointing at a file compaction retired.

use std::collections::BTreeMap;
use std::time::Duration;

use armdb::{CompactionConfig, Config, Db, Durability, VarTree};

fn config(mmap_reads: bool, durability: Durability) -> Config {
    Config {
        shards: 2,
        max_file_size: 64 << 10,
        durability,
        mmap_reads,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        ..Config::default()
    }
}

fn value(key: u32, round: u32) -> Vec<u8> {
    // Mostly small values, and every 500th key a value larger than a data file.
    let len = if key % 500 == 7 { 100 << 10 } else { 1 + (key as usize * 13 + round as usize) % 300 };
    (0..len).map(|i| (key as usize ^ (i * 7) ^ round as usize) as u8).collect()
}

fn check(t: &VarTree<u32>, model: &BTreeMap<u32, Vec<u8>>, what: &str) {
    for (k, v) in model {
        let got = t.get(k).unwrap_or_else(|e| panic!("{what}: get {k}: {e}"));
        assert_eq!(got.as_deref(), Some(v.as_slice()), "{what}: key {k}");
    }
    let all: Vec<(u32, Vec<u8>)> =
        t.iter().map(|r| r.map(|(k, v)| (k, v.to_vec()))).collect::<armdb::Result<_>>().expect("iterate");
    let want: Vec<(u32, Vec<u8>)> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert!(all == want, "{what}: iteration differs from the model");
}

/// Writes, overwrites and deletes across many files, reading everything back
/// after each step, then compacts, reopens and reads again.
fn run(mmap_reads: bool, durability: Durability) {
    let what = format!("mmap_reads {mmap_reads}, {durability:?}");
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Db::open(dir.path(), config(mmap_reads, durability)).expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    let mut model = BTreeMap::new();
    for round in 0..3u32 {
        for k in 0..2_000u32 {
            if (k + round) % 5 == 0 {
                t.delete(&k).expect("delete");
                model.remove(&k);
            } else if round == 0 || k % 3 == round {
                t.put(&k, &value(k, round)).expect("put");
                model.insert(k, value(k, round));
            }
            // Read back at once: in Buffered mode the entry is still in the buffer.
            if k % 97 == 0 {
                assert_eq!(
                    t.get(&k).expect("get").as_deref(),
                    model.get(&k).map(Vec::as_slice),
                    "{what}: {k}"
                );
            }
        }
        check(&t, &model, &format!("{what}, round {round}"));
    }
    assert!(db.stats().files > 10, "{what}: the writes should span many files");
    db.compact().expect("compact");
    check(&t, &model, &format!("{what}, after compaction"));
    drop(t);
    db.close().expect("close");
    let db = Db::open(dir.path(), config(mmap_reads, durability)).expect("reopen");
    let t = db.var_tree::<u32>("t").expect("tree");
    check(&t, &model, &format!("{what}, after reopen"));
    drop(t);
    db.close().expect("close");
}

#[test]
fn mapped_reads_equal_pread_reads_flush() {
    run(true, Durability::Flush);
    run(false, Durability::Flush);
}

#[test]
fn mapped_reads_equal_pread_reads_buffered() {
    let buffered = Durability::Buffered { flush_every: Duration::from_secs(3600) };
    run(true, buffered);
    run(false, buffered);
}

/// Readers on other threads while a writer overwrites and compaction retires
/// files: a read through a map of a retired file finds the key's new place.
#[test]
fn mapped_reads_follow_compaction() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Db::open(dir.path(), config(true, Durability::Flush)).expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    for k in 0..1_000u32 {
        t.put(&k, &value(k, 0)).expect("put");
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut reads = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads < 1_000 {
                    let k = (reads * 7919 % 1_000) as u32;
                    let v = t.get(&k).expect("get").expect("every key stays present");
                    // Any round's value of this key is fine; a torn or foreign one is not.
                    assert!((0..4).any(|r| v == value(k, r)), "key {k}: a value it never had");
                    reads += 1;
                }
            });
        }
        for round in 1..4u32 {
            for k in 0..1_000u32 {
                t.put(&k, &value(k, round)).expect("overwrite");
            }
            db.compact().expect("compact");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    drop(t);
    db.close().expect("close");
}
