//! Signed integer keys sort numerically: `i8`, `i32`, `i64` and `i128` keys,
//! `MIN`, -1, 0, 1 and `MAX` included, iterate in numeric order in both tree
//! kinds, forward and backward, before and after reopen; and `Key::encode`
//! preserves `Ord` and round-trips through `decode` for random values.
//!
//! Guards against two's-complement bytes stored as-is (negative keys sorting
//! after positive ones), a sign flip applied on encode but not on decode (keys
//! changing across a reopen), and little-endian encodings that sort by the low
//! byte.
//!
//! Reproduce a failure with the printed seed: `ARMDB_SEED=<seed> cargo test --test signed_key_order`.

mod support;

use std::fmt::Debug;

use armdb::{Config, Db, Durability, Key, Prefix};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const DEFAULT_SEED: u64 = 0x00A4_DB00_C0DE_0006;

fn config() -> Config {
    Config { max_file_size: 4096, shards: 3, durability: Durability::Flush, ..Config::default() }
}

fn encode<K: Key>(k: K) -> Vec<u8> {
    let mut out = vec![0u8; K::LEN];
    k.encode(&mut out);
    out
}

/// The keys every signed type is tested with, in numeric order.
macro_rules! edge_keys {
    ($t:ty) => {{
        let mut v: Vec<$t> =
            vec![<$t>::MIN, <$t>::MIN + 1, -100, -2, -1, 0, 1, 2, 100, <$t>::MAX - 1, <$t>::MAX];
        v.sort_unstable();
        v.dedup();
        v
    }};
}

/// Writes `keys` in a shuffled order to a const and a var tree named after `name`.
fn write<K: Key>(db: &Db, name: &str, keys: &[K], rng: &mut SmallRng) {
    let c = db.const_tree::<K, 8>(&format!("{name}-const")).expect("const tree");
    let v = db.var_tree::<K>(&format!("{name}-var")).expect("var tree");
    let mut shuffled = keys.to_vec();
    shuffled.shuffle(rng);
    for (i, k) in shuffled.iter().enumerate() {
        c.put(k, &(i as u64).to_le_bytes()).expect("put const");
        v.put(k, format!("{k:?}").as_bytes()).expect("put var");
    }
}

/// Checks that both trees of `name` iterate exactly `sorted`, in both directions.
fn check<K: Key + Debug>(db: &Db, name: &str, sorted: &[K], when: &str) {
    let c = db.const_tree::<K, 8>(&format!("{name}-const")).expect("const tree");
    let v = db.var_tree::<K>(&format!("{name}-var")).expect("var tree");
    let reversed: Vec<K> = sorted.iter().rev().copied().collect();
    let got: Vec<K> = c.iter().map(|(k, _)| k).collect();
    assert_eq!(got, sorted, "{when}: {name} const tree, forward");
    let got: Vec<K> = c.iter().rev().map(|(k, _)| k).collect();
    assert_eq!(got, reversed, "{when}: {name} const tree, reverse");
    let got: Vec<K> = v.iter().map(|r| r.expect("read var value").0).collect();
    assert_eq!(got, sorted, "{when}: {name} var tree, forward");
    let got: Vec<K> = v.iter().rev().map(|r| r.expect("read var value").0).collect();
    assert_eq!(got, reversed, "{when}: {name} var tree, reverse");
    // Values still belong to their keys: the key decoded from disk is the one written.
    for r in v.iter() {
        let (k, value) = r.expect("read var value");
        assert_eq!(&value[..], format!("{k:?}").as_bytes(), "{when}: {name} var value of {k:?}");
    }
    assert_eq!(c.first().map(|(k, _)| k), sorted.first().copied(), "{when}: {name} first");
    assert_eq!(c.last().map(|(k, _)| k), sorted.last().copied(), "{when}: {name} last");
}

