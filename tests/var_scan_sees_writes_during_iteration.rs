//! A var tree's scans read a few index entries ahead of the one they return.
//! Writes made while a scan is under way, here by the scanning thread itself,
//! to keys the scan has fetched ahead but not yet returned must still show:
//! a deleted key is skipped and an overwritten key returns its new value, with
//! and without the keydir, through `range`, `iter` and `prefix`.

use armdb::{Config, Db, Prefix, VarTree};

const KEYS: u32 = 40;

fn value(k: u32, generation: &str) -> Vec<u8> {
    format!("{generation} value of {k}").into_bytes()
}

/// Runs `scan` over `tree` and, once it has returned key 6, deletes 7, 8 and
/// 12 and overwrites 9, 10 and 20; returns what the scan returned.
fn scan_while_writing<V: AsRef<[u8]>>(
    tree: &VarTree<u32>,
    scan: impl Iterator<Item = armdb::Result<(u32, V)>>,
) -> Vec<(u32, Vec<u8>)> {
    let mut seen = Vec::new();
    for item in scan {
        let (k, v) = item.expect("scan item");
        if k == 6 {
            for gone in [7, 8, 12] {
                assert!(tree.delete(&gone).expect("delete"), "key {gone} was present");
            }
            for changed in [9, 10, 20] {
                tree.put(&changed, &value(changed, "new")).expect("overwrite");
            }
        }
        seen.push((k, v.as_ref().to_vec()));
    }
    seen
}

fn expected() -> Vec<(u32, Vec<u8>)> {
    (0..KEYS)
        .filter(|k| ![7, 8, 12].contains(k))
        .map(|k| (k, value(k, if [9, 10, 20].contains(&k) { "new" } else { "old" })))
        .collect()
}

fn fill(db: &Db) -> VarTree<u32> {
    let tree = db.var_tree::<u32>("t").expect("tree");
    for k in 0..KEYS {
        tree.put(&k, &value(k, "old")).expect("put");
    }
    tree
}

#[test]
fn a_scan_skips_keys_deleted_and_reads_keys_overwritten_after_it_read_ahead() {
    for keydir in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Config { keydir, ..Config::default() }).expect("open");
        let tree = fill(&db);
        assert_eq!(scan_while_writing(&tree, tree.range(0..)), expected(), "range, keydir {keydir}");
        let tree = fill(&db);
        assert_eq!(scan_while_writing(&tree, tree.iter()), expected(), "iter, keydir {keydir}");
        let tree = fill(&db);
        let all = Prefix::from_bytes(&[]).expect("empty prefix");
        assert_eq!(scan_while_writing(&tree, tree.prefix(all)), expected(), "prefix, keydir {keydir}");
    }
}
