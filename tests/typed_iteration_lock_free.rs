//! Iterating a typed tree takes no lock: with `iter`, `prefix` and `find_by`
//! iterators paused half-way, the same thread puts, updates and deletes
//! records, including the ones under the iterators, and then finishes the
//! iterations, which stay in key order and yield only records that match.
//!
//! Guards against an iterator holding a shard lock (this test would deadlock)
//! and against `find_by` yielding a record whose value changed under it.

use armdb::{Config, Db, Durability};
use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Task {
    #[key]
    queue: u8,
    #[key]
    id: u32,
    #[index]
    state: String,
}

fn task(queue: u8, id: u32, state: &str) -> Task {
    Task { queue, id, state: state.into() }
}

#[test]
fn writes_proceed_while_iterators_are_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Config { shards: 1, durability: Durability::Flush, ..Config::default() })
        .expect("open");
    let tasks = db.tree::<Task>().expect("tree");
    for id in 0..100 {
        tasks.put(&task(1, id, "ready")).expect("put");
        tasks.put(&task(2, id, "ready")).expect("put");
    }

    let mut all = tasks.iter();
    let mut queue = tasks.prefix(TaskKey::prefix_queue(2)).rev();
    let mut ready = tasks.find_by(Task::by_state(), "ready");
    let seen_all: Vec<u32> = all.by_ref().take(50).map(|t| t.id).collect();
    let seen_queue: Vec<u32> = queue.by_ref().take(50).map(|t| t.id).collect();
    let seen_ready: Vec<(u8, u32)> = ready.by_ref().take(50).map(|t| (t.queue, t.id)).collect();
    assert_eq!(seen_all, (0..50).collect::<Vec<_>>());
    assert_eq!(seen_queue, (50..100).rev().collect::<Vec<_>>());
    assert_eq!(seen_ready, (0..50).map(|id| (1, id)).collect::<Vec<_>>(), "find_by is in key order");

    // With one shard, every write needs the lock any iterator would hold.
    for id in (50..100).step_by(2) {
        tasks.put(&task(1, id, "done")).expect("put while iterating");
    }
    tasks.delete(&TaskKey { queue: 2, id: 10 }).expect("delete while iterating");
    tasks
        .update(&TaskKey { queue: 2, id: 11 }, |t| t.map(|t| Task { state: "done".into(), ..t.clone() }))
        .expect("update while iterating");
    tasks.put(&task(0, 0, "ready")).expect("insert before the iterators' position");

    let rest_all: Vec<(u8, u32)> = all.map(|t| (t.queue, t.id)).collect();
    assert_eq!(rest_all.first(), Some(&(1, 50)), "the forward iteration continues where it was");
    assert!(rest_all.windows(2).all(|w| w[0] < w[1]), "still in key order");
    let rest_queue: Vec<u32> = queue.map(|t| t.id).collect();
    let want: Vec<u32> = (0..50).rev().filter(|&id| id != 10).collect();
    assert_eq!(rest_queue, want, "the reverse prefix scan sees the delete");
    let rest_ready: Vec<Task> = ready.map(|t| (*t).clone()).collect();
    assert!(rest_ready.iter().all(|t| t.state == "ready"), "find_by yields only matching records");
    assert!(!rest_ready.iter().any(|t| t.queue == 1 && t.id >= 50 && t.id % 2 == 0), "moved away");
    assert!(rest_ready.iter().any(|t| (t.queue, t.id) == (1, 51)), "untouched records are still found");
    drop(tasks);
    db.close().expect("close");
}
