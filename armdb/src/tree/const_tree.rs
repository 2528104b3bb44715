//! `ConstTree<K, V>`: fixed-size values held inline in the index.

use std::ops::RangeBounds;
use std::sync::Arc;

use super::core::{Slot, TreeCore};
use crate::key::Prefix;
use crate::log::Loc;
use crate::{Key, Result};

/// A value of a const tree and where the entry that wrote it lives.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConstSlot<const V: usize> {
    pub loc: Loc,
    pub value: [u8; V],
}

impl<const V: usize> Slot for ConstSlot<V> {
    fn loc(&self) -> Loc {
        self.loc
    }
    fn relocated(&self, to: Loc) -> Self {
        Self { loc: to, value: self.value }
    }
}

/// A tree of fixed-size keys and fixed-size `[u8; V]` values, all held in memory;
/// reads never touch the disk. Cheap to clone; every clone is the same tree.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().expect("temporary directory");
/// let db = armdb::Db::open(dir.path(), armdb::Config::default())?;
/// let counters = db.const_tree::<u64, 8>("counters")?;
/// counters.put(&7, &42u64.to_le_bytes())?;
/// assert_eq!(counters.get(&7), Some(42u64.to_le_bytes()));
/// # Ok::<(), armdb::Error>(())
/// ```
pub struct ConstTree<K: Key, const V: usize> {
    pub(crate) core: Arc<TreeCore<K, ConstSlot<V>>>,
}

impl<K: Key, const V: usize> Clone for ConstTree<K, V> {
    fn clone(&self) -> Self {
        Self { core: Arc::clone(&self.core) }
    }
}

impl<K: Key, const V: usize> std::fmt::Debug for ConstTree<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt(f)
    }
}

impl<K: Key, const V: usize> ConstTree<K, V> {
    /// The tree's name in the catalog.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &K) -> Option<[u8; V]> {
        self.core.index.get(key).map(|s| s.value)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &K) -> bool {
        self.core.index.contains(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.core.index.len()
    }

    /// Whether the tree has no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets `key` to `value` and returns the previous value.
    ///
    /// # Errors
    /// I/O errors of the write, `Error::Poisoned` after an earlier failed write,
    /// `Error::Closed` after `Db::close`.
    pub fn put(&self, key: &K, value: &[u8; V]) -> Result<Option<[u8; V]>> {
        self.core.locked(key, |mut l| {
            let prev = l.current.map(|s| s.value);
            self.core.put_locked(&mut l, value, |loc| ConstSlot { loc, value: *value })?;
            Ok(prev)
        })
    }

    /// Sets `key` to `value` only if it is absent; returns whether it wrote.
    ///
    /// # Errors
    /// As for [`put`](Self::put).
    pub fn insert(&self, key: &K, value: &[u8; V]) -> Result<bool> {
        self.cas(key, None, Some(value))
    }

    /// Removes `key` and returns its value.
    ///
    /// # Errors
    /// As for [`put`](Self::put).
    pub fn delete(&self, key: &K) -> Result<Option<[u8; V]>> {
        self.core.locked(key, |mut l| {
            let prev = l.current.map(|s| s.value);
            self.core.delete_locked(&mut l)?;
            Ok(prev)
        })
    }

    /// Sets `key` to `new` (absent for `None`) only if its value is `expected`
    /// (absent for `None`); returns whether it wrote.
    ///
    /// # Errors
    /// As for [`put`](Self::put).
    pub fn cas(&self, key: &K, expected: Option<&[u8; V]>, new: Option<&[u8; V]>) -> Result<bool> {
        self.core.locked(key, |mut l| {
            if l.current.as_ref().map(|s| &s.value) != expected {
                return Ok(false);
            }
            self.set_locked(&mut l, new.copied())?;
            Ok(true)
        })
    }

    /// Replaces the value of `key` with `f(current)` (`None` deletes) atomically
    /// with respect to other writers of the key, and returns the new value.
    ///
    /// `f` runs while the key's shard is locked: it must not call into this database.
    ///
    /// # Errors
    /// As for [`put`](Self::put).
    pub fn update(
        &self,
        key: &K,
        f: impl FnOnce(Option<&[u8; V]>) -> Option<[u8; V]>,
    ) -> Result<Option<[u8; V]>> {
        self.core.locked(key, |mut l| {
            let new = f(l.current.as_ref().map(|s| &s.value));
            self.set_locked(&mut l, new)?;
            Ok(new)
        })
    }

    fn set_locked(
        &self,
        l: &mut super::core::Locked<'_, '_, K, ConstSlot<V>>,
        new: Option<[u8; V]>,
    ) -> Result<()> {
        match new {
            Some(value) => self.core.put_locked(l, &value, |loc| ConstSlot { loc, value }),
            None => self.core.delete_locked(l),
        }
    }

    /// All pairs in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (K, [u8; V])> {
        self.core.index.iter().map(|(k, s)| (k, s.value))
    }

    /// The pairs whose keys fall in `range`, in key order.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> impl DoubleEndedIterator<Item = (K, [u8; V])> {
        self.core.index.range(range).map(|(k, s)| (k, s.value))
    }

    /// The pairs whose keys start with `prefix`, in key order.
    pub fn prefix(&self, prefix: Prefix<K>) -> impl DoubleEndedIterator<Item = (K, [u8; V])> {
        self.range(prefix)
    }

    /// The pair with the smallest key.
    pub fn first(&self) -> Option<(K, [u8; V])> {
        self.core.index.first().map(|(k, s)| (k, s.value))
    }

    /// The pair with the largest key.
    pub fn last(&self) -> Option<(K, [u8; V])> {
        self.core.index.last().map(|(k, s)| (k, s.value))
    }
}
