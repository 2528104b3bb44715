//! Two writer threads and two reader threads on one database, both tree kinds,
//! with tiny data files so that shards rotate while readers run. Every value
//! names its key, its writer and a version and carries a checksum.
//!
//! Guards against readers that observe a torn value, a value of another key
//! (a location or cache entry pointing at the wrong entry), a version older
//! than one the same reader already saw for a single-writer key, range scans
//! out of order or out of bounds, and a final or recovered state that differs
//! from what the writers last wrote.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use armdb::{Config, ConstTree, Db, VarTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use support::{fnv1a64 as checksum, var_pairs};

const DEFAULT_SEED: u64 = 0x0C0D_0003;

const WRITERS: u64 = 2;
/// Keys `0..OWN_KEYS * WRITERS` are owned by writer `key % WRITERS`; keys from
/// `SHARED_START` on are written by both.
const OWN_KEYS: u64 = 40;
const SHARED_START: u64 = OWN_KEYS * WRITERS;
const SHARED_KEYS: u64 = 16;
const ALL_KEYS: u64 = SHARED_START + SHARED_KEYS;
const WRITES_PER_WRITER: usize = 3000;
const READS_PER_READER: usize = 3000;
const CONST_V: usize = 32;

fn config() -> Config {
    Config { shards: 3, max_file_size: 4096, value_cache_bytes: 16 << 10, ..Config::default() }
}

/// What a value says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    key: u64,
    writer: u64,
    version: u64,
}

/// `key | writer | version | filler | checksum`, little-endian; the filler
/// length varies so that entries straddle buffer and file boundaries.
fn var_value(s: Stamp) -> Vec<u8> {
    let filler = ((s.key * 7 + s.version * 13) % 150) as usize;
    let mut v = Vec::with_capacity(32 + filler);
    for x in [s.key, s.writer, s.version] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend((0..filler).map(|i| (s.version as usize + i) as u8));
    let c = checksum(&v);
    v.extend_from_slice(&c.to_le_bytes());
    v
}

fn const_value(s: Stamp) -> [u8; CONST_V] {
    let mut v = [0u8; CONST_V];
    v[..8].copy_from_slice(&s.key.to_le_bytes());
    v[8..16].copy_from_slice(&s.writer.to_le_bytes());
    v[16..24].copy_from_slice(&s.version.to_le_bytes());
    let c = checksum(&v[..24]);
    v[24..].copy_from_slice(&c.to_le_bytes());
    v
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Decodes and verifies a value read for `key`; panics on anything a reader
/// must never see.
fn verify(key: u64, bytes: &[u8], what: &str) -> Stamp {
    assert!(bytes.len() >= 32, "{what}: value of key {key} is {} bytes: {bytes:02x?}", bytes.len());
    let body = &bytes[..bytes.len() - 8];
    assert_eq!(
        checksum(body),
        u64_at(bytes, bytes.len() - 8),
        "{what}: torn value for key {key}: {bytes:02x?}"
    );
    let s = Stamp { key: u64_at(bytes, 0), writer: u64_at(bytes, 8), version: u64_at(bytes, 16) };
    assert_eq!(s.key, key, "{what}: key {key} holds a value of key {}", s.key);
    assert!(s.writer < WRITERS, "{what}: bad writer in {s:?}");
    if key < SHARED_START {
        assert_eq!(s.writer, key % WRITERS, "{what}: key {key} written by a writer that does not own it");
    }
    if bytes.len() == CONST_V {
        assert_eq!(bytes, const_value(s), "{what}: const value mismatch for {s:?}");
    } else {
        assert_eq!(bytes, var_value(s), "{what}: var value mismatch for {s:?}");
    }
    s
}

/// The last thing a writer did to a key of one tree: `Some(version)` for a put,
/// `None` for a delete.
type LastWrites = BTreeMap<u64, Option<u64>>;

/// Counts writes done by all writers; readers pace themselves on it so that
/// their reads spread over the whole run instead of finishing first.
struct Progress(AtomicU64);

impl Progress {
    /// Waits until writers have done `n` writes (or one of them panicked).
    fn wait_for(&self, n: u64) {
        while self.0.load(Ordering::Acquire) < n {
            std::thread::yield_now();
        }
    }
}

/// Releases waiting readers if a writer panics, so the test fails instead of hanging.
struct ReleaseOnPanic<'a>(&'a Progress);

