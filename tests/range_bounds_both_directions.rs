//! Every `RangeBounds` form, iterated forward, backward and with `next()` and
//! `next_back()` mixed on one iterator, returns exactly what `BTreeMap::range`
//! returns on the same keys, for both tree kinds, before and after reopen;
//! bounds may or may not be present keys. Ranges that `BTreeMap` refuses
//! (start after end, or one excluded key on both ends) are empty, not a panic.
//! `prefix`, `first` and `last` agree with the model too.
//!
//! Guards against the descending-range bug that shipped as `(start, end]`, off-
//! by-one handling of excluded bounds at present and absent keys, a
//! double-ended iterator that yields an item twice where its ends meet, and
//! prefix ranges that miss their last key.
//!
//! Reproduce a failure with the printed seed: `ARMDB_SEED=<seed> cargo test --test range_bounds_both_directions`.

mod support;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use armdb::{Config, ConstTree, Db, Durability, Error, Prefix, VarTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use support::{var_pair, var_pairs};

const DEFAULT_SEED: u64 = 0x00A4_DB00_C0DE_0005;

type Pairs = Vec<(u32, Vec<u8>)>;

fn config() -> Config {
    Config { max_file_size: 4096, shards: 3, durability: Durability::Flush, ..Config::default() }
}

fn const_value(k: u32) -> [u8; 4] {
    k.to_le_bytes()
}

fn var_value(k: u32) -> Vec<u8> {
    format!("value of {k}").into_bytes()
}

/// Keys 0, 10, .., 990 and the extremes of `u32`.
fn keys() -> BTreeSet<u32> {
    (0..100).map(|i| i * 10).chain([1, u32::MAX - 1, u32::MAX]).collect()
}

/// Bound keys: present ones, absent ones between them, and both ends of `u32`.
const POINTS: [u32; 14] =
    [0, 1, 2, 5, 10, 15, 500, 505, 990, 995, 1000, u32::MAX - 2, u32::MAX - 1, u32::MAX];

/// Whether `BTreeMap::range` accepts these bounds instead of panicking.
fn btree_accepts(lo: Bound<&u32>, hi: Bound<&u32>) -> bool {
    match (lo, hi) {
        (Bound::Excluded(a), Bound::Excluded(b)) => a < b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a <= b,
        _ => true,
    }
}

struct Fixture {
    keys: BTreeSet<u32>,
    c: ConstTree<u32, 4>,
    v: VarTree<u32>,
    rng: SmallRng,
}

impl Fixture {
    fn open(db: &Db, rng: SmallRng) -> Self {
        Self {
            keys: keys(),
            c: db.const_tree::<u32, 4>("c").expect("const tree"),
            v: db.var_tree::<u32>("v").expect("var tree"),
            rng,
        }
    }

    fn fill(&self) {
        for &k in &self.keys {
            self.c.put(&k, &const_value(k)).expect("put const");
            self.v.put(&k, &var_value(k)).expect("put var");
        }
        // Deleted keys at and between the bounds must stay invisible.
        for k in [5, 15, 505, 995, u32::MAX - 2] {
            self.c.put(&k, &const_value(k)).expect("put const");
            self.v.put(&k, &var_value(k)).expect("put var");
            assert!(self.c.delete(&k).expect("delete const").is_some());
            assert!(self.v.delete(&k).expect("delete var"));
        }
    }

    /// What both trees must return for `r`, as (const pairs, var pairs), in ascending order.
    fn expected<R: RangeBounds<u32>>(&self, r: &R) -> (Pairs, Pairs) {
        let keys: Vec<u32> = if btree_accepts(r.start_bound(), r.end_bound()) {
            self.keys.range((r.start_bound().cloned(), r.end_bound().cloned())).copied().collect()
        } else {
            Vec::new()
        };
        (
            keys.iter().map(|&k| (k, const_value(k).to_vec())).collect(),
            keys.iter().map(|&k| (k, var_value(k))).collect(),
        )
    }

    /// Checks `r` forward, backward and with mixed ends on both trees.
    fn check<R: RangeBounds<u32> + Clone + Debug>(&mut self, r: R, when: &str) {
        let what = format!("{when}: range {r:?}");
        let (want_c, want_v) = self.expected(&r);
        let got_c: Pairs = self.c.range(r.clone()).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(got_c, want_c, "{what}: const tree forward");
        let got_c: Pairs = self.c.range(r.clone()).rev().map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(got_c, reversed(&want_c), "{what}: const tree reverse");
        let got_v = var_pairs(self.v.range(r.clone()), &what);
        assert_eq!(got_v, want_v, "{what}: var tree forward");
        let got_v = var_pairs(self.v.range(r.clone()).rev(), &what);
        assert_eq!(got_v, reversed(&want_v), "{what}: var tree reverse");

        for _ in 0..3 {
            let pattern: Vec<bool> = (0..want_c.len() + 3).map(|_| self.rng.random_bool(0.5)).collect();
            let got = mixed(self.c.range(r.clone()).map(|(k, v)| (k, v.to_vec())), &pattern);
            assert_eq!(got, mixed(want_c.iter().cloned(), &pattern), "{what}: const tree, ends {pattern:?}");
            let got = mixed(self.v.range(r.clone()).map(|p| var_pair(p, &what)), &pattern);
            assert_eq!(got, mixed(want_v.iter().cloned(), &pattern), "{what}: var tree, ends {pattern:?}");
        }
    }

