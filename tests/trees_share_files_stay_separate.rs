//! Trees that share one database (and so the same shard files) never see each
//! other's data: the same keys written with different values to a const and a
//! var tree, and to two const trees of the same shape, keep their own values,
//! and a delete in one tree leaves the others untouched, before and after reopen.
//!
//! Guards against entries resolved by key alone instead of (tree, key), a
//! recovery that hands one tree's entries to another, and a value cache or
//! location check that lets a var tree read a const tree's entry.

use std::collections::BTreeMap;

use armdb::{Config, ConstTree, Db, Durability, VarTree};

const KEYS: u32 = 600;

fn config() -> Config {
    Config { max_file_size: 4096, shards: 3, durability: Durability::Flush, ..Config::default() }
}

struct Trees {
    /// Const and var trees with the same key length.
    c: ConstTree<u32, 8>,
    v: VarTree<u32>,
    /// Two const trees of exactly the same shape.
    c1: ConstTree<u32, 8>,
    c2: ConstTree<u32, 8>,
}

fn open(db: &Db) -> Trees {
    Trees {
        c: db.const_tree::<u32, 8>("c").expect("const tree c"),
        v: db.var_tree::<u32>("v").expect("var tree v"),
        c1: db.const_tree::<u32, 8>("c1").expect("const tree c1"),
        c2: db.const_tree::<u32, 8>("c2").expect("const tree c2"),
    }
}

/// A distinct value per (tree, key); the var tree gets the const tree's bytes
/// followed by more, so a read of the wrong entry cannot pass by accident.
fn value(tag: u8, k: u32) -> [u8; 8] {
    let mut v = [tag; 8];
    v[4..].copy_from_slice(&k.to_le_bytes());
    v
}

fn var_value(k: u32) -> Vec<u8> {
    let mut v = value(b'c', k).to_vec();
    v.extend_from_slice(format!("var-{k}").as_bytes());
    v
}

/// What each tree should hold.
#[derive(Default)]
struct Expected {
    c: BTreeMap<u32, [u8; 8]>,
    v: BTreeMap<u32, Vec<u8>>,
    c1: BTreeMap<u32, [u8; 8]>,
    c2: BTreeMap<u32, [u8; 8]>,
}

fn check(t: &Trees, want: &Expected, when: &str) {
    let c: Vec<(u32, [u8; 8])> = t.c.iter().collect();
    assert!(c.iter().map(|(k, v)| (k, v)).eq(want.c.iter()), "{when}: const tree c");
    let c1: Vec<(u32, [u8; 8])> = t.c1.iter().collect();
    assert!(c1.iter().map(|(k, v)| (k, v)).eq(want.c1.iter()), "{when}: const tree c1");
    let c2: Vec<(u32, [u8; 8])> = t.c2.iter().collect();
    assert!(c2.iter().map(|(k, v)| (k, v)).eq(want.c2.iter()), "{when}: const tree c2");
    let v: Vec<(u32, Vec<u8>)> =
        t.v.iter().map(|r| r.map(|(k, b)| (k, b.to_vec())).expect("read var value")).collect();
    assert!(v.iter().map(|(k, v)| (k, v)).eq(want.v.iter()), "{when}: var tree v");
    for k in 0..KEYS {
        assert_eq!(t.c.get(&k), want.c.get(&k).copied(), "{when}: c.get({k})");
        assert_eq!(t.c1.get(&k), want.c1.get(&k).copied(), "{when}: c1.get({k})");
        assert_eq!(t.c2.get(&k), want.c2.get(&k).copied(), "{when}: c2.get({k})");
        let got = t.v.get(&k).expect("v.get").map(|b| b.to_vec());
        assert_eq!(got.as_ref(), want.v.get(&k), "{when}: v.get({k})");
    }
    assert_eq!(t.c.len(), want.c.len(), "{when}: c.len");
    assert_eq!(t.v.len(), want.v.len(), "{when}: v.len");
    assert_eq!(t.c1.len(), want.c1.len(), "{when}: c1.len");
    assert_eq!(t.c2.len(), want.c2.len(), "{when}: c2.len");
}

