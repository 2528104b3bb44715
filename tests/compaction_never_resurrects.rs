//! Compaction never brings back a deleted or overwritten value (PITFALLS 1, 11).
//!
//! Rounds of random puts, overwrites and deletes over a const tree and a var tree
//! in 4 KiB files, with `compact()` after every round and a close and reopen
//! every few rounds (so compaction also runs over files recovered from hints and
//! scans, and recovery over compaction outputs). After every step both trees
//! must equal a `BTreeMap` model, including after a final reopen. Guards against
//! compaction dropping a tombstone while an older version of its key lives in
//! another file, copying dead versions forward, and recovery resolving keys by
//! file order instead of seq.

mod support;

use std::path::Path;

use armdb::{CompactionConfig, Config, Db, Durability};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use support::TreesModel;

const DEFAULT_SEED: u64 = 0x0C0D_0011;
const KEYS: u32 = 150;

fn rounds() -> usize {
    if support::on_ci() { 24 } else { 60 }
}

fn config() -> Config {
    Config {
        shards: 2,
        max_file_size: 4096,
        durability: Durability::Flush,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        ..Config::default()
    }
}

type Model = TreesModel<u32, 16>;

fn state(db: &Db) -> Model {
    Model::read(db, "consts", "var")
}

fn open(dir: &Path) -> Db {
    Db::open(dir, config()).expect("open")
}

#[test]
fn deleted_keys_stay_deleted_through_compaction_and_reopen() {
    let mut rng = SmallRng::seed_from_u64(support::seed(DEFAULT_SEED));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = open(dir.path());
    let mut model = Model::default();
    let mut op = 0u64;
    let mut compacted = 0;
    let mut tombstones_dropped = 0;
    for round in 0..rounds() {
        let consts = db.const_tree::<u32, 16>("consts").expect("const tree");
        let var = db.var_tree::<u32>("var").expect("var tree");
        // Alternate put-heavy and delete-heavy rounds so that keys are deleted
        // long after they were written, in other files.
        let delete_share = if round % 3 == 2 { 6 } else { 2 };
        for _ in 0..150 {
            op += 1;
            let k = rng.random_range(0..KEYS);
            let delete = rng.random_range(0..10) < delete_share;
            if rng.random_bool(0.5) {
                if delete {
                    let was = consts.delete(&k).expect("delete");
                    assert_eq!(was, model.consts.remove(&k), "round {round} op {op}: delete const {k}");
                } else {
                    let mut v = [0u8; 16];
                    v[..8].copy_from_slice(&op.to_le_bytes());
                    v[8..12].copy_from_slice(&k.to_le_bytes());
                    consts.put(&k, &v).expect("put");
                    model.consts.insert(k, v);
                }
            } else if delete {
                let was = var.delete(&k).expect("delete");
                assert_eq!(was, model.var.remove(&k).is_some(), "round {round} op {op}: delete var {k}");
            } else {
                let mut v = format!("key {k} op {op} ").into_bytes();
                v.resize(v.len() + rng.random_range(0..100), b'.');
                var.put(&k, &v).expect("put");
                model.var.insert(k, v);
            }
        }
        assert_eq!(state(&db), model, "round {round}: before compact()");
        drop((consts, var));
        if round % 4 == 1 {
            // Compaction next runs over files that recovery rebuilt.
            db.close().expect("close");
            db = open(dir.path());
            assert_eq!(state(&db), model, "round {round}: after reopen");
        }
        let report = db.compact().expect("compact");
        compacted += report.files_compacted;
        tombstones_dropped += report.tombstones_dropped;
        assert_eq!(state(&db), model, "round {round}: after compact() ({report:?})");
        if round % 4 == 3 {
            db.close().expect("close");
            db = open(dir.path());
            assert_eq!(state(&db), model, "round {round}: after reopen");
        }
    }
    let stats = db.stats();
    println!(
        "{op} ops, {compacted} files compacted, {tombstones_dropped} tombstones dropped, {} files on disk",
        stats.files
    );
    assert!(compacted > 0, "compaction never ran: the test does not test it");
    db.close().expect("close");
    let db = open(dir.path());
    assert_eq!(state(&db), model, "after the final reopen");
    db.close().expect("close");
}