impl Drop for ReleaseOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.0.store(u64::MAX, Ordering::Release);
        }
    }
}

fn writer(
    w: u64,
    seed: u64,
    ct: &ConstTree<u64, CONST_V>,
    vt: &VarTree<u64>,
    progress: &Progress,
) -> (LastWrites, LastWrites) {
    let _release = ReleaseOnPanic(progress);
    let mut rng = SmallRng::seed_from_u64(seed ^ (w + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut last_const = LastWrites::new();
    let mut last_var = LastWrites::new();
    for version in 1..=WRITES_PER_WRITER as u64 {
        let key = if rng.random_bool(0.25) {
            SHARED_START + rng.random_range(0..SHARED_KEYS)
        } else {
            rng.random_range(0..OWN_KEYS) * WRITERS + w
        };
        let s = Stamp { key, writer: w, version };
        let delete = rng.random_range(0..10) == 0;
        if rng.random_bool(0.5) {
            if delete {
                ct.delete(&key).expect("const delete");
                last_const.insert(key, None);
            } else {
                ct.put(&key, &const_value(s)).expect("const put");
                last_const.insert(key, Some(version));
            }
        } else if delete {
            vt.delete(&key).expect("var delete");
            last_var.insert(key, None);
        } else {
            vt.put(&key, &var_value(s)).expect("var put");
            last_var.insert(key, Some(version));
        }
        progress.0.fetch_add(1, Ordering::Release);
    }
    (last_const, last_var)
}

fn reader(r: u64, seed: u64, ct: &ConstTree<u64, CONST_V>, vt: &VarTree<u64>, progress: &Progress) -> usize {
    let mut rng = SmallRng::seed_from_u64(seed ^ (r + 101).wrapping_mul(0xD1B5_4A32_D192_ED03));
    // Highest version seen per single-writer key: a later read may not go back.
    let mut seen_const = vec![0u64; SHARED_START as usize];
    let mut seen_var = vec![0u64; SHARED_START as usize];
    let mut values_read = 0;
    let total_writes = WRITERS * WRITES_PER_WRITER as u64;
    for i in 0..READS_PER_READER as u64 {
        progress.wait_for(i * total_writes / READS_PER_READER as u64);
        let key = rng.random_range(0..ALL_KEYS);
        match rng.random_range(0..4) {
            0 => {
                if let Some(v) = ct.get(&key) {
                    let s = verify(key, &v, "const get");
                    if key < SHARED_START {
                        let seen = &mut seen_const[key as usize];
                        assert!(
                            s.version >= *seen,
                            "const get went back in time for key {key}: {s:?} after {seen}"
                        );
                        *seen = s.version;
                    }
                    values_read += 1;
                }
            }
            1 => {
                if let Some(v) = vt.get(&key).expect("var get") {
                    let s = verify(key, &v, "var get");
                    if key < SHARED_START {
                        let seen = &mut seen_var[key as usize];
                        assert!(
                            s.version >= *seen,
                            "var get went back in time for key {key}: {s:?} after {seen}"
                        );
                        *seen = s.version;
                    }
                    values_read += 1;
                }
            }
            2 => {
                let end = (key + 12).min(ALL_KEYS);
                let mut prev = None;
                for (k, v) in ct.range(key..end) {
                    assert!((key..end).contains(&k), "const range {key}..{end} returned {k}");
                    assert!(prev < Some(k), "const range out of order: {prev:?} then {k}");
                    prev = Some(k);
                    verify(k, &v, "const range");
                    values_read += 1;
                }
            }
            _ => {
                let end = (key + 12).min(ALL_KEYS);
                let mut prev = None;
                let rev = rng.random_bool(0.5);
                let items: Box<dyn Iterator<Item = _>> =
                    if rev { Box::new(vt.range(key..end).rev()) } else { Box::new(vt.range(key..end)) };
                for item in items {
                    let (k, v) = item.expect("var range");
                    assert!((key..end).contains(&k), "var range {key}..{end} returned {k}");
                    if let Some(p) = prev {
                        assert!(if rev { p > k } else { p < k }, "var range out of order: {p} then {k}");
                    }
                    prev = Some(k);
                    verify(k, &v, "var range");
                    values_read += 1;
                }
            }
        }
    }
    values_read
}

/// What each key must hold now, given what every writer last did to it. A
/// shared key may hold the last write of either writer.
fn allowed(lasts: &[LastWrites], key: u64) -> Vec<Option<Stamp>> {
    let mut out: Vec<Option<Stamp>> = lasts
        .iter()
        .enumerate()
        .filter_map(|(w, last)| {
            last.get(&key).map(|v| v.map(|version| Stamp { key, writer: w as u64, version }))
        })
        .collect();
    if out.is_empty() {
        out.push(None);
    }
    out
}

type Snapshot = (BTreeMap<u64, Vec<u8>>, BTreeMap<u64, Vec<u8>>);

fn snapshot(ct: &ConstTree<u64, CONST_V>, vt: &VarTree<u64>) -> Snapshot {
    let c = ct.iter().map(|(k, v)| (k, v.to_vec())).collect();
    (c, var_pairs(vt.iter(), "iter").into_iter().collect())
}

fn check_final(snap: &Snapshot, consts: &[LastWrites], vars: &[LastWrites], when: &str) {
    for key in 0..ALL_KEYS {
        for (tree, map, lasts) in [("const", &snap.0, consts), ("var", &snap.1, vars)] {
            let got = map.get(&key).map(|b| verify(key, b, when));
            let ok = allowed(lasts, key);
            assert!(ok.contains(&got), "{when}: {tree} key {key} holds {got:?}, expected one of {ok:?}");
        }
    }
}

#[test]
fn readers_never_see_torn_or_foreign_values() {
    let seed = support::seed(DEFAULT_SEED);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    let ct = db.const_tree::<u64, CONST_V>("c").expect("const tree");
    let vt = db.var_tree::<u64>("v").expect("var tree");
    let progress = Progress(AtomicU64::new(0));
    let (writes, reads) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (ct, vt, progress) = (&ct, &vt, &progress);
                scope.spawn(move || writer(w, seed, ct, vt, progress))
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (ct, vt, progress) = (&ct, &vt, &progress);
                scope.spawn(move || reader(r, seed, ct, vt, progress))
            })
            .collect();
        let writes: Vec<_> = writers.into_iter().map(|h| h.join().expect("writer thread")).collect();
        let reads: Vec<_> = readers.into_iter().map(|h| h.join().expect("reader thread")).collect();
        (writes, reads)
    });
    println!("values read by each reader: {reads:?}");
    let (consts, vars): (Vec<_>, Vec<_>) = writes.into_iter().unzip();

    let before = snapshot(&ct, &vt);
    check_final(&before, &consts, &vars, "after the run");
    for key in 0..ALL_KEYS {
        assert_eq!(
            ct.get(&key).map(|v| v.to_vec()),
            before.0.get(&key).cloned(),
            "const get agrees with iter"
        );
        let got = vt.get(&key).expect("get").map(|v| v.to_vec());
        assert_eq!(got, before.1.get(&key).cloned(), "var get agrees with iter");
    }
    let stats = db.stats();
    assert!(stats.files > 3 * 4, "shards should have rotated during the run: {stats:?}");
    drop((ct, vt));
    db.close().expect("close");

    let db = Db::open(dir.path(), config()).expect("reopen");
    let ct = db.const_tree::<u64, CONST_V>("c").expect("const tree");
    let vt = db.var_tree::<u64>("v").expect("var tree");
    let after = snapshot(&ct, &vt);
    assert_eq!(after, before, "reopen must recover exactly the state at close");
    check_final(&after, &consts, &vars, "after reopen");
    drop((ct, vt));
    db.close().expect("close");
}
