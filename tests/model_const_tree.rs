//! Model test: a `ConstTree` driven by thousands of random puts, deletes,
//! inserts, compare-and-swaps and updates behaves exactly like a `BTreeMap`,
//! before and after a clean close, after a drop without close, and after more
//! writes on the reopened database.
//!
//! Files are 16 KiB, so every shard rotates many times. Guards against
//! recovery that resolves keys by file order instead of seq (overwritten or
//! deleted keys coming back), tombstones lost at a file boundary, and iterators
//! or verbs whose results drift from the map semantics they promise.
//!
//! Reproduce a failure with the printed seed: `ARMDB_SEED=<seed> cargo test --test model_const_tree`.
//! `ARMDB_OPS` overrides the number of operations.

mod support;

use std::collections::BTreeMap;
use std::ops::Bound;

use armdb::{Config, ConstTree, Db, Durability, Prefix};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const DEFAULT_SEED: u64 = 0x00A4_DB00_C0DE_0001;
const TREE: &str = "model";
/// Keys are drawn from this many distinct values, so most writes hit existing keys.
const KEY_DOMAIN: u16 = 2_000;
/// Spreads the domain over the whole `u16` space so one-byte prefixes hold a few keys each.
const KEY_STRIDE: u16 = 32;

type Value = [u8; 8];
type Model = BTreeMap<u16, Value>;

fn no_background_compaction() -> armdb::CompactionConfig {
    armdb::CompactionConfig { interval: None, ..armdb::CompactionConfig::default() }
}

fn config(durability: Durability) -> Config {
    // The file counts below prove rotation; a background pass would merge files
    // at a moment that depends on the machine's load.
    Config {
        max_file_size: 16 * 1024,
        shards: 3,
        durability,
        compaction: no_background_compaction(),
        ..Config::default()
    }
}

struct Harness {
    rng: SmallRng,
    model: Model,
    /// Bytes appended over every session, to check that files rotated.
    bytes_appended: u64,
    ops_done: usize,
}

impl Harness {
    fn key(&mut self) -> u16 {
        self.rng.random_range(0..KEY_DOMAIN) * KEY_STRIDE
    }

    /// A key anywhere in `u16`, usually one that is not in the domain.
    fn any_key(&mut self) -> u16 {
        if self.rng.random_bool(0.5) { self.key() } else { self.rng.random() }
    }

    fn value(&mut self) -> Value {
        let mut v: Value = self.rng.random();
        // Make consecutive values distinct even if the RNG repeats itself.
        v[..4].copy_from_slice(&(self.ops_done as u32).to_le_bytes());
        v
    }

    fn run(&mut self, tree: &ConstTree<u16, 8>, ops: usize) {
        for _ in 0..ops {
            self.ops_done += 1;
            let op = self.ops_done;
            match self.rng.random_range(0..100) {
                0..30 => {
                    let (k, v) = (self.key(), self.value());
                    let prev = tree.put(&k, &v).expect("put");
                    assert_eq!(prev, self.model.insert(k, v), "op {op}: put({k}) previous value");
                }
                30..45 => {
                    let k = self.key();
                    let prev = tree.delete(&k).expect("delete");
                    assert_eq!(prev, self.model.remove(&k), "op {op}: delete({k}) previous value");
                }
                45..55 => {
                    let (k, v) = (self.key(), self.value());
                    let wrote = tree.insert(&k, &v).expect("insert");
                    let absent = !self.model.contains_key(&k);
                    assert_eq!(wrote, absent, "op {op}: insert({k}) result");
                    if absent {
                        self.model.insert(k, v);
                    }
                }
                55..70 => self.cas(tree, op),
                70..80 => self.update(tree, op),
                80..90 => {
                    let k = self.any_key();
                    assert_eq!(tree.get(&k), self.model.get(&k).copied(), "op {op}: get({k})");
                    assert_eq!(tree.contains(&k), self.model.contains_key(&k), "op {op}: contains({k})");
                }
                90..96 => self.check_range(tree, op),
                96..98 => self.check_prefix(tree, op),
                _ => {
                    let first = self.model.first_key_value().map(|(k, v)| (*k, *v));
                    let last = self.model.last_key_value().map(|(k, v)| (*k, *v));
                    assert_eq!(tree.first(), first, "op {op}: first");
                    assert_eq!(tree.last(), last, "op {op}: last");
                    assert_eq!(tree.len(), self.model.len(), "op {op}: len");
                    assert_eq!(tree.is_empty(), self.model.is_empty(), "op {op}: is_empty");
                }
            }
        }
    }