/// Checks ranges that straddle zero, where a wrong sign encoding shows first.
fn check_ranges<K: Key + From<i8>>(db: &Db, name: &str, sorted: &[K], when: &str) {
    use std::ops::Bound::{Excluded, Unbounded};
    let c = db.const_tree::<K, 8>(&format!("{name}-const")).expect("const tree");
    let v = db.var_tree::<K>(&format!("{name}-var")).expect("var tree");
    let (minus_one, zero, one) = (K::from(-1), K::from(0), K::from(1));
    let filtered = |f: &dyn Fn(&K) -> bool| sorted.iter().copied().filter(|k| f(k)).collect::<Vec<K>>();

    let want = filtered(&|k| (minus_one..=one).contains(k));
    let got: Vec<K> = c.range(minus_one..=one).map(|(k, _)| k).collect();
    assert_eq!(got, want, "{when}: {name} const -1..=1");
    let got: Vec<K> = v.range(minus_one..=one).rev().map(|r| r.expect("read").0).collect();
    assert_eq!(got, want.iter().rev().copied().collect::<Vec<K>>(), "{when}: {name} var -1..=1 reverse");

    let negatives = filtered(&|k| *k < zero);
    let got: Vec<K> = c.range(..zero).map(|(k, _)| k).collect();
    assert_eq!(got, negatives, "{when}: {name} const ..0");
    let got: Vec<K> = v.range(..zero).map(|r| r.expect("read").0).collect();
    assert_eq!(got, negatives, "{when}: {name} var ..0");

    let positives = filtered(&|k| *k > zero);
    let got: Vec<K> = c.range((Excluded(zero), Unbounded)).rev().map(|(k, _)| k).collect();
    assert_eq!(
        got,
        positives.iter().rev().copied().collect::<Vec<K>>(),
        "{when}: {name} const (0, ..) reverse"
    );
}

/// Prefix scans see the encoding itself: the first byte `0x80` must select the
/// non-negative keys below `2^(bits - 8)`, `0x7F` the negative keys from
/// `-2^(bits - 8)`, `0x00` the lowest and `0xFF` the highest block of keys.
fn check_sign_prefixes<K>(db: &Db, name: &str, sorted: &[K], when: &str)
where
    K: Key + Into<i128>,
{
    let c = db.const_tree::<K, 8>(&format!("{name}-const")).expect("const tree");
    let v = db.var_tree::<K>(&format!("{name}-var")).expect("var tree");
    let block = 1i128 << (K::LEN * 8 - 8);
    // MIN and MAX of the type, computed without overflowing `i128` for `i128` itself.
    let half = block << 6;
    let (min, max) = (-half - half, (half - 1) + half);
    for (first_byte, lo, hi) in [
        (0x80u8, 0, block - 1),
        (0x7F, -block, -1),
        (0x00, min, min + block - 1),
        (0xFF, max - block + 1, max),
    ] {
        let want: Vec<K> = sorted.iter().copied().filter(|k| (lo..=hi).contains(&(*k).into())).collect();
        let p = Prefix::<K>::from_bytes(&[first_byte]).expect("prefix");
        assert_eq!(p.start().into(), lo, "{when}: {name} prefix [{first_byte:#04x}] start");
        assert_eq!(p.end().into(), hi, "{when}: {name} prefix [{first_byte:#04x}] end");
        let got: Vec<K> = c.prefix(p).map(|(k, _)| k).collect();
        assert_eq!(got, want, "{when}: {name} const prefix [{first_byte:#04x}]");
        let got: Vec<K> = v.prefix(p).rev().map(|r| r.expect("read").0).collect();
        let want_rev: Vec<K> = want.iter().rev().copied().collect();
        assert_eq!(got, want_rev, "{when}: {name} var prefix [{first_byte:#04x}] reverse");
    }
}

fn check_all(db: &Db, i8_all: &[i8], i64_keys: &[i64], when: &str) {
    check_sign_prefixes(db, "i8", i8_all, when);
    check_sign_prefixes(db, "i32", &edge_keys!(i32), when);
    check_sign_prefixes(db, "i64", i64_keys, when);
    check_sign_prefixes(db, "i128", &edge_keys!(i128), when);
    check(db, "i8", i8_all, when);
    check(db, "i32", &edge_keys!(i32), when);
    check(db, "i64", i64_keys, when);
    check(db, "i128", &edge_keys!(i128), when);
    check_ranges(db, "i8", i8_all, when);
    check_ranges(db, "i32", &edge_keys!(i32), when);
    check_ranges(db, "i64", i64_keys, when);
    check_ranges(db, "i128", &edge_keys!(i128), when);
}

