//! `VarTree<K>`: variable-size values on disk, located through the index.

use std::ops::RangeBounds;
use std::sync::Arc;

use bytes::Bytes;

use super::core::{Locked, TreeCore};
use super::read_ahead::{READ_AHEAD, ReadAhead};
use crate::key::{KeyBytes, Prefix};
use crate::log::Loc;
use crate::{Key, Result};

/// A tree of fixed-size keys and variable-size values. The index holds each
/// value's location; reads go through the value cache and positional reads,
/// and every value read is checked against its entry's CRC and key.
/// Cheap to clone; every clone is the same tree.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().expect("temporary directory");
/// let db = armdb::Db::open(dir.path(), armdb::Config::default())?;
/// let blobs = db.var_tree::<[u8; 4]>("blobs")?;
/// blobs.put(b"key1", b"a value of any length")?;
/// assert_eq!(blobs.get(b"key1")?.as_deref(), Some(&b"a value of any length"[..]));
/// # Ok::<(), armdb::Error>(())
/// ```
pub struct VarTree<K: Key> {
    pub(crate) core: Arc<TreeCore<K, Loc>>,
}

impl<K: Key> Clone for VarTree<K> {
    fn clone(&self) -> Self {
        Self { core: Arc::clone(&self.core) }
    }
}

impl<K: Key> std::fmt::Debug for VarTree<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt(f)
    }
}

impl<K: Key> VarTree<K> {
    /// The tree's name in the catalog.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Reads the value at `loc` of `key`; if compaction moved it meanwhile, follows
    /// the index to its new place. `None` if the key was deleted meanwhile.
    fn read(&self, key: &K, mut loc: Loc) -> Result<Option<Bytes>> {
        let kb = KeyBytes::of(key);
        loop {
            if let Some(v) = self.core.log.read_value(loc, self.core.id, kb.as_slice())? {
                return Ok(Some(v));
            }
            match self.core.index.get(key) {
                Some(now) if now != loc => loc = now,
                Some(_) => {
                    return Err(crate::Error::InvalidArgument(format!(
                        "tree {:?}: the index points at a retired data file {} of shard {}",
                        self.core.name, loc.file, loc.shard
                    )));
                }
                None => return Ok(None),
            }
        }
    }

    fn read_locked(&self, l: &Locked<'_, '_, K, Loc>, loc: Loc) -> Result<Bytes> {
        let bytes = l.a.read_entry(loc)?;
        self.core.log.verify_value(loc, self.core.id, l.key_bytes, bytes)
    }

    /// The value of `key`, if present.
    ///
    /// # Errors
    /// I/O errors of the read; `Error::Corruption` if the bytes on disk fail their checksum.
    pub fn get(&self, key: &K) -> Result<Option<Bytes>> {
        match self.core.index.get(key) {
            Some(loc) => self.read(key, loc),
            None => Ok(None),
        }
    }

    /// Whether `key` is present (no disk read).
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

    /// Sets `key` to `value`.
    ///
    /// # Errors
    /// `Error::InvalidArgument` for a value over `limits::MAX_VALUE_LEN`; I/O errors
    /// of the write; `Error::Poisoned` after an earlier failed write; `Error::Closed`.
    pub fn put(&self, key: &K, value: &[u8]) -> Result<()> {
        self.core.locked(key, |mut l| self.core.put_locked(&mut l, value, |loc| loc))
    }

    /// Sets `key` to `value` only if it is absent; returns whether it wrote.
    ///
    /// # Errors
    /// As for [`put`](Self::put).
    pub fn insert(&self, key: &K, value: &[u8]) -> Result<bool> {
        self.core.locked(key, |mut l| {
            if l.current.is_some() {
                return Ok(false);
            }
            self.core.put_locked(&mut l, value, |loc| loc)?;
            Ok(true)
        })
    }

    /// Removes `key`; returns whether it was present.
    ///
    /// # Errors
    /// As for [`put`](Self::put).
    pub fn delete(&self, key: &K) -> Result<bool> {
        self.core.locked(key, |mut l| {
            let existed = l.current.is_some();
            self.core.delete_locked(&mut l)?;
            Ok(existed)
        })
    }

