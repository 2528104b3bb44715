//! Each durability mode does what it says (PITFALLS 7, 8): `Buffered` keeps
//! writes in user space until a flush, `Flush` hands every write to the OS before
//! returning, `Sync` fsyncs. Guards against a durability knob that is not wired.

mod support;

use std::time::Duration;

use armdb::{Config, Db, Durability};

use support::data_bytes;

fn config(durability: Durability) -> Config {
    Config { shards: 2, durability, ..Config::default() }
}

#[test]
fn buffered_writes_wait_for_a_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config(Durability::Buffered { flush_every: Duration::from_secs(3600) }))
        .expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    let empty = data_bytes(dir.path());
    for i in 0..100u32 {
        t.put(&i, b"0123456789abcdef").expect("put");
    }
    assert_eq!(data_bytes(dir.path()), empty, "buffered writes reached the files before any flush");
    db.flush().expect("flush");
    assert!(data_bytes(dir.path()) >= empty + 100 * 40, "flush did not write the buffer");
    assert_eq!(db.stats().fsyncs, 0);
}

#[test]
fn flush_mode_hands_each_write_to_the_os() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config(Durability::Flush)).expect("open");
    let t = db.const_tree::<u32, 16>("t").expect("tree");
    let mut last = data_bytes(dir.path());
    for i in 0..50u32 {
        t.put(&i, &[7; 16]).expect("put");
        let now = data_bytes(dir.path());
        assert!(now > last, "write {i} did not reach the OS before put returned");
        last = now;
    }
    assert_eq!(db.stats().fsyncs, 0, "Flush mode must not fsync");
}

#[test]
fn sync_mode_fsyncs_before_returning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config(Durability::Sync)).expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    for i in 0..20u32 {
        let before = db.stats().fsyncs;
        t.put(&i, b"durable").expect("put");
        assert!(db.stats().fsyncs > before, "write {i} returned without an fsync");
    }
}

#[test]
fn background_flusher_writes_buffers_without_a_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config(Durability::Buffered { flush_every: Duration::from_millis(5) }))
        .expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    let empty = data_bytes(dir.path());
    t.put(&1, b"reaches the file by itself").expect("put");
    // Poll (bounded) for the flusher's effect; the assertion is on the outcome, not a duration.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while data_bytes(dir.path()) == empty {
        assert!(std::time::Instant::now() < deadline, "the background flusher never wrote the buffer");
        std::thread::yield_now();
    }
}
