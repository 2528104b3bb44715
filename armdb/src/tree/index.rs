//! The primary index of a tree: an ordered skiplist for ranges and iteration,
//! and, when `Config::keydir` is on, a hash keydir beside it for point reads.
//!
//! With a keydir, the keydir is the one source of truth for values and
//! presence, and the skiplist holds only keys (a superset while a write is in
//! flight): iteration takes each key's value from the keydir and skips keys it
//! does not hold. So a `get` and a later `range` never disagree about a key,
//! whichever structure a concurrent write reached first. Both are written only
//! under the key's home shard lock; reads never lock.

use std::ops::RangeBounds;

use crossbeam_skiplist::SkipMap;

type Keydir<K, V> = papaya::HashMap<K, V, foldhash::fast::RandomState>;

enum Layout<K, V> {
    /// No keydir: the skiplist holds the values.
    Ordered(SkipMap<K, V>),
    /// The skiplist orders the keys; the keydir holds the values.
    Keyed { keys: SkipMap<K, ()>, keydir: Keydir<K, V> },
}

pub(crate) struct KeyIndex<K, V> {
    layout: Layout<K, V>,
}

impl<K, V> std::fmt::Debug for KeyIndex<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (len, keydir) = match &self.layout {
            Layout::Ordered(m) => (m.len(), false),
            Layout::Keyed { keys, .. } => (keys.len(), true),
        };
        f.debug_struct("KeyIndex").field("len", &len).field("keydir", &keydir).finish()
    }
}

/// Items of the key skiplist paired with their keydir values, skipping keys the
/// keydir does not hold. Pins the keydir once per `REPIN` items rather than per
/// item (pinning costs about as much as the lookup), and never for long, so a
/// slow consumer does not hold back the keydir's memory reclamation.
struct Lookup<'a, K: 'static, V, I> {
    keys: I,
    keydir: &'a Keydir<K, V>,
    pinned: Option<papaya::HashMapRef<'a, K, V, foldhash::fast::RandomState, papaya::OwnedGuard<'a>>>,
    uses: u32,
}

const REPIN: u32 = 64;

impl<'a, K, V, I> Lookup<'a, K, V, I> {
    fn new(keys: I, keydir: &'a Keydir<K, V>) -> Self {
        Self { keys, keydir, pinned: None, uses: 0 }
    }
}

impl<'a, K, V, I> Lookup<'a, K, V, I>
where
    K: crate::Key,
    V: Clone,
{
    fn value(&mut self, key: &K) -> Option<V> {
        if self.uses == REPIN {
            self.pinned = None;
        }
        let keydir = self.keydir;
        let pinned = self.pinned.get_or_insert_with(|| {
            self.uses = 0;
            keydir.pin_owned()
        });
        self.uses += 1;
        pinned.get(key).cloned()
    }
}

impl<'a, K, V, I> Iterator for Lookup<'a, K, V, I>
where
    K: crate::Key,
    V: Clone,
    I: Iterator<Item = crossbeam_skiplist::map::Entry<'a, K, ()>>,
{
    type Item = (K, V);
    fn next(&mut self) -> Option<(K, V)> {
        loop {
            let e = self.keys.next()?;
            let key = *e.key();
            if let Some(v) = self.value(&key) {
                return Some((key, v));
            }
        }
    }
}

impl<'a, K, V, I> DoubleEndedIterator for Lookup<'a, K, V, I>
where
    K: crate::Key,
    V: Clone,
    I: DoubleEndedIterator<Item = crossbeam_skiplist::map::Entry<'a, K, ()>>,
{
    fn next_back(&mut self) -> Option<(K, V)> {
        loop {
            let e = self.keys.next_back()?;
            let key = *e.key();
            if let Some(v) = self.value(&key) {
                return Some((key, v));
            }
        }
    }
}

/// Sets `key` to `value` in a keyed index and returns the previous value.
/// Key first, value second: until the keydir has it, iteration skips it. A
/// key the keydir holds is in the skiplist already (a removal takes the value
/// out first, and both change only under the key's shard lock, which the
/// caller holds), so only a key the keydir lacks costs a skiplist search; an
/// overwrite costs a keydir probe.
fn keyed_set<'g, K, V, G>(
    keys: &SkipMap<K, ()>,
    keydir: &'g papaya::HashMapRef<'_, K, V, foldhash::fast::RandomState, G>,
    key: K,
    value: V,
) -> Option<&'g V>
where
    K: crate::Key,
    G: papaya::Guard,
{
    if !keydir.contains_key(&key) {
        keys.get_or_insert(key, ());
    }
    keydir.insert(key, value)
}

