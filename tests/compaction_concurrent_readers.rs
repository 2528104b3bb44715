//! Readers running while compaction rewrites files only ever see correct values
//! (PITFALLS 12, 13, 14, 15).
//!
//! One writer overwrites and deletes keys of a var tree and a const tree; every
//! value names its key and version and carries a checksum. Two readers do point
//! reads and ranges on both trees while a third thread calls `compact()` a fixed
//! number of times, spread over the writer's run; the value cache is off, so
//! every var read goes to the files. A reader must never get an error, a torn or
//! malformed value, another key's value, or an older version of a key than it
//! has already seen by a `get` or a range (reads are monotonic per key); every
//! `compact()` must succeed. At the end both trees equal the writer's model, also
//! after a reopen. Guards against readers seeing zeros or foreign bytes from a
//! file published before it was written, "not found" or an I/O error for a live
//! key whose file was just retired, stale locations winning over newer writes,
//! and point reads and ranges disagreeing about which version is current.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use armdb::{CompactionConfig, Config, ConstTree, Db, Durability, VarTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use support::{TreesModel, fnv1a64 as checksum};

const DEFAULT_SEED: u64 = 0x0C0D_0012;
const KEYS: u32 = 64;

fn config() -> Config {
    Config {
        shards: 2,
        max_file_size: 4096,
        durability: Durability::Buffered { flush_every: std::time::Duration::from_millis(2) },
        value_cache_bytes: 0,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        ..Config::default()
    }
}

