//! `Durability::Sync` shares fsyncs between concurrent writers (group commit)
//! and still makes every acknowledged write durable.
//!
//! Four threads released together by a barrier each put N distinct keys into one
//! var tree of a one-shard database. Afterwards the shard must have done fewer
//! `fdatasync` calls than it appended entries (a writer that finds its entry
//! already synced by another's fsync returns without one of its own), and every
//! write must be present, with its value, after the database is dropped without
//! `close` and reopened. Guards against one fsync per write under concurrency
//! (no group commit), and against a group commit that returns to a writer whose
//! entry the shared fsync did not cover.

mod support;

use std::sync::Barrier;

use armdb::{Config, Db, Durability};

const THREADS: u32 = 4;

fn puts_per_thread() -> u32 {
    if support::on_ci() { 150 } else { 400 }
}

fn config() -> Config {
    // One shard, so every writer contends for the same file and its fsyncs.
    Config { shards: 1, durability: Durability::Sync, ..Config::default() }
}

fn value(thread: u32, i: u32) -> Vec<u8> {
    format!("thread {thread} write {i} {}", "x".repeat((i % 17) as usize)).into_bytes()
}

#[test]
fn concurrent_sync_writers_share_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = puts_per_thread();
    let db = Db::open(dir.path(), config()).expect("open");
    let tree = db.var_tree::<u32>("t").expect("tree");
    let before = db.stats();
    let barrier = Barrier::new(THREADS as usize);
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (tree, barrier) = (&tree, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..n {
                    tree.put(&(thread * n + i), &value(thread, i)).expect("put");
                }
            });
        }
    });
    let stats = db.stats();
    let writes = stats.writes - before.writes;
    let fsyncs = stats.fsyncs - before.fsyncs;
    println!("{writes} writes, {fsyncs} fsyncs");
    assert_eq!(writes, u64::from(THREADS * n), "one entry per put");
    assert!(fsyncs > 0, "Sync mode must fsync");
    assert!(fsyncs < writes, "{fsyncs} fsyncs for {writes} concurrent writes: no group commit");

    // Every write was durable when its put returned: no close needed.
    drop(tree);
    drop(db);
    let db = Db::open(dir.path(), config()).expect("reopen");
    let tree = db.var_tree::<u32>("t").expect("tree");
    assert_eq!(tree.len(), (THREADS * n) as usize);
    for thread in 0..THREADS {
        for i in 0..n {
            let got = tree.get(&(thread * n + i)).expect("get");
            assert_eq!(got.as_deref(), Some(&value(thread, i)[..]), "thread {thread} write {i}");
        }
    }
}