    fn cas(&mut self, tree: &ConstTree<u16, 8>, op: usize) {
        let k = self.key();
        let current = self.model.get(&k).copied();
        // Mostly the right expectation, sometimes a stale value or a wrong presence.
        let expected = match self.rng.random_range(0..10) {
            0..7 => current,
            7..9 => Some(self.value()),
            _ => None,
        };
        let new = if self.rng.random_bool(0.25) { None } else { Some(self.value()) };
        let wrote = tree.cas(&k, expected.as_ref(), new.as_ref()).expect("cas");
        assert_eq!(
            wrote,
            expected == current,
            "op {op}: cas({k}, {expected:?} -> {new:?}), current {current:?}"
        );
        if wrote {
            match new {
                Some(v) => self.model.insert(k, v),
                None => self.model.remove(&k),
            };
        }
    }

    fn update(&mut self, tree: &ConstTree<u16, 8>, op: usize) {
        let k = self.key();
        let current = self.model.get(&k).copied();
        let replacement = self.value();
        let delete = self.rng.random_bool(0.2);
        let mut seen = None;
        let new = tree
            .update(&k, |cur| {
                seen = Some(cur.copied());
                if delete {
                    None
                } else {
                    // Derive the new value from the old one, as a counter would.
                    let mut v = replacement;
                    v[7] = cur.map_or(0, |c| c[7].wrapping_add(1));
                    Some(v)
                }
            })
            .expect("update");
        assert_eq!(seen, Some(current), "op {op}: update({k}) closure saw the wrong current value");
        let expected_new = (!delete).then(|| {
            let mut v = replacement;
            v[7] = current.map_or(0, |c| c[7].wrapping_add(1));
            v
        });
        assert_eq!(new, expected_new, "op {op}: update({k}) result");
        match expected_new {
            Some(v) => self.model.insert(k, v),
            None => self.model.remove(&k),
        };
    }

    fn bound(&mut self) -> Bound<u16> {
        let k = self.any_key();
        support::random_bound(&mut self.rng, k)
    }

    fn check_range(&mut self, tree: &ConstTree<u16, 8>, op: usize) {
        let Some((lo, hi)) = support::ordered_bounds(self.bound(), self.bound()) else {
            return; // `range_bounds_both_directions` covers it.
        };
        let want: Vec<(u16, Value)> = self.model.range((lo, hi)).map(|(k, v)| (*k, *v)).collect();
        let got: Vec<(u16, Value)> = tree.range((lo, hi)).collect();
        assert_eq!(got, want, "op {op}: range({lo:?}, {hi:?}) forward");
        let got_rev: Vec<(u16, Value)> = tree.range((lo, hi)).rev().collect();
        let want_rev: Vec<(u16, Value)> = want.into_iter().rev().collect();
        assert_eq!(got_rev, want_rev, "op {op}: range({lo:?}, {hi:?}) reverse");
    }

    fn check_prefix(&mut self, tree: &ConstTree<u16, 8>, op: usize) {
        let k = self.any_key().to_be_bytes();
        let len = self.rng.random_range(0..=2);
        let p = &k[..len];
        let prefix = Prefix::<u16>::from_bytes(p).expect("prefix");
        let want: Vec<(u16, Value)> = self
            .model
            .iter()
            .filter(|(k, _)| k.to_be_bytes().starts_with(p))
            .map(|(k, v)| (*k, *v))
            .collect();
        let got: Vec<(u16, Value)> = tree.prefix(prefix).collect();
        assert_eq!(got, want, "op {op}: prefix({p:?}) forward");
        let got_rev: Vec<(u16, Value)> = tree.prefix(prefix).rev().collect();
        let want_rev: Vec<(u16, Value)> = want.into_iter().rev().collect();
        assert_eq!(got_rev, want_rev, "op {op}: prefix({p:?}) reverse");
    }