    /// Sets `key` to `new` (absent for `None`) only if its value is `expected`
    /// (absent for `None`); returns whether it wrote.
    ///
    /// # Errors
    /// As for [`put`](Self::put), plus read errors of the current value.
    pub fn cas(&self, key: &K, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool> {
        self.core.locked(key, |mut l| {
            let current = l.current.map(|loc| self.read_locked(&l, loc)).transpose()?;
            if current.as_deref() != expected {
                return Ok(false);
            }
            self.set_locked(&mut l, new)?;
            Ok(true)
        })
    }

    /// Replaces the value of `key` with `f(current)` (`None` deletes) atomically
    /// with respect to other writers of the key, and returns the new value.
    ///
    /// `f` runs while the key's shard is locked: it must not call into this database.
    ///
    /// # Errors
    /// As for [`cas`](Self::cas).
    pub fn update(&self, key: &K, f: impl FnOnce(Option<&[u8]>) -> Option<Vec<u8>>) -> Result<Option<Bytes>> {
        self.core.locked(key, |mut l| {
            let current = l.current.map(|loc| self.read_locked(&l, loc)).transpose()?;
            let new = f(current.as_deref()).map(Bytes::from);
            self.set_locked(&mut l, new.as_deref())?;
            Ok(new)
        })
    }

    fn set_locked(&self, l: &mut Locked<'_, '_, K, Loc>, new: Option<&[u8]>) -> Result<()> {
        match new {
            Some(value) => self.core.put_locked(l, value, |loc| loc),
            None => self.core.delete_locked(l),
        }
    }

    /// The pair of an index entry; `None` if the key was deleted since the
    /// iterator reached it.
    fn pair(&self, (key, loc): (K, Loc)) -> Option<Result<(K, Bytes)>> {
        self.read(&key, loc).map(|v| v.map(|v| (key, v))).transpose()
    }

    /// The pairs of index `entries`, each value read when the iterator returns it.
    ///
    /// With a keydir, a forward scan reads ahead ([`ReadAhead`]), and each
    /// entry's location is looked up again when it is returned: a lookup of
    /// keydir lines the read-ahead has just loaded. So a key deleted or
    /// overwritten after it was fetched ahead, by this thread or another, is
    /// skipped or read at its new place, as without read-ahead. Without a
    /// keydir that second lookup would be a skiplist search, so such a scan
    /// does not read ahead.
    fn scan<I>(&self, entries: I) -> impl DoubleEndedIterator<Item = Result<(K, Bytes)>>
    where
        I: DoubleEndedIterator<Item = (K, Loc)>,
    {
        let keyed = self.core.index.has_keydir();
        let depth = if keyed { READ_AHEAD } else { 0 };
        // Without look-ahead an entry is read at once: a prefetch would only cost.
        let prefetch = move |loc| {
            if keyed {
                self.core.log.prefetch(loc);
            }
        };
        ReadAhead::new(entries, depth, prefetch)
            .filter_map(move |(key, loc)| {
                if keyed { self.core.index.get(&key).map(|now| (key, now)) } else { Some((key, loc)) }
            })
            .filter_map(|e| self.pair(e))
    }

    /// All pairs in key order; each value is read when the iterator reaches it.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Result<(K, Bytes)>> {
        self.scan(self.core.index.iter())
    }

    /// The pairs whose keys fall in `range`, in key order.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> impl DoubleEndedIterator<Item = Result<(K, Bytes)>> {
        self.scan(self.core.index.range(range))
    }

    /// The pairs whose keys start with `prefix`, in key order.
    pub fn prefix(&self, prefix: Prefix<K>) -> impl DoubleEndedIterator<Item = Result<(K, Bytes)>> {
        self.range(prefix)
    }

    /// Keys only, in key order, without reading values.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = K> {
        self.core.index.iter().map(|(k, _)| k)
    }

    /// The pair with the smallest key.
    ///
    /// # Errors
    /// As for [`get`](Self::get).
    pub fn first(&self) -> Result<Option<(K, Bytes)>> {
        self.core.index.iter().find_map(|e| self.pair(e)).transpose()
    }

    /// The pair with the largest key.
    ///
    /// # Errors
    /// As for [`get`](Self::get).
    pub fn last(&self) -> Result<Option<(K, Bytes)>> {
        self.core.index.iter().rev().find_map(|e| self.pair(e)).transpose()
    }
}
