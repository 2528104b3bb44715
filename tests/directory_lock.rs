//! One open `Db` per directory: a second `Db::open` of the same directory while
//! the first is open (through any handle, a tree handle included) fails with
//! `Error::Locked`; after `close()`, or after every handle is dropped, it
//! opens. The shard count is fixed at creation: reopening with another
//! `Config::shards` keeps the stored one and every key stays readable.
//!
//! Guards against two writers appending to one directory and losing each
//! other's writes, a lock that outlives `close`, and keys routed to the wrong
//! shard after a reopen with a different shard count.

use armdb::{Config, Db, Durability, Error};

fn config(shards: usize) -> Config {
    Config { max_file_size: 4096, shards, durability: Durability::Flush, ..Config::default() }
}

#[track_caller]
fn assert_locked(result: armdb::Result<Db>, dir: &std::path::Path, what: &str) {
    match result {
        Err(Error::Locked { path }) => {
            assert!(path.starts_with(dir), "{what}: lock path {path:?} is inside {dir:?}");
        }
        other => panic!("{what}: expected Error::Locked, got {other:?}"),
    }
}

#[test]
fn second_open_is_locked_until_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config(2)).expect("open");
    let t = db.const_tree::<u32, 4>("t").expect("tree");
    t.put(&1, b"one!").expect("put");

    assert_locked(Db::open(dir.path(), config(2)), dir.path(), "second open");
    assert_locked(Db::open(dir.path(), config(2)), dir.path(), "third open");
    // The refused opens did not disturb the open database.
    t.put(&2, b"two!").expect("put after refused opens");
    assert_eq!(t.len(), 2);

    let clone = db.clone();
    assert_locked(Db::open(dir.path(), config(2)), dir.path(), "open while a clone is alive");
    let stale_tree = t.clone();
    drop(t);
    db.close().expect("close");

    // `close` releases the lock even though a clone of the handle is still alive.
    let db = Db::open(dir.path(), config(2)).expect("open after close");
    let t = db.const_tree::<u32, 4>("t").expect("tree");
    assert_eq!(t.get(&1), Some(*b"one!"));
    assert_eq!(t.get(&2), Some(*b"two!"));
    // Surviving handles of the closed database refuse writes instead of
    // appending to files that now belong to another `Db`.
    match stale_tree.put(&3, b"bad!") {
        Err(Error::Closed) => {}
        other => panic!("a write through a tree of a closed Db: expected Error::Closed, got {other:?}"),
    }
    match clone.const_tree::<u32, 4>("t") {
        Err(Error::Closed) => {}
        other => panic!("opening a tree of a closed Db: expected Error::Closed, got {other:?}"),
    }
    drop((clone, stale_tree));
    assert_eq!(t.get(&3), None);
    drop(t);
    db.close().expect("close");
}

#[test]
fn second_open_is_locked_until_every_handle_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config(2)).expect("open");
    let clone = db.clone();
    let c = db.const_tree::<u32, 4>("c").expect("const tree");
    let v = db.var_tree::<u32>("v").expect("var tree");
    c.put(&1, b"one!").expect("put");
    v.put(&1, b"one").expect("put");

    drop(db);
    assert_locked(Db::open(dir.path(), config(2)), dir.path(), "open while a Db clone is alive");
    drop(clone);
    // A tree handle can still write, so it must keep the directory locked.
    assert_locked(Db::open(dir.path(), config(2)), dir.path(), "open while tree handles are alive");
    c.put(&2, b"two!").expect("put through a tree handle that outlived its Db");
    drop(c);
    assert_locked(Db::open(dir.path(), config(2)), dir.path(), "open while a var tree handle is alive");
    v.put(&2, b"two").expect("put");
    drop(v);

    let db = Db::open(dir.path(), config(2)).expect("open after every handle was dropped");
    let c = db.const_tree::<u32, 4>("c").expect("const tree");
    let v = db.var_tree::<u32>("v").expect("var tree");
    assert_eq!(c.iter().collect::<Vec<_>>(), vec![(1, *b"one!"), (2, *b"two!")]);
    assert_eq!(v.get(&2).expect("get").as_deref(), Some(&b"two"[..]));
    drop((c, v));
    db.close().expect("close");
}

#[test]
fn reopening_with_another_shard_count_keeps_the_stored_one() {
    const KEYS: u32 = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), config(3)).expect("create with 3 shards");
        assert_eq!(db.stats().shards, 3);
        let c = db.const_tree::<u32, 4>("c").expect("const tree");
        let v = db.var_tree::<u32>("v").expect("var tree");
        for k in 0..KEYS {
            c.put(&k, &k.to_le_bytes()).expect("put");
            v.put(&k, format!("v{k}").as_bytes()).expect("put");
        }
        drop((c, v));
        db.close().expect("close");
    }
    for (round, shards) in [5, 1, 16, 3].into_iter().enumerate() {
        let round = round as u32;
        let db = Db::open(dir.path(), config(shards)).expect("reopen with another shard count");
        assert_eq!(db.stats().shards, 3, "reopened with shards = {shards}: the stored count wins");
        let c = db.const_tree::<u32, 4>("c").expect("const tree");
        let v = db.var_tree::<u32>("v").expect("var tree");
        // Every key, old and written in earlier rounds, is found by point reads
        // (which route through the shard hash) and by iteration.
        assert_eq!(c.len() as u32, KEYS + round);
        assert_eq!(v.len() as u32, KEYS + round);
        for k in 0..KEYS + round {
            assert_eq!(c.get(&k), Some(k.to_le_bytes()), "round {round}: c.get({k})");
            let got = v.get(&k).expect("get");
            assert_eq!(got.as_deref(), Some(format!("v{k}").as_bytes()), "round {round}: v.get({k})");
        }
        // Overwrites must land where later reopens look for them.
        let k = KEYS + round;
        c.put(&k, &k.to_le_bytes()).expect("put");
        v.put(&k, format!("v{k}").as_bytes()).expect("put");
        assert!(!c.insert(&0, &[9; 4]).expect("insert of an existing key"), "round {round}");
        drop((c, v));
        db.close().expect("close");
    }
}