    fn check_prefix(&self, bytes: &[u8], when: &str) {
        let what = format!("{when}: prefix {bytes:?}");
        let p = Prefix::<u32>::from_bytes(bytes).expect("prefix");
        let keys: Vec<u32> =
            self.keys.iter().copied().filter(|k| k.to_be_bytes().starts_with(bytes)).collect();
        let want_c: Pairs = keys.iter().map(|&k| (k, const_value(k).to_vec())).collect();
        let want_v: Pairs = keys.iter().map(|&k| (k, var_value(k))).collect();
        let got: Pairs = self.c.prefix(p).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(got, want_c, "{what}: const tree forward");
        let got: Pairs = self.c.prefix(p).rev().map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(got, reversed(&want_c), "{what}: const tree reverse");
        assert_eq!(var_pairs(self.v.prefix(p), &what), want_v, "{what}: var tree forward");
        assert_eq!(var_pairs(self.v.prefix(p).rev(), &what), reversed(&want_v), "{what}: var tree reverse");
    }

    /// Every form of `RangeBounds`, on present and absent keys, and the whole bound matrix.
    fn check_all(&mut self, when: &str) {
        let (a, b) = (10, 500); // present keys
        let (x, y) = (15, 505); // absent (deleted) keys
        for (lo, hi) in [(a, b), (x, y), (a, y), (x, b), (0, u32::MAX), (990, 990), (995, 995)] {
            self.check(.., when);
            self.check(lo.., when);
            self.check(..hi, when);
            self.check(..=hi, when);
            self.check(lo..hi, when);
            self.check(lo..=hi, when);
            self.check((Bound::Included(lo), Bound::Excluded(hi)), when);
            self.check((Bound::Excluded(lo), Bound::Included(hi)), when);
            self.check((Bound::Excluded(lo), Bound::Excluded(hi)), when);
            self.check((Bound::Excluded(lo), Bound::Unbounded), when);
            self.check((Bound::Unbounded, Bound::Excluded(hi)), when);
            // Empty ranges, and ranges `BTreeMap` would panic on: empty here.
            self.check(lo..lo, when);
            self.check(hi..lo, when);
            self.check(hi..=lo, when);
            self.check((Bound::Excluded(lo), Bound::Excluded(lo)), when);
            self.check((Bound::Excluded(lo), Bound::Included(lo)), when);
            self.check((Bound::Included(hi), Bound::Excluded(hi)), when);
        }
        // Ranges over the present extremes of `u32`.
        self.check(u32::MAX.., when);
        self.check((Bound::Excluded(u32::MAX), Bound::Unbounded), when);
        self.check(..=0, when);
        self.check(..0, when);
        self.check(u32::MAX..u32::MAX, when);
        self.check(u32::MAX..=u32::MAX, when);

        let bounds = |k: u32| [Bound::Included(k), Bound::Excluded(k), Bound::Unbounded];
        for lo in POINTS.into_iter().flat_map(bounds) {
            for hi in POINTS.into_iter().flat_map(bounds) {
                self.check((lo, hi), when);
            }
        }

        for k in [0u32, 1, 10, 256, 990, 0x0102_0304, u32::MAX - 1, u32::MAX] {
            let bytes = k.to_be_bytes();
            for len in 0..=4 {
                self.check_prefix(&bytes[..len], when);
            }
        }

        let first = self.keys.first().copied();
        let last = self.keys.last().copied();
        assert_eq!(self.c.first(), first.map(|k| (k, const_value(k))), "{when}: const first");
        assert_eq!(self.c.last(), last.map(|k| (k, const_value(k))), "{when}: const last");
        let vf = self.v.first().expect("first").map(|(k, v)| (k, v.to_vec()));
        let vl = self.v.last().expect("last").map(|(k, v)| (k, v.to_vec()));
        assert_eq!(vf, first.map(|k| (k, var_value(k))), "{when}: var first");
        assert_eq!(vl, last.map(|k| (k, var_value(k))), "{when}: var last");
    }
}

fn reversed(p: &Pairs) -> Pairs {
    p.iter().rev().cloned().collect()
}

/// Takes from the front (`true`) or the back (`false`) of `it` as `pattern`
/// says, and records every answer, `None`s included.
fn mixed<T>(mut it: impl DoubleEndedIterator<Item = T>, pattern: &[bool]) -> Vec<(bool, Option<T>)> {
    pattern.iter().map(|&front| (front, if front { it.next() } else { it.next_back() })).collect()
}

#[test]
fn every_bound_form_matches_btreemap_in_both_directions() {
    let seed = support::seed(DEFAULT_SEED);
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), config()).expect("open");
        let mut f = Fixture::open(&db, SmallRng::seed_from_u64(seed));
        // An empty tree: every range is empty, first and last are absent.
        f.keys.clear();
        f.check_all("empty trees");
        f.keys = keys();
        f.fill();
        f.check_all("before reopen");
        drop(f);
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), config()).expect("reopen");
    let mut f = Fixture::open(&db, SmallRng::seed_from_u64(seed.wrapping_add(1)));
    f.check_all("after reopen");
    drop(f);
    db.close().expect("close");
}

#[test]
fn a_prefix_longer_than_the_key_is_invalid() {
    match Prefix::<u32>::from_bytes(&[1, 2, 3, 4, 5]) {
        Err(Error::InvalidArgument(_)) => {}
        other => panic!("expected Error::InvalidArgument, got {other:?}"),
    }
    let whole = Prefix::<u32>::from_bytes(&[1, 2, 3, 4]).expect("a prefix as long as the key");
    assert_eq!((whole.start(), whole.end()), (0x0102_0304, 0x0102_0304));
    let none = Prefix::<u32>::from_bytes(&[]).expect("the empty prefix");
    assert_eq!((none.start(), none.end()), (0, u32::MAX));
}
