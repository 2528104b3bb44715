//! One secondary index, held in memory: an ordered set of (value, primary key)
//! pairs for lookups in primary-key order, and for a unique index a concurrent
//! map of value → primary key through which writers claim a value.
//!
//! Pairs of one record are written only under that record's home shard lock.
//! Two records with the same value live in different shards, under different
//! locks: the claim map's insert-if-absent is what makes exactly one of two
//! racing writers of a unique value win. Readers never lock.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound;

use crossbeam_skiplist::SkipSet;
use crossbeam_skiplist::set::Entry;

use super::record::IndexDef;
use crate::Key;
use crate::limits::MAX_KEY_LEN;

type ClaimMap<K> = papaya::HashMap<Box<[u8]>, K, foldhash::fast::RandomState>;

/// One (encoded value, primary key) pair, sorted by value, then by key.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pair<K> {
    value: Box<[u8]>,
    key: K,
}

/// A pair seen through references, so that lookups need not allocate.
pub(crate) trait PairView<K> {
    fn value(&self) -> &[u8];
    fn key(&self) -> &K;
}

impl<K> PairView<K> for Pair<K> {
    fn value(&self) -> &[u8] {
        &self.value
    }
    fn key(&self) -> &K {
        &self.key
    }
}

/// A borrowed pair to look up.
struct Probe<'a, K> {
    value: &'a [u8],
    key: K,
}

impl<K> PairView<K> for Probe<'_, K> {
    fn value(&self) -> &[u8] {
        self.value
    }
    fn key(&self) -> &K {
        &self.key
    }
}

// The order of `Pair`'s derived `Ord`, which `Borrow` requires to agree.
impl<K: Ord> Ord for dyn PairView<K> + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value().cmp(other.value()).then_with(|| self.key().cmp(other.key()))
    }
}

impl<K: Ord> PartialOrd for dyn PairView<K> + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K: Ord> PartialEq for dyn PairView<K> + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<K: Ord> Eq for dyn PairView<K> + '_ {}

impl<'a, K: Ord + 'a> Borrow<dyn PairView<K> + 'a> for Pair<K> {
    fn borrow(&self) -> &(dyn PairView<K> + 'a) {
        self
    }
}

/// The key whose encoding is `LEN` copies of `byte`: the smallest key for 0x00,
/// the largest for 0xFF.
fn edge_key<K: Key>(byte: u8) -> K {
    const { assert!(K::LEN <= MAX_KEY_LEN, "Key::LEN exceeds MAX_KEY_LEN") };
    K::decode(&[byte; MAX_KEY_LEN][..K::LEN])
}

/// What claiming a unique value found.
pub(crate) enum Claim<K> {
    /// The value was free and now belongs to the key.
    New,
    /// The key already held the value (or the index is not unique).
    Held,
    /// Another key holds the value.
    Taken(K),
}

pub(crate) struct Secondary<K> {
    pub(crate) def: IndexDef,
    pairs: SkipSet<Pair<K>>,
    /// Unique indexes only: who holds each non-null value.
    claims: Option<ClaimMap<K>>,
}

impl<K> std::fmt::Debug for Secondary<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secondary").field("def", &self.def).field("pairs", &self.pairs.len()).finish()
    }
}

impl<K: Key> Secondary<K> {
    pub(crate) fn new(def: IndexDef) -> Self {
        let claims = def.is_unique().then(crate::sync::hash_map);
        Self { def, pairs: SkipSet::new(), claims }
    }

    /// Caller holds `key`'s shard lock.
    pub(crate) fn insert(&self, value: &[u8], key: K) {
        self.pairs.insert(Pair { value: value.into(), key });
    }

    /// Makes room for `additional` claims.
    pub(crate) fn reserve(&self, additional: usize) {
        if let Some(claims) = &self.claims {
            claims.pin().reserve(additional);
        }
    }

    /// Caller holds `key`'s shard lock.
    pub(crate) fn remove(&self, value: &[u8], key: K) {
        self.pairs.remove::<dyn PairView<K>>(&Probe { value, key });
    }

    /// Claims `value` for `key` if nobody holds it. Caller holds `key`'s shard lock.
    pub(crate) fn claim(&self, value: &[u8], key: K) -> Claim<K> {
        let Some(claims) = &self.claims else { return Claim::Held };
        let claims = claims.pin();
        if let Some(holder) = claims.get(value) {
            return if *holder == key { Claim::Held } else { Claim::Taken(*holder) };
        }
        match claims.try_insert(value.into(), key) {
            Ok(_) => Claim::New,
            Err(e) if *e.current == key => Claim::Held,
            Err(e) => Claim::Taken(*e.current),
        }
    }

    /// Frees `value` if `key` holds it. Caller holds `key`'s shard lock.
    pub(crate) fn release(&self, value: &[u8], key: K) {
        if let Some(claims) = &self.claims {
            // `Err` means another key holds the value: then it is not ours to free.
            let _ = claims.pin().remove_if(value, |_, holder| *holder == key);
        }
    }

    /// The key holding `value` in a unique index.
    pub(crate) fn holder(&self, value: &[u8]) -> Option<K> {
        self.claims.as_ref()?.pin().get(value).copied()
    }

    /// The first pair with `value`, in key order.
    pub(crate) fn first(&self, value: &[u8]) -> Option<Entry<'_, Pair<K>>> {
        let probe = Probe { value, key: edge_key::<K>(0x00) };
        self.pairs
            .lower_bound::<dyn PairView<K>>(Bound::Included(&probe))
            .filter(|e| e.value().value() == value)
    }

    /// The last pair with `value`, in key order.
    pub(crate) fn last(&self, value: &[u8]) -> Option<Entry<'_, Pair<K>>> {
        let probe = Probe { value, key: edge_key::<K>(0xFF) };
        self.pairs
            .upper_bound::<dyn PairView<K>>(Bound::Included(&probe))
            .filter(|e| e.value().value() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_found_in_key_order_and_claims_are_exclusive() {
        let idx = Secondary::<u32>::new(IndexDef::new("email", true));
        for (v, k) in [(&b"b"[..], 5u32), (b"a", 9), (b"b", 1), (b"b", 3), (b"c", 0)] {
            idx.insert(v, k);
        }
        let walk = |v: &[u8]| {
            let mut out = Vec::new();
            let mut e = idx.first(v);
            while let Some(entry) = e.filter(|e| e.value().value() == v) {
                out.push(*entry.value().key());
                e = entry.next();
            }
            out
        };
        assert_eq!(walk(b"b"), [1, 3, 5]);
        assert_eq!(idx.last(b"b").map(|e| *e.value().key()), Some(5));
        assert!(idx.first(b"ab").is_none() && idx.last(b"ab").is_none());
        idx.remove(b"b", 3);
        assert_eq!(walk(b"b"), [1, 5]);

        assert!(matches!(idx.claim(b"x", 1), Claim::New));
        assert!(matches!(idx.claim(b"x", 1), Claim::Held));
        assert!(matches!(idx.claim(b"x", 2), Claim::Taken(1)));
        idx.release(b"x", 2);
        assert_eq!(idx.holder(b"x"), Some(1), "only the holder frees a value");
        idx.release(b"x", 1);
        assert!(matches!(idx.claim(b"x", 2), Claim::New));
    }
}