#[test]
fn trees_with_the_same_keys_keep_their_own_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut want = Expected::default();

    let db = Db::open(dir.path(), config()).expect("open");
    let t = open(&db);
    // Interleave the trees so that every file holds entries of all of them.
    for k in 0..KEYS {
        t.c.put(&k, &value(b'c', k)).expect("put c");
        t.v.put(&k, &var_value(k)).expect("put v");
        t.c1.put(&k, &value(b'1', k)).expect("put c1");
        t.c2.put(&k, &value(b'2', k)).expect("put c2");
        want.c.insert(k, value(b'c', k));
        want.v.insert(k, var_value(k));
        want.c1.insert(k, value(b'1', k));
        want.c2.insert(k, value(b'2', k));
    }
    check(&t, &want, "after writing");

    // A delete in one tree leaves the same key in every other tree.
    for k in (0..KEYS).step_by(2) {
        assert_eq!(t.c.delete(&k).expect("delete c"), Some(value(b'c', k)));
        want.c.remove(&k);
    }
    for k in (0..KEYS).step_by(3) {
        assert!(t.v.delete(&k).expect("delete v"));
        want.v.remove(&k);
    }
    for k in (1..KEYS).step_by(2) {
        assert_eq!(t.c1.delete(&k).expect("delete c1"), Some(value(b'1', k)));
        want.c1.remove(&k);
    }
    check(&t, &want, "after deletes");
    assert_eq!(db.stats().trees, 4);
    drop(t);
    db.close().expect("close");

    let db = Db::open(dir.path(), config()).expect("reopen");
    assert!(db.stats().recovery.files > 3, "files should have rotated: {:?}", db.stats().recovery);
    let t = open(&db);
    check(&t, &want, "after close and reopen");

    // Deleting every key of one tree, and overwriting in another, after reopen.
    for k in 0..KEYS {
        t.c2.delete(&k).expect("delete c2");
        want.c2.remove(&k);
        if k % 5 == 0 {
            t.c.put(&k, &value(b'C', k)).expect("put c again");
            want.c.insert(k, value(b'C', k));
        }
    }
    assert!(t.c2.is_empty());
    check(&t, &want, "after deleting all of c2");
    drop(t);
    drop(db);

    let db = Db::open(dir.path(), config()).expect("reopen after drop");
    let t = open(&db);
    check(&t, &want, "after drop and reopen");
    assert_eq!(
        db.stats().keys,
        (want.c.len() + want.v.len() + want.c1.len() + want.c2.len()) as u64,
        "stats.keys counts every tree's keys once"
    );
    drop(t);
    db.close().expect("close");
}

#[test]
fn an_unopened_tree_does_not_leak_into_an_opened_one() {
    // Recovery stages entries of trees not opened yet; opening one tree must
    // install only its own entries, and the other's stay staged for later.
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), config()).expect("open");
        let a = db.const_tree::<u32, 8>("a").expect("tree a");
        let b = db.const_tree::<u32, 8>("b").expect("tree b");
        for k in 0..KEYS {
            a.put(&k, &value(b'a', k)).expect("put a");
            b.put(&k, &value(b'b', k)).expect("put b");
        }
        for k in (0..KEYS).step_by(2) {
            b.delete(&k).expect("delete b");
        }
        drop((a, b));
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), config()).expect("reopen");
    assert_eq!(db.stats().keys, u64::from(KEYS + KEYS / 2), "staged keys of both trees");
    let b = db.const_tree::<u32, 8>("b").expect("tree b");
    let got: Vec<(u32, [u8; 8])> = b.iter().collect();
    let want: Vec<(u32, [u8; 8])> = (1..KEYS).step_by(2).map(|k| (k, value(b'b', k))).collect();
    assert_eq!(got, want, "tree b holds only its own live entries");
    let a = db.const_tree::<u32, 8>("a").expect("tree a");
    let got: Vec<(u32, [u8; 8])> = a.iter().collect();
    let want: Vec<(u32, [u8; 8])> = (0..KEYS).map(|k| (k, value(b'a', k))).collect();
    assert_eq!(got, want, "tree a is untouched by b's deletes");
    drop((a, b));
    db.close().expect("close");
}