    /// Compares every pair, in both directions, with the model.
    fn check_all(&self, tree: &ConstTree<u16, 8>, when: &str) {
        let want: Vec<(u16, Value)> = self.model.iter().map(|(k, v)| (*k, *v)).collect();
        let got: Vec<(u16, Value)> = tree.iter().collect();
        assert_eq!(got.len(), want.len(), "{when}: number of pairs");
        assert_eq!(got, want, "{when}: forward iteration");
        let got_rev: Vec<(u16, Value)> = tree.iter().rev().collect();
        let want_rev: Vec<(u16, Value)> = want.into_iter().rev().collect();
        assert_eq!(got_rev, want_rev, "{when}: reverse iteration");
        assert_eq!(tree.len(), self.model.len(), "{when}: len");
        for k in (0..KEY_DOMAIN).map(|k| k * KEY_STRIDE) {
            assert_eq!(tree.get(&k), self.model.get(&k).copied(), "{when}: get({k})");
        }
    }

    /// Runs `ops` in `checkpoints` slices, comparing everything after each.
    fn run_checked(&mut self, tree: &ConstTree<u16, 8>, ops: usize, checkpoints: usize, phase: &str) {
        for i in 0..checkpoints {
            self.run(tree, ops / checkpoints);
            self.check_all(tree, &format!("{phase}, checkpoint {i} (op {})", self.ops_done));
        }
    }

    fn account(&mut self, db: &Db) {
        self.bytes_appended += db.stats().bytes_written;
    }
}

fn open(dir: &std::path::Path, durability: Durability) -> (Db, ConstTree<u16, 8>) {
    let db = Db::open(dir, config(durability)).expect("open");
    let tree = db.const_tree::<u16, 8>(TREE).expect("const tree");
    (db, tree)
}

#[test]
fn const_tree_matches_btreemap_across_reopens() {
    let seed = support::seed(DEFAULT_SEED);
    // The CI budget is fixed; a local run may afford more ops.
    let ops = support::op_count(20_000, 40_000);
    println!("ops={ops}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h =
        Harness { rng: SmallRng::seed_from_u64(seed), model: Model::new(), bytes_appended: 0, ops_done: 0 };

    // Phase 1: the default buffered durability, then a clean close.
    let (db, tree) = open(dir.path(), Durability::default());
    h.run_checked(&tree, ops * 2 / 5, 4, "phase 1");
    h.account(&db);
    drop(tree);
    db.close().expect("close");

    // Phase 2: reopen, compare, write more, then drop every handle without closing.
    let (db, tree) = open(dir.path(), Durability::Flush);
    h.check_all(&tree, "after close and reopen");
    let files = db.stats().recovery.files;
    assert!(
        files as u64 * 16 * 1024 >= h.bytes_appended && files >= 3 * 3,
        "{files} files cannot hold {} appended bytes: files did not rotate",
        h.bytes_appended
    );
    h.run_checked(&tree, ops * 3 / 10, 3, "phase 2");
    h.account(&db);
    drop(tree);
    drop(db);

    // Phase 3: reopen after the drop, compare, write more, close.
    let (db, tree) = open(dir.path(), Durability::Flush);
    h.check_all(&tree, "after drop without close and reopen");
    h.run_checked(&tree, ops * 3 / 10, 3, "phase 3");
    h.account(&db);
    drop(tree);
    db.close().expect("close");

    // Final reopen: everything written in every phase is there, and nothing else.
    let (db, tree) = open(dir.path(), Durability::default());
    h.check_all(&tree, "final reopen");
    let stats = db.stats();
    assert_eq!(stats.keys, h.model.len() as u64, "stats.keys");
    assert!(
        stats.recovery.files as u64 * 16 * 1024 >= h.bytes_appended,
        "{} files cannot hold {} appended bytes",
        stats.recovery.files,
        h.bytes_appended
    );
    println!(
        "ops={} keys={} files={} appended={}B",
        h.ops_done,
        h.model.len(),
        stats.recovery.files,
        h.bytes_appended
    );
    drop(tree);
    db.close().expect("close");
}
