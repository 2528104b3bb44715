//! The primary index of a tree: an ordered skiplist for ranges and iteration,
//! and an optional hash keydir beside it for point reads.
//!
//! Both are written only under the home shard's lock of the key; reads never lock.

use crossbeam_skiplist::SkipMap;

type Keydir<K, V> = papaya::HashMap<K, V, foldhash::fast::RandomState>;

pub(crate) struct KeyIndex<K, V> {
    ordered: SkipMap<K, V>,
    keydir: Option<Keydir<K, V>>,
}

impl<K, V> std::fmt::Debug for KeyIndex<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyIndex")
            .field("len", &self.ordered.len())
            .field("keydir", &self.keydir.is_some())
            .finish()
    }
}

impl<K, V> KeyIndex<K, V>
where
    K: crate::Key,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(keydir: bool) -> Self {
        Self {
            ordered: SkipMap::new(),
            keydir: keydir.then(|| Keydir::with_hasher(foldhash::fast::RandomState::default())),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        match &self.keydir {
            Some(h) => h.pin().get(key).cloned(),
            None => self.ordered.get(key).map(|e| e.value().clone()),
        }
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        match &self.keydir {
            Some(h) => h.pin().contains_key(key),
            None => self.ordered.contains_key(key),
        }
    }

    /// Caller holds the key's shard lock.
    pub(crate) fn insert(&self, key: K, value: V) {
        if let Some(h) = &self.keydir {
            h.pin().insert(key, value.clone());
        }
        self.ordered.insert(key, value);
    }

    /// Caller holds the key's shard lock.
    pub(crate) fn remove(&self, key: &K) {
        self.ordered.remove(key);
        if let Some(h) = &self.keydir {
            h.pin().remove(key);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ordered.len()
    }

    pub(crate) fn ordered(&self) -> &SkipMap<K, V> {
        &self.ordered
    }
}
