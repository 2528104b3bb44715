//! What every tree kind shares: its id, the log set and its primary index.

use std::sync::Arc;

use super::index::KeyIndex;
use crate::key::KeyBytes;
use crate::log::{Appender, LogSet};
use crate::{Key, Result};

pub(crate) struct TreeCore<K, V> {
    pub id: u32,
    pub name: String,
    pub log: Arc<LogSet>,
    pub index: KeyIndex<K, V>,
}

impl<K, V> std::fmt::Debug for TreeCore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("index", &self.index)
            .finish()
    }
}

/// The state of one key while its shard lock is held.
pub(crate) struct Locked<'a, 'b, K, V> {
    pub a: &'a mut Appender<'b>,
    pub key: &'a K,
    pub key_bytes: &'a [u8],
    /// The indexed value before this operation.
    pub current: Option<V>,
}

impl<K, V> TreeCore<K, V>
where
    K: Key,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(id: u32, name: String, log: Arc<LogSet>, keydir: bool) -> Self {
        Self { id, name, log, index: KeyIndex::new(keydir) }
    }

    /// Runs `f` with the key's shard lock held, so that reading the current value,
    /// appending and updating the index are one atomic step for this key.
    pub(crate) fn locked<T>(&self, key: &K, f: impl FnOnce(Locked<'_, '_, K, V>) -> Result<T>) -> Result<T> {
        let kb = KeyBytes::of(key);
        let shard = self.log.shard_of(self.id, kb.as_slice());
        self.log.write(shard, |a| {
            let current = self.index.get(key);
            f(Locked { a, key, key_bytes: kb.as_slice(), current })
        })
    }

    /// Appends a put and points the index at the value `make` builds from its seq and location.
    pub(crate) fn put_locked(
        &self,
        l: &mut Locked<'_, '_, K, V>,
        value: &[u8],
        make: impl FnOnce(u64, crate::log::Loc) -> V,
    ) -> Result<()> {
        let (seq, loc) = l.a.append(self.id, l.key_bytes, Some(value))?;
        self.index.insert(*l.key, make(seq, loc));
        Ok(())
    }

    /// Appends a tombstone if the key exists and removes it from the index.
    pub(crate) fn delete_locked(&self, l: &mut Locked<'_, '_, K, V>) -> Result<()> {
        if l.current.is_some() {
            l.a.append(self.id, l.key_bytes, None)?;
            self.index.remove(l.key);
        }
        Ok(())
    }
}
