//! With `Durability::Buffered`, a large write buffer and a background flush that
//! never fires during the test, VarTree values that exist only in a shard's
//! user-space write buffer are readable by `get`, `iter`, `range`, `cas` and
//! `update` — after further writes, overwrites, deletes and rotations — then
//! after `Db::flush`, and after close and reopen.
//!
//! Guards against reads that `pread` a location the file does not hold yet
//! (returning zeros, a short read or a bogus corruption error), reads of a
//! stale buffer offset after rotation, and data lost between buffer and file.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use armdb::{Config, Db, Durability, VarTree};

/// A data file's header, counted in `disk_bytes` but not in `bytes_written`.
const FILE_HEADER_LEN: u64 = support::FILE_HEADER_LEN as u64;

fn config(value_cache_bytes: usize) -> Config {
    Config {
        shards: 2,
        max_file_size: 4096,
        write_buffer_size: 8 << 20,
        durability: Durability::Buffered { flush_every: Duration::from_secs(3600) },
        value_cache_bytes,
        ..Config::default()
    }
}

/// A value whose bytes say which key and which version they belong to, of a
/// length that varies with both.
fn value(key: u64, version: u32) -> Vec<u8> {
    let len = 1 + (key as usize * 37 + version as usize * 11) % 300;
    let mut v = format!("k{key}v{version}:").into_bytes();
    v.resize(len.max(v.len()), b'a' + (key % 26) as u8);
    v
}

fn check_all(t: &VarTree<u64>, model: &BTreeMap<u64, Vec<u8>>, when: &str) {
    for k in 0..KEYS {
        let got = t.get(&k).unwrap_or_else(|e| panic!("get {k} {when}: {e}"));
        assert_eq!(got.as_deref(), model.get(&k).map(Vec::as_slice), "get {k} {when}");
    }
    let got = support::var_pairs(t.iter(), &format!("iter {when}"));
    let want: Vec<(u64, Vec<u8>)> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(got, want, "iter {when}");
    let got: Vec<u64> =
        t.range(10..20).rev().map(|r| r.unwrap_or_else(|e| panic!("range {when}: {e}")).0).collect();
    let want: Vec<u64> = model.range(10..20).rev().map(|(k, _)| *k).collect();
    assert_eq!(got, want, "reverse range {when}");
}

/// Bytes of entries that sit in write buffers: appended since open but not yet
/// handed to the OS.
fn buffered_bytes(db: &Db) -> u64 {
    let s = db.stats();
    s.bytes_written + FILE_HEADER_LEN * s.files as u64 - s.disk_bytes
}

const KEYS: u64 = 64;

fn run(value_cache_bytes: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config(value_cache_bytes)).expect("open");
    let t = db.var_tree::<u64>("docs").expect("var tree");
    let mut model = BTreeMap::new();
    let ctx = format!("(value_cache_bytes {value_cache_bytes})");

    // A few small values: they fit in the active files, so nothing reaches the OS.
    for k in 0..6 {
        t.put(&k, &value(k, 0)).expect("put");
        model.insert(k, value(k, 0));
    }
    let s = db.stats();
    assert_eq!(s.disk_bytes, FILE_HEADER_LEN * s.files as u64, "values should still be buffered {ctx}");
    assert_eq!(buffered_bytes(&db), s.bytes_written);
    check_all(&t, &model, &format!("while only buffered {ctx}"));

    // cas and update read the buffered value under the shard lock.
    assert!(!t.cas(&1, Some(&value(1, 9)), Some(b"x")).expect("cas"), "cas against a wrong value {ctx}");
    assert!(t.cas(&1, Some(&value(1, 0)), Some(&value(1, 1))).expect("cas"), "cas against buffered {ctx}");
    model.insert(1, value(1, 1));
    let new = t
        .update(&2, |cur| {
            assert_eq!(cur, Some(&value(2, 0)[..]), "update sees the buffered value {ctx}");
            Some(value(2, 1))
        })
        .expect("update");
    assert_eq!(new.as_deref(), Some(&value(2, 1)[..]));
    model.insert(2, value(2, 1));
    assert!(t.delete(&3).expect("delete"));
    model.remove(&3);
    // An overwrite and a read of the overwritten key while both versions are buffered.
    t.put(&4, &value(4, 1)).expect("put");
    model.insert(4, value(4, 1));
    assert_eq!(db.stats().disk_bytes, FILE_HEADER_LEN * db.stats().files as u64, "still buffered {ctx}");
    check_all(&t, &model, &format!("after overwrites in the buffer {ctx}"));

    // Enough writes to rotate every shard several times: each rotation writes the
    // buffer to the sealed file, and the new active file starts a new buffer.
    for round in 2..8u32 {
        for k in 0..KEYS {
            if (k + u64::from(round)) % 5 == 0 {
                t.delete(&k).expect("delete");
                model.remove(&k);
            } else {
                t.put(&k, &value(k, round)).expect("put");
                model.insert(k, value(k, round));
            }
            // Read back at once: the entry just written is in the buffer.
            let got = t.get(&k).expect("get");
            assert_eq!(got.as_deref(), model.get(&k).map(Vec::as_slice), "read-your-write {k} {ctx}");
        }
        check_all(&t, &model, &format!("after round {round} {ctx}"));
        let expected = model.get(&7).cloned();
        let next = value(7, 100 + round);
        assert!(t.cas(&7, expected.as_deref(), Some(&next)).expect("cas"), "cas round {round} {ctx}");
        model.insert(7, next);
    }
    let s = db.stats();
    assert!(s.files > 2 * 3, "every shard should have rotated: {s:?}");
    assert!(buffered_bytes(&db) > 0, "the tail of the writes should still be buffered {ctx}");
    check_all(&t, &model, &format!("after rotations {ctx}"));

    db.flush().expect("flush");
    assert_eq!(buffered_bytes(&db), 0, "flush hands every buffer to the OS {ctx}");
    check_all(&t, &model, &format!("after flush {ctx}"));

    // Writes after the flush go into a buffer again and are readable from it.
    t.put(&5, &value(5, 999)).expect("put");
    model.insert(5, value(5, 999));
    assert!(buffered_bytes(&db) > 0);
    check_all(&t, &model, &format!("after a write following flush {ctx}"));

    drop(t);
    db.close().expect("close");
    let db = Db::open(dir.path(), config(value_cache_bytes)).expect("reopen");
    let t = db.var_tree::<u64>("docs").expect("var tree");
    assert_eq!(db.stats().recovery.truncated_bytes, 0, "close leaves no torn tail {ctx}");
    check_all(&t, &model, &format!("after reopen {ctx}"));
    drop(t);
    db.close().expect("close");
}

#[test]
fn buffered_values_are_readable_without_value_cache() {
    run(0);
}

#[test]
fn buffered_values_are_readable_with_value_cache() {
    run(1 << 20);
}
