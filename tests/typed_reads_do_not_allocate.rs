//! Typed reads cost an `Arc` clone and nothing else: `get`, `contains`, `len`,
//! `iter`, `range`, `prefix`, `first`, `last`, `get_by` and `find_by` (with
//! index values short enough for the inline buffer) make no heap allocation
//! on the reading thread, counted by a global allocator.
//!
//! Guards against reads that decode from bytes, clone records, collect into
//! temporary vectors, or box their iterators.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use armdb::{Config, Db, Durability};
use serde::{Deserialize, Serialize};

/// Counts allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a thread-local `Cell` with a const initialiser, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: as for `dealloc`, and `new_size` is the caller's valid size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Order {
    #[key]
    customer: u32,
    #[key]
    id: u64,
    #[index(unique)]
    reference: String,
    #[index]
    status: String,
    lines: Vec<String>,
}

/// Runs `read` once to warm per-thread state (epoch registration), then
/// asserts that a second run allocates nothing.
#[track_caller]
fn assert_no_alloc<T>(what: &str, mut read: impl FnMut() -> T) {
    drop(read());
    let before = allocations();
    let out = read();
    let after = allocations();
    drop(out);
    assert_eq!(after - before, 0, "{what} allocated {} times", after - before);
}

#[test]
fn typed_reads_only_clone_arcs() {
    let before = allocations();
    let probe = std::hint::black_box(vec![1u8; 10]);
    assert!(allocations() > before, "the counting allocator sees this thread's allocations");
    drop(probe);

    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Config { shards: 2, durability: Durability::Flush, ..Config::default() })
        .expect("open");
    let orders = db.tree::<Order>().expect("tree");
    for customer in 0..4u32 {
        for id in 0..50u64 {
            let status = if id % 3 == 0 { "open" } else { "shipped" };
            let lines = vec![format!("item {id}"); 3];
            let reference = format!("ref-{customer}-{id}");
            orders.put(&Order { customer, id, reference, status: status.into(), lines }).expect("put");
        }
    }
    let key = OrderKey { customer: 2, id: 7 };

    assert_no_alloc("get", || orders.get(&key).expect("get"));
    assert_no_alloc("contains", || orders.contains(&key));
    assert_no_alloc("len", || orders.len());
    assert_no_alloc("first and last", || (orders.first(), orders.last()));
    assert_no_alloc("iter", || orders.iter().map(|o| o.lines.len()).sum::<usize>());
    assert_no_alloc("iter rev", || orders.iter().rev().filter(|o| o.id == 3).count());
    assert_no_alloc("range", || orders.range(key..).count());
    assert_no_alloc("prefix", || orders.prefix(OrderKey::prefix_customer(1)).rev().count());
    assert_no_alloc("get_by", || orders.get_by(Order::by_reference(), "ref-3-49").expect("get_by"));
    assert_no_alloc("find_by", || orders.find_by(Order::by_status(), "open").count());
    assert_no_alloc("find_by rev", || orders.find_by(Order::by_status(), "shipped").rev().count());

    assert_eq!(orders.find_by(Order::by_status(), "open").count(), 4 * 17);
    assert_eq!(orders.get_by(Order::by_reference(), "ref-3-49").expect("get_by").map(|o| o.id), Some(49));
    drop(orders);
    db.close().expect("close");
}