/// One of two iterators with the same items.
enum Either<A, B> {
    A(A),
    B(B),
}

impl<T, A: Iterator<Item = T>, B: Iterator<Item = T>> Iterator for Either<A, B> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match self {
            Self::A(a) => a.next(),
            Self::B(b) => b.next(),
        }
    }
}

impl<T, A: DoubleEndedIterator<Item = T>, B: DoubleEndedIterator<Item = T>> DoubleEndedIterator
    for Either<A, B>
{
    fn next_back(&mut self) -> Option<T> {
        match self {
            Self::A(a) => a.next_back(),
            Self::B(b) => b.next_back(),
        }
    }
}

impl<K, V> KeyIndex<K, V>
where
    K: crate::Key,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(keydir: bool) -> Self {
        let layout = if keydir {
            Layout::Keyed { keys: SkipMap::new(), keydir: crate::sync::hash_map() }
        } else {
            Layout::Ordered(SkipMap::new())
        };
        Self { layout }
    }

    /// Whether point lookups go through a keydir (`Config::keydir`).
    pub(crate) fn has_keydir(&self) -> bool {
        matches!(self.layout, Layout::Keyed { .. })
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        match &self.layout {
            Layout::Ordered(m) => m.get(key).map(|e| e.value().clone()),
            Layout::Keyed { keydir, .. } => keydir.pin().get(key).cloned(),
        }
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        match &self.layout {
            Layout::Ordered(m) => m.contains_key(key),
            Layout::Keyed { keydir, .. } => keydir.pin().contains_key(key),
        }
    }

    /// Makes room for `additional` more keys in the keydir. If it must grow,
    /// the whole map is copied to its new table here. The old table is
    /// retired to this thread's reclamation batch, which is then retired at
    /// once, unless another thread is inside the keydir at that moment:
    /// otherwise the old table would stay allocated until enough other
    /// retirements fill the batch (measured: about 16 bytes per key more RSS
    /// after a load of 1 M keys).
    pub(crate) fn reserve(&self, additional: usize) {
        if let Layout::Keyed { keydir, .. } = &self.layout {
            let guard = keydir.guard();
            keydir.reserve(additional, &guard);
            papaya::Guard::flush(&guard);
        }
    }

    /// Caller holds the key's shard lock.
    pub(crate) fn insert(&self, key: K, value: V) {
        match &self.layout {
            Layout::Ordered(m) => {
                m.insert(key, value);
            }
            Layout::Keyed { keys, keydir } => {
                keyed_set(keys, &keydir.pin(), key, value);
            }
        }
    }

    /// `insert` into an index being built, which no reader or writer sees yet:
    /// its keys are new, so the keydir is not probed before the skiplist (a
    /// key given twice still ends with its last value, as with `insert`).
    pub(crate) fn load(&self, key: K, value: V) {
        if let Layout::Keyed { keys, keydir } = &self.layout {
            keys.get_or_insert(key, ());
            keydir.pin().insert(key, value);
        } else {
            self.insert(key, value);
        }
    }

    /// `insert` that returns the previous value. Caller holds the key's shard lock.
    pub(crate) fn replace(&self, key: K, value: V) -> Option<V> {
        match &self.layout {
            Layout::Ordered(m) => {
                let old = m.get(&key).map(|e| e.value().clone());
                m.insert(key, value);
                old
            }
            Layout::Keyed { keys, keydir } => keyed_set(keys, &keydir.pin(), key, value).cloned(),
        }
    }

    /// Removes `key` and returns its value, in one lookup of each map.
    /// Caller holds the key's shard lock.
    pub(crate) fn take(&self, key: &K) -> Option<V> {
        match &self.layout {
            Layout::Ordered(m) => m.remove(key).map(|e| e.value().clone()),
            Layout::Keyed { keys, keydir } => {
                // Value first: from then on no reader sees the key.
                let old = keydir.pin().remove(key).cloned();
                keys.remove(key);
                old
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match &self.layout {
            Layout::Ordered(m) => m.len(),
            Layout::Keyed { keydir, .. } => keydir.len(),
        }
    }

    /// The pairs whose keys fall in `range`, in key order.
    pub(crate) fn range<R: RangeBounds<K>>(&self, range: R) -> impl DoubleEndedIterator<Item = (K, V)> {
        match &self.layout {
            Layout::Ordered(m) => Either::A(m.range(range).map(|e| (*e.key(), e.value().clone()))),
            Layout::Keyed { keys, keydir } => Either::B(Lookup::new(keys.range(range), keydir)),
        }
    }

    /// Every pair in key order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (K, V)> + '_ {
        match &self.layout {
            Layout::Ordered(m) => Either::A(m.iter().map(|e| (*e.key(), e.value().clone()))),
            Layout::Keyed { keys, keydir } => Either::B(Lookup::new(keys.iter(), keydir)),
        }
    }

    /// The pair with the smallest key.
    pub(crate) fn first(&self) -> Option<(K, V)> {
        self.iter().next()
    }

    /// The pair with the largest key.
    pub(crate) fn last(&self) -> Option<(K, V)> {
        self.iter().next_back()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rand::{Rng, SeedableRng, rngs::SmallRng};

    use super::*;

    /// Random puts, overwrites and removals over a few keys, checked after each
    /// step against a `BTreeMap`: point reads and iteration in both directions.
    /// A key the keydir holds but the skiplist lacks shows in `get` and not in
    /// `iter`; one the skiplist holds twice shows twice.
    fn follows_the_model(keydir: bool, seed: u64) {
        let index = KeyIndex::<[u8; 2], u32>::new(keydir);
        let mut model = BTreeMap::new();
        let mut rng = SmallRng::seed_from_u64(seed);
        for step in 0..4_000u32 {
            let key = [0, rng.random_range(0..24u8)];
            match rng.random_range(0..4) {
                0 => {
                    assert_eq!(index.take(&key), model.remove(&key), "step {step}");
                }
                1 => {
                    assert_eq!(index.replace(key, step), model.insert(key, step), "step {step}");
                }
                _ => {
                    index.insert(key, step);
                    model.insert(key, step);
                }
            }
            assert_eq!(index.get(&key), model.get(&key).copied(), "step {step}");
            assert_eq!(index.len(), model.len(), "step {step}");
            let forward: Vec<_> = index.iter().collect();
            let backward: Vec<_> = index.iter().rev().collect();
            let expected: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(forward, expected, "step {step}");
            assert_eq!(backward, expected.iter().rev().copied().collect::<Vec<_>>(), "step {step}");
        }
    }

    #[test]
    fn keyed_index_follows_the_model() {
        for seed in 0..4 {
            follows_the_model(true, seed);
        }
    }

    #[test]
    fn ordered_index_follows_the_model() {
        for seed in 0..4 {
            follows_the_model(false, seed);
        }
    }

    #[test]
    fn a_key_removed_and_put_again_under_a_live_iterator_is_iterated_once() {
        let index = KeyIndex::<[u8; 1], u8>::new(true);
        for k in 0..4 {
            index.insert([k], k);
        }
        // The open iterator holds the skiplist node of key 1 while the key is
        // removed and put again: the new node must be the one later scans see.
        let mut open = index.range([1]..);
        assert_eq!(open.next(), Some(([1], 1)));
        assert_eq!(index.take(&[1]), Some(1));
        index.insert([1], 9);
        index.insert([1], 10);
        assert_eq!(open.next(), Some(([2], 2)));
        let all: Vec<_> = index.iter().collect();
        assert_eq!(all, vec![([0], 0), ([1], 10), ([2], 2), ([3], 3)]);
    }

    /// A value that counts its live copies.
    #[derive(Debug)]
    struct Counted(Arc<AtomicUsize>);

    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.0.fetch_add(1, Ordering::SeqCst);
            Self(Arc::clone(&self.0))
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn replaced_values_are_freed_in_batches() {
        let live = Arc::new(AtomicUsize::new(0));
        let make = || {
            live.fetch_add(1, Ordering::SeqCst);
            Counted(Arc::clone(&live))
        };
        let index = KeyIndex::<[u8; 1], Counted>::new(true);
        let rounds = 20 * crate::sync::RETIRE_BATCH;
        for _ in 0..rounds {
            index.insert([7], make());
        }
        // The current value plus one batch short of full: 20 × RETIRE_BATCH - 1
        // replaced values leave RETIRE_BATCH - 1 in the last batch. More means
        // batches are not freed; at most 32 means seize's default batch size,
        // not RETIRE_BATCH, is in force.
        let held = live.load(Ordering::SeqCst);
        assert!(held <= crate::sync::RETIRE_BATCH, "{held} values of {rounds} still live");
        assert!(held > 33, "only {held} values live: the map frees in batches smaller than RETIRE_BATCH");
        drop(index);
        assert_eq!(live.load(Ordering::SeqCst), 0, "the index leaked values");
    }
}
