//! Trees large enough that opening them builds the index on several threads
//! (65,536 entries or more), and batches large enough to apply on several
//! threads, end up with exactly the index a key-by-key build would give:
//! every key, its latest value, key order, nothing deleted, the secondary
//! indexes of a typed tree, over several shards whose parts are merged.

use std::collections::BTreeMap;

use armdb::{Config, Db, Durability};

const KEYS: u64 = 90_000;

#[derive(armdb::Tree, serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "items")]
struct Item {
    #[key]
    id: u64,
    #[index]
    bucket: u8,
    label: String,
}

/// A key order that is not the insertion order.
fn scramble(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

fn config() -> Config {
    Config { shards: 3, max_file_size: 1 << 20, durability: Durability::Flush, ..Config::default() }
}

#[test]
fn a_large_tree_reopens_to_the_same_index() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut var_model = BTreeMap::new();
    let mut const_model = BTreeMap::new();
    let mut typed_model = BTreeMap::new();
    {
        let db = Db::open(dir.path(), config()).expect("open");
        let var = db.var_tree::<u64>("var").expect("var tree");
        let consts = db.const_tree::<u64, 8>("const").expect("const tree");
        let items = db.tree::<Item>().expect("typed tree");
        for round in 0..2u64 {
            for chunk in (0..KEYS).collect::<Vec<_>>().chunks(10_000) {
                let mut b = db.batch();
                for &i in chunk {
                    let k = scramble(i);
                    if round == 1 && i % 4 == 0 {
                        b.delete_var(&var, &k);
                        b.delete_const(&consts, &k);
                        b.delete(&items, &k);
                        var_model.remove(&k);
                        const_model.remove(&k);
                        typed_model.remove(&k);
                        continue;
                    }
                    if round == 1 && i % 4 == 1 {
                        continue;
                    }
                    let v = format!("{k}:{round}").into_bytes();
                    b.put_var(&var, &k, &v);
                    var_model.insert(k, v);
                    let c = (k ^ round).to_le_bytes();
                    b.put_const(&consts, &k, &c);
                    const_model.insert(k, c);
                    let item =
                        Item { id: k, bucket: (k % 5) as u8, label: format!("item {i} round {round}") };
                    b.put(&items, &item);
                    typed_model.insert(k, item);
                }
                b.commit().expect("commit");
            }
        }
        drop((var, consts, items));
        db.close().expect("close");
    }
    assert!(var_model.len() > 65_536, "the trees must be large enough for a parallel build");
    let db = Db::open(dir.path(), config()).expect("reopen");
    let var = db.var_tree::<u64>("var").expect("var tree");
    let consts = db.const_tree::<u64, 8>("const").expect("const tree");
    let items = db.tree::<Item>().expect("typed tree");

    let got: Vec<(u64, Vec<u8>)> =
        var.iter().map(|r| r.map(|(k, v)| (k, v.to_vec()))).collect::<armdb::Result<_>>().expect("iterate");
    assert!(got.iter().map(|(k, _)| k).eq(var_model.keys()), "var tree keys or their order differ");
    assert!(got.iter().map(|(_, v)| v).eq(var_model.values()), "var tree values differ");
    for (k, v) in var_model.iter().step_by(97) {
        assert_eq!(var.get(k).expect("get").as_deref(), Some(v.as_slice()), "var get {k}");
    }

    assert!(consts.iter().eq(const_model.iter().map(|(k, v)| (*k, *v))), "const tree differs");
    assert_eq!(consts.len(), const_model.len());
    for (k, v) in const_model.iter().step_by(89) {
        assert_eq!(consts.get(k), Some(*v), "const get {k}");
    }

    assert_eq!(items.len(), typed_model.len());
    assert!(items.iter().map(|r| (*r).clone()).eq(typed_model.values().cloned()), "typed tree differs");
    for bucket in 0..5u8 {
        let mut found: Vec<u64> = items.find_by(Item::by_bucket(), &bucket).map(|r| r.id).collect();
        found.sort_unstable();
        let want: Vec<u64> = typed_model.values().filter(|r| r.bucket == bucket).map(|r| r.id).collect();
        assert_eq!(found, want, "bucket {bucket}");
    }
    for k in var_model.keys().step_by(1_001) {
        let deleted = k.wrapping_add(1);
        if !var_model.contains_key(&deleted) {
            assert!(var.get(&deleted).expect("get").is_none(), "{deleted} must be absent");
        }
    }
    drop((var, consts, items));
    db.close().expect("close");
}
