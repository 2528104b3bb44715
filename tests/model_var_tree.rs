//! Model test: a `VarTree` driven by thousands of random puts, deletes,
//! inserts, compare-and-swaps and updates behaves exactly like a `BTreeMap`,
//! before and after a clean close, after a drop without close, and after more
//! writes on the reopened database.
//!
//! Files are 16 KiB and some values are larger than a whole file, so every
//! shard rotates many times and values are read back from sealed files, the
//! active file and the write buffer. Empty values must stay distinct from
//! deleted keys. Guards against recovery that resolves keys by file order
//! instead of seq, stale or foreign values served from the value cache, and
//! iterators whose results drift from the map semantics they promise.
//!
//! Reproduce a failure with the printed seed: `ARMDB_SEED=<seed> cargo test --test model_var_tree`.
//! `ARMDB_OPS` overrides the number of operations.

mod support;

use std::collections::BTreeMap;
use std::ops::Bound;

use armdb::{Config, Db, Durability, Prefix, VarTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use support::var_pairs;

const DEFAULT_SEED: u64 = 0x00A4_DB00_C0DE_0002;
const TREE: &str = "model";
const MAX_FILE_SIZE: u64 = 16 * 1024;
/// Most bytes one file can hold: a full file, or one value larger than a file alone.
const MAX_FILE_BYTES_HELD: u64 = MAX_FILE_SIZE + 4096 + 128;

type K = [u8; 4];
type Model = BTreeMap<K, Vec<u8>>;

fn no_background_compaction() -> armdb::CompactionConfig {
    armdb::CompactionConfig { interval: None, ..armdb::CompactionConfig::default() }
}

fn config(durability: Durability) -> Config {
    // The file counts below prove rotation; a background pass would merge files
    // at a moment that depends on the machine's load.
    Config {
        max_file_size: MAX_FILE_SIZE,
        shards: 3,
        durability,
        compaction: no_background_compaction(),
        ..Config::default()
    }
}

/// One of 4 * 8 * 8 * 8 = 2,048 keys; each byte takes few values so that
/// prefixes of every length select a handful of keys.
fn domain_key(i: u16) -> K {
    let i = i % 2048;
    [(i >> 9) as u8 * 60, ((i >> 6) & 7) as u8 * 30, ((i >> 3) & 7) as u8 * 30, (i & 7) as u8 * 30]
}

struct Harness {
    rng: SmallRng,
    model: Model,
    /// Bytes appended over every session, to check that files rotated.
    bytes_appended: u64,
    ops_done: usize,
}

impl Harness {
    fn key(&mut self) -> K {
        domain_key(self.rng.random_range(0..2048))
    }

    /// A key anywhere in the key space, usually one that is not in the domain.
    fn any_key(&mut self) -> K {
        if self.rng.random_bool(0.5) { self.key() } else { self.rng.random() }
    }

    /// Mostly short values, some empty, a few larger than a whole data file.
    fn value(&mut self) -> Vec<u8> {
        let len = match self.rng.random_range(0..1000) {
            0..50 => 0,
            50..995 => self.rng.random_range(1..200),
            _ => self.rng.random_range(MAX_FILE_SIZE as usize..MAX_FILE_SIZE as usize + 4096),
        };
        let mut v = vec![0u8; len];
        self.rng.fill(&mut v[..]);
        // Tag the value with the op so that two writes never store the same bytes.
        let tag = (self.ops_done as u32).to_le_bytes();
        let n = len.min(4);
        v[..n].copy_from_slice(&tag[..n]);
        v
    }

    fn run(&mut self, tree: &VarTree<K>, ops: usize) {
        for _ in 0..ops {
            self.ops_done += 1;
            let op = self.ops_done;
            match self.rng.random_range(0..100) {
                0..30 => {
                    let (k, v) = (self.key(), self.value());
                    tree.put(&k, &v).expect("put");
                    self.model.insert(k, v);
                }
                30..45 => {
                    let k = self.key();
                    let existed = tree.delete(&k).expect("delete");
                    assert_eq!(existed, self.model.remove(&k).is_some(), "op {op}: delete({k:?}) result");
                }
                45..55 => {
                    let (k, v) = (self.key(), self.value());
                    let wrote = tree.insert(&k, &v).expect("insert");
                    let absent = !self.model.contains_key(&k);
                    assert_eq!(wrote, absent, "op {op}: insert({k:?}) result");
                    if absent {
                        self.model.insert(k, v);
                    }
                }
                55..70 => self.cas(tree, op),
                70..80 => self.update(tree, op),
                80..90 => {
                    let k = self.any_key();
                    let got = tree.get(&k).expect("get").map(|b| b.to_vec());
                    assert_eq!(got.as_ref(), self.model.get(&k), "op {op}: get({k:?})");
                    assert_eq!(tree.contains(&k), self.model.contains_key(&k), "op {op}: contains({k:?})");
                }
                90..96 => self.check_range(tree, op),
                96..98 => self.check_prefix(tree, op),
                _ => {
                    let first = tree.first().expect("first").map(|(k, v)| (k, v.to_vec()));
                    let last = tree.last().expect("last").map(|(k, v)| (k, v.to_vec()));
                    let want_first = self.model.first_key_value().map(|(k, v)| (*k, v.clone()));
                    let want_last = self.model.last_key_value().map(|(k, v)| (*k, v.clone()));
                    assert_eq!(first, want_first, "op {op}: first");
                    assert_eq!(last, want_last, "op {op}: last");
                    assert_eq!(tree.len(), self.model.len(), "op {op}: len");
                    assert_eq!(tree.is_empty(), self.model.is_empty(), "op {op}: is_empty");
                }
            }
        }
    }

    fn cas(&mut self, tree: &VarTree<K>, op: usize) {
        let k = self.key();
        let current = self.model.get(&k).cloned();
        // Mostly the right expectation, sometimes a stale value or a wrong presence.
        let expected = match self.rng.random_range(0..10) {
            0..7 => current.clone(),
            7..9 => Some(self.value()),
            _ => None,
        };
        let new = if self.rng.random_bool(0.25) { None } else { Some(self.value()) };
        let wrote = tree.cas(&k, expected.as_deref(), new.as_deref()).expect("cas");
        assert_eq!(
            wrote,
            expected == current,
            "op {op}: cas({k:?}) result, expected {:?}",
            expected.is_some()
        );
        if wrote {
            match new {
                Some(v) => self.model.insert(k, v),
                None => self.model.remove(&k),
            };
        }
    }

    fn update(&mut self, tree: &VarTree<K>, op: usize) {
        let k = self.key();
        let current = self.model.get(&k).cloned();
        let suffix = self.value();
        let delete = self.rng.random_bool(0.2);
        // The new value grows from the old one, as an append-to-list update would.
        let derive = |cur: Option<&[u8]>| {
            let mut v: Vec<u8> = cur.map_or(Vec::new(), |c| c[..c.len().min(64)].to_vec());
            v.extend_from_slice(&suffix[..suffix.len().min(100)]);
            v
        };
        let mut seen = None;
        let new = tree
            .update(&k, |cur| {
                seen = Some(cur.map(<[u8]>::to_vec));
                (!delete).then(|| derive(cur))
            })
            .expect("update");
        assert_eq!(seen, Some(current.clone()), "op {op}: update({k:?}) closure saw the wrong current value");
        let expected_new = (!delete).then(|| derive(current.as_deref()));
        assert_eq!(new.map(|b| b.to_vec()), expected_new, "op {op}: update({k:?}) result");
        match expected_new {
            Some(v) => self.model.insert(k, v),
            None => self.model.remove(&k),
        };
    }

    fn bound(&mut self) -> Bound<K> {
        let k = self.any_key();
        support::random_bound(&mut self.rng, k)
    }

    fn check_range(&mut self, tree: &VarTree<K>, op: usize) {
        let Some((lo, hi)) = support::ordered_bounds(self.bound(), self.bound()) else {
            return; // `range_bounds_both_directions` covers it.
        };
        let what = format!("op {op}: range({lo:?}, {hi:?})");
        let want: Vec<(K, Vec<u8>)> = self.model.range((lo, hi)).map(|(k, v)| (*k, v.clone())).collect();
        assert_eq!(var_pairs(tree.range((lo, hi)), &what), want, "{what} forward");
        let want_rev: Vec<(K, Vec<u8>)> = want.into_iter().rev().collect();
        assert_eq!(var_pairs(tree.range((lo, hi)).rev(), &what), want_rev, "{what} reverse");
    }

    fn check_prefix(&mut self, tree: &VarTree<K>, op: usize) {
        let k = self.any_key();
        let len = self.rng.random_range(0..=4);
        let p = &k[..len];
        let what = format!("op {op}: prefix({p:?})");
        let prefix = Prefix::<K>::from_bytes(p).expect("prefix");
        let want: Vec<(K, Vec<u8>)> =
            self.model.iter().filter(|(k, _)| k.starts_with(p)).map(|(k, v)| (*k, v.clone())).collect();
        assert_eq!(var_pairs(tree.prefix(prefix), &what), want, "{what} forward");
        let want_rev: Vec<(K, Vec<u8>)> = want.into_iter().rev().collect();
        assert_eq!(var_pairs(tree.prefix(prefix).rev(), &what), want_rev, "{what} reverse");
    }

    /// Compares every pair, in both directions, with the model.
    fn check_all(&self, tree: &VarTree<K>, when: &str) {
        let want: Vec<(K, Vec<u8>)> = self.model.iter().map(|(k, v)| (*k, v.clone())).collect();
        let got = var_pairs(tree.iter(), when);
        assert_eq!(got.len(), want.len(), "{when}: number of pairs");
        assert!(got == want, "{when}: forward iteration differs from the model");
        let got_rev = var_pairs(tree.iter().rev(), when);
        let want_rev: Vec<(K, Vec<u8>)> = want.into_iter().rev().collect();
        assert!(got_rev == want_rev, "{when}: reverse iteration differs from the model");
        let keys: Vec<K> = tree.keys().collect();
        assert!(keys.iter().eq(self.model.keys()), "{when}: keys() differs from the model");
        assert_eq!(tree.len(), self.model.len(), "{when}: len");
        for k in (0..2048).map(domain_key) {
            let got = tree.get(&k).expect("get").map(|b| b.to_vec());
            assert_eq!(got.as_ref(), self.model.get(&k), "{when}: get({k:?})");
        }
    }

    /// Runs `ops` in `checkpoints` slices, comparing everything after each.
    fn run_checked(&mut self, tree: &VarTree<K>, ops: usize, checkpoints: usize, phase: &str) {
        for i in 0..checkpoints {
            self.run(tree, ops / checkpoints);
            self.check_all(tree, &format!("{phase}, checkpoint {i} (op {})", self.ops_done));
        }
    }

    fn account(&mut self, db: &Db) {
        self.bytes_appended += db.stats().bytes_written;
    }
}

fn open(dir: &std::path::Path, durability: Durability) -> (Db, VarTree<K>) {
    let db = Db::open(dir, config(durability)).expect("open");
    let tree = db.var_tree::<K>(TREE).expect("var tree");
    (db, tree)
}

#[test]
fn var_tree_matches_btreemap_across_reopens() {
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
        files as u64 * MAX_FILE_BYTES_HELD >= h.bytes_appended && files >= 3 * 3,
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
    assert!(stats.recovery.files >= 3 * 3, "{} files: files did not rotate", stats.recovery.files);
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
