//! File ids grow across rotations and reopens and are never reused (PITFALLS 9),
//! including after a crash left an empty last file behind.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use armdb::{Config, Db, Durability};

/// The names of the data files of the database's one shard.
fn ids(dir: &Path) -> BTreeSet<String> {
    support::data_files(dir)
        .iter()
        .map(|p| p.file_name().expect("file name").to_string_lossy().into_owned())
        .collect()
}

#[test]
fn ids_only_grow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        Config { shards: 1, max_file_size: 4096, durability: Durability::Flush, ..Config::default() };
    let mut seen = BTreeSet::new();
    for round in 0..4u32 {
        let db = Db::open(dir.path(), config.clone()).expect("open");
        let t = db.var_tree::<u32>("t").expect("tree");
        for i in 0..200u32 {
            t.put(&(round * 1000 + i), &[round as u8; 100]).expect("put");
        }
        db.close().expect("close");
        let now = ids(dir.path());
        let max_before = seen.iter().max().cloned();
        let fresh: Vec<_> = now.difference(&seen).cloned().collect();
        assert!(!fresh.is_empty(), "round {round} created no file");
        if let Some(max) = max_before {
            assert!(fresh.iter().all(|f| *f > max), "round {round} reused an id: {fresh:?} vs {max}");
        }
        seen.extend(now);
    }
    // A crash while creating the next file leaves it empty: reopen adopts it.
    let next = seen.iter().max().expect("files").trim_end_matches(".log").parse::<u32>().expect("id") + 1;
    std::fs::write(dir.path().join("shard-000").join(format!("{next:010}.log")), b"").expect("write");
    let db = Db::open(dir.path(), config).expect("open with an empty last file");
    let t = db.var_tree::<u32>("t").expect("tree");
    assert_eq!(t.len(), 800);
    assert_eq!(t.get(&3150).expect("get").as_deref(), Some(&[3u8; 100][..]));
    t.put(&9999, b"after").expect("put");
    drop(t);
    db.close().expect("close");
    let after = ids(dir.path());
    assert!(after.iter().all(|f| seen.contains(f) || *f >= format!("{next:010}.log")), "{after:?}");
}