#[test]
fn signed_keys_iterate_in_numeric_order_across_reopen() {
    let seed = support::seed(DEFAULT_SEED);
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");

    // Edge values plus random ones of every magnitude, for i64.
    let mut i64_keys = edge_keys!(i64);
    i64_keys.extend((0..300).map(|_| rng.random::<i64>()));
    i64_keys.extend((0..100).map(|_| rng.random_range(-1000..1000)));
    i64_keys.sort_unstable();
    i64_keys.dedup();
    let i8_all: Vec<i8> = (i8::MIN..=i8::MAX).collect();

    {
        let db = Db::open(dir.path(), config()).expect("open");
        write(&db, "i8", &i8_all, &mut rng);
        write(&db, "i32", &edge_keys!(i32), &mut rng);
        write(&db, "i64", &i64_keys, &mut rng);
        write(&db, "i128", &edge_keys!(i128), &mut rng);
        check_all(&db, &i8_all, &i64_keys, "before reopen");
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), config()).expect("reopen");
    check_all(&db, &i8_all, &i64_keys, "after reopen");
    db.close().expect("close");
}

/// Asserts the two laws for one pair: byte order equals `Ord`, and decode round-trips.
fn check_pair<K: Key>(a: K, b: K) {
    let (ea, eb) = (encode(a), encode(b));
    assert_eq!(ea.len(), K::LEN);
    assert_eq!(ea.cmp(&eb), a.cmp(&b), "{a:?} vs {b:?}: encodings {ea:02x?} vs {eb:02x?}");
    assert_eq!(K::decode(&ea), a, "decode(encode({a:?}))");
    assert_eq!(K::decode(&eb), b, "decode(encode({b:?}))");
}

#[test]
fn key_encoding_preserves_order_and_round_trips() {
    let seed = support::seed(DEFAULT_SEED);
    let mut rng = SmallRng::seed_from_u64(seed);

    // i8 is small enough to check every pair.
    for a in i8::MIN..=i8::MAX {
        for b in i8::MIN..=i8::MAX {
            check_pair(a, b);
        }
    }

    // i64: uniform values, values near zero and near the extremes, and the edges.
    let edges = edge_keys!(i64);
    let draw = |rng: &mut SmallRng| match rng.random_range(0..4) {
        0 => rng.random::<i64>(),
        1 => rng.random_range(-300..300),
        2 => i64::MIN + rng.random_range(0..300),
        _ => edges[rng.random_range(0..edges.len())],
    };
    for _ in 0..200_000 {
        let (a, b) = (draw(&mut rng), draw(&mut rng));
        check_pair(a, b);
        check_pair(a, a);
    }
    for &a in &edges {
        for &b in &edges {
            check_pair(a, b);
        }
    }

    // The other widths, more briefly.
    for _ in 0..50_000 {
        check_pair(rng.random::<i32>(), rng.random::<i32>());
        check_pair(rng.random::<i128>(), rng.random::<i128>());
        check_pair(rng.random::<i16>(), rng.random::<i16>());
    }
    for (a, b) in [(i32::MIN, -1), (-1, 0), (0, i32::MAX), (i32::MIN, i32::MAX)] {
        check_pair(a, b);
    }
    for (a, b) in [(i128::MIN, -1), (-1, 0), (0, i128::MAX), (i128::MIN, i128::MAX)] {
        check_pair(a, b);
    }

    // Every encoding of the key's length decodes to a key that encodes back to it.
    for _ in 0..50_000 {
        let bytes: [u8; 8] = rng.random();
        assert_eq!(encode(i64::decode(&bytes)), bytes, "encode(decode({bytes:02x?}))");
    }
}