/// `key u32 | version u64 | len u16 | payload | checksum u64`, payload bytes
/// derived from key and version.
fn var_value(key: u32, version: u64, len: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(22 + len as usize);
    v.extend_from_slice(&key.to_le_bytes());
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v.extend((0..len).map(|i| (u64::from(key) * 31 + version * 7 + u64::from(i)) as u8));
    let sum = checksum(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// Checks a var value read for `key`; returns its version.
fn check_var(key: u32, v: &[u8]) -> u64 {
    assert!(v.len() >= 22, "var key {key}: value of {} bytes is malformed: {v:?}", v.len());
    let (body, sum) = v.split_at(v.len() - 8);
    assert_eq!(
        checksum(body).to_le_bytes(),
        sum,
        "var key {key}: torn or foreign value of {} bytes: {v:?}",
        v.len()
    );
    let got_key = u32::from_le_bytes(v[..4].try_into().expect("4 bytes"));
    assert_eq!(got_key, key, "var key {key}: got the value of key {got_key}");
    let version = u64::from_le_bytes(v[4..12].try_into().expect("8 bytes"));
    let len = u16::from_le_bytes([v[12], v[13]]);
    assert_eq!(v, &var_value(key, version, len)[..], "var key {key}: malformed value");
    version
}

/// `key u32 | version u64 | checksum u64 | key u32`.
fn const_value(key: u32, version: u64) -> [u8; 24] {
    let mut v = [0u8; 24];
    v[..4].copy_from_slice(&key.to_le_bytes());
    v[4..12].copy_from_slice(&version.to_le_bytes());
    let sum = checksum(&v[..12]);
    v[12..20].copy_from_slice(&sum.to_le_bytes());
    v[20..].copy_from_slice(&key.to_le_bytes());
    v
}

/// Checks a const value read for `key`; returns its version.
fn check_const(key: u32, v: &[u8; 24]) -> u64 {
    let version = u64::from_le_bytes(v[4..12].try_into().expect("8 bytes"));
    assert_eq!(v, &const_value(key, version), "const key {key}: torn or foreign value {v:?}");
    version
}

/// Sets its flag when dropped, so that a thread that panics still releases the
/// readers waiting for it.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

type Model = TreesModel<u32, 24>;

fn state(db: &Db) -> Model {
    Model::read(db, "consts", "var")
}

/// Per reader: the highest version seen of each key, which must never go back.
#[derive(Default)]
struct Seen {
    var: HashMap<u32, (u64, &'static str)>,
    consts: HashMap<u32, (u64, &'static str)>,
}

fn saw(seen: &mut HashMap<u32, (u64, &'static str)>, tree: &str, key: u32, version: u64, how: &'static str) {
    let last = seen.entry(key).or_insert((0, ""));
    assert!(version >= last.0, "{tree} key {key}: read version {version} by {how} after version {last:?}");
    *last = (version, how);
}

fn read_once(rng: &mut SmallRng, var: &VarTree<u32>, consts: &ConstTree<u32, 24>, seen: &mut Seen) -> u64 {
    let mut reads = 0;
    if rng.random_bool(0.7) {
        let k = rng.random_range(0..KEYS);
        if let Some(v) = var.get(&k).expect("var get") {
            saw(&mut seen.var, "var", k, check_var(k, &v), "get");
        }
        if let Some(v) = consts.get(&k) {
            saw(&mut seen.consts, "const", k, check_const(k, &v), "get");
        }
        reads += 2;
    } else {
        let lo = rng.random_range(0..KEYS);
        let hi = rng.random_range(lo..=KEYS);
        let forward = rng.random_bool(0.5);
        let items: Vec<(u32, Vec<u8>)> = if forward {
            var.range(lo..hi).map(|r| r.expect("var range")).map(|(k, v)| (k, v.to_vec())).collect()
        } else {
            var.range(lo..hi).rev().map(|r| r.expect("var range")).map(|(k, v)| (k, v.to_vec())).collect()
        };
        let mut prev: Option<u32> = None;
        for (k, v) in &items {
            assert!((lo..hi).contains(k), "var range {lo}..{hi} yielded key {k}");
            if let Some(p) = prev {
                assert!(if forward { p < *k } else { p > *k }, "var range {lo}..{hi}: {p} then {k}");
            }
            prev = Some(*k);
            saw(&mut seen.var, "var", *k, check_var(*k, v), "range");
        }
        let mut prev: Option<u32> = None;
        for (k, v) in consts.range(lo..hi) {
            assert!((lo..hi).contains(&k), "const range {lo}..{hi} yielded key {k}");
            assert!(prev.is_none_or(|p| p < k), "const range {lo}..{hi}: {prev:?} then {k}");
            prev = Some(k);
            saw(&mut seen.consts, "const", k, check_const(k, &v), "range");
        }
        reads += 2;
    }
    reads
}

#[test]
fn readers_see_only_whole_values_while_compaction_runs() {
    let seed = support::seed(DEFAULT_SEED);
    let (ops, compactions) = if support::on_ci() { (8_000u64, 30u64) } else { (20_000, 80) };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    let var = db.var_tree::<u32>("var").expect("var tree");
    let consts = db.const_tree::<u32, 24>("consts").expect("const tree");

    let progress = AtomicU64::new(0);
    let compactor_done = AtomicBool::new(false);
    let writer_done = AtomicBool::new(false);
    let (model, files_compacted, reads) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let _done = SetOnDrop(&writer_done);
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut model = Model::default();
            for version in 1..=ops {
                let k = rng.random_range(0..KEYS);
                let delete = rng.random_range(0..10) < 2;
                if rng.random_bool(0.5) {
                    if delete {
                        consts.delete(&k).expect("delete");
                        model.consts.remove(&k);
                    } else {
                        let v = const_value(k, version);
                        consts.put(&k, &v).expect("put");
                        model.consts.insert(k, v);
                    }
                } else if delete {
                    var.delete(&k).expect("delete");
                    model.var.remove(&k);
                } else {
                    let v = var_value(k, version, rng.random_range(0..160));
                    var.put(&k, &v).expect("put");
                    model.var.insert(k, v);
                }
                progress.store(version, Ordering::Release);
            }
            model
        });
        let compactor = s.spawn(|| {
            let _done = SetOnDrop(&compactor_done);
            let mut files = 0;
            for i in 1..=compactions {
                // Spread the passes over the writer's run: pass i waits for the
                // writer to be i/compactions of the way through.
                while progress.load(Ordering::Acquire) < ops * i / compactions
                    && !writer_done.load(Ordering::Acquire)
                {
                    std::thread::yield_now();
                }
                files += db.compact().expect("compact").files_compacted;
            }
            files
        });
        let readers: Vec<_> = (0..2u64)
            .map(|r| {
                let (var, consts, writer_done, compactor_done) =
                    (&var, &consts, &writer_done, &compactor_done);
                s.spawn(move || {
                    let mut rng = SmallRng::seed_from_u64(seed ^ (r + 1));
                    let mut seen = Seen::default();
                    let mut reads = 0u64;
                    while !(writer_done.load(Ordering::Acquire) && compactor_done.load(Ordering::Acquire)) {
                        reads += read_once(&mut rng, var, consts, &mut seen);
                    }
                    reads
                })
            })
            .collect();
        let model = writer.join().expect("the writer panicked");
        let files = compactor.join().expect("the compactor panicked");
        let reads: u64 = readers.into_iter().map(|r| r.join().expect("a reader panicked")).sum();
        (model, files, reads)
    });
    println!("{ops} writes, {compactions} compactions rewrote {files_compacted} files, {reads} reads");
    assert!(files_compacted > 0, "compaction never rewrote a file: the test does not test it");
    assert_eq!(state(&db), model, "contents after the run");
    drop((var, consts));
    db.close().expect("close");
    let db = Db::open(dir.path(), config()).expect("reopen");
    assert_eq!(state(&db), model, "contents after reopen");
    db.close().expect("close");
}
