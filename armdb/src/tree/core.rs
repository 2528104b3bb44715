//! What every tree kind shares: its id, the log set and its primary index, and
//! the type-erased view of a tree that recovery, compaction and batches use.

use std::any::Any;
use std::sync::Arc;

use super::index::KeyIndex;
use crate::key::KeyBytes;
use crate::log::{Appender, Loc, LogSet};
use crate::recovery::{Staged, StagedEntry};
use crate::{Error, Key, Result};

/// A value held in a primary index: it knows where its entry lives on disk, so
/// compaction can tell the live entry of a key from dead ones and move it.
pub(crate) trait Slot: Clone + Send + Sync + 'static {
    fn loc(&self) -> Loc;
    /// The same value, living at `to`.
    fn relocated(&self, to: Loc) -> Self;
}

impl Slot for Loc {
    fn loc(&self) -> Loc {
        *self
    }
    fn relocated(&self, to: Loc) -> Self {
        to
    }
}

/// A tree seen without its key and value types.
pub(crate) trait ErasedTree: Send + Sync + 'static {
    /// Number of live keys.
    fn len(&self) -> usize;
    /// Where the live entry of the encoded `key` is, if the key is present.
    fn live_loc(&self, key: &[u8]) -> Option<Loc>;
    /// Points `key` at `to` if it still points at `from` (compare-and-set, so a
    /// concurrent write always wins). The caller holds the key's shard lock.
    fn relocate(&self, key: &[u8], from: Loc, to: Loc) -> bool;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

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

/// Trees with at least this many entries build their index at open on several threads.
const PARALLEL_BUILD_FROM: usize = 65_536;

/// What opening a tree hands to the code that builds it.
pub(crate) struct TreeInit<'a> {
    pub id: u32,
    pub name: String,
    pub log: Arc<LogSet>,
    pub keydir: bool,
    /// The tree's live entries as recovery found them, one part per shard.
    pub staged: &'a [Staged],
}

impl<K: Key, V: Slot> TreeCore<K, V> {
    /// Builds the tree's index from the recovered entries; `value_of` makes each
    /// index value from its entry.
    pub(crate) fn from_staged(
        init: TreeInit<'_>,
        value_of: impl Fn(&StagedEntry<'_>) -> Result<V> + Sync,
    ) -> Result<Self> {
        let core = Self { id: init.id, name: init.name, log: init.log, index: KeyIndex::new(init.keydir) };
        // In key order: a skiplist takes ascending keys several times faster
        // than random ones (its search paths stay in cache). Each shard's part
        // is in key order already, and the stable sort merges such runs.
        let mut entries: Vec<_> = init.staged.iter().flat_map(|part| part.entries()).collect();
        entries.sort_by(|a, b| a.prefix.cmp(&b.prefix).then_with(|| a.key.cmp(b.key)));
        core.index.reserve(entries.len());
        let insert = |part: &[StagedEntry<'_>]| -> Result<()> {
            for e in part {
                core.index.load(K::decode(e.key), value_of(e)?);
            }
            Ok(())
        };
        // A large tree is built on several threads, each an ascending range of keys.
        let threads = crate::sync::worker_threads();
        if threads < 2 || entries.len() < PARALLEL_BUILD_FROM {
            insert(&entries)?;
            return Ok(core);
        }
        let parts = crate::sync::run_in_parts("armdb-index-build", &mut entries, |part| insert(part));
        for part in parts {
            part.unwrap_or_else(|_| {
                Err(Error::InvalidArgument(format!("tree {:?}: an index build thread panicked", core.name)))
            })?;
        }
        Ok(core)
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

    /// Appends a put and points the index at the value `make` builds for its location.
    pub(crate) fn put_locked(
        &self,
        l: &mut Locked<'_, '_, K, V>,
        value: &[u8],
        make: impl FnOnce(Loc) -> V,
    ) -> Result<()> {
        let (_, loc) = l.a.append(self.id, l.key_bytes, Some(value))?;
        self.index.insert(*l.key, make(loc));
        if let Some(old) = l.current.take() {
            self.log.mark_dead(old.loc());
        }
        Ok(())
    }

    /// Points `key` at `value`, whose entry was just appended; the previous
    /// entry becomes garbage. Returns the previous value. The caller holds the
    /// key's shard lock (batches, which append before they install).
    pub(crate) fn install(&self, key: K, value: V) -> Option<V> {
        let old = self.index.replace(key, value);
        if let Some(o) = &old {
            self.log.mark_dead(o.loc());
        }
        old
    }

    /// Removes `key`, whose tombstone was just appended at `tomb`. Returns the
    /// previous value. The caller holds the key's shard lock.
    pub(crate) fn uninstall(&self, key: &K, tomb: Loc) -> Option<V> {
        let old = self.index.take(key);
        if let Some(o) = &old {
            self.log.mark_dead(o.loc());
        }
        self.log.mark_dead(tomb);
        old
    }

    /// Appends a tombstone if the key exists and removes it from the index.
    pub(crate) fn delete_locked(&self, l: &mut Locked<'_, '_, K, V>) -> Result<()> {
        if let Some(old) = l.current.take() {
            let (_, tomb) = l.a.append(self.id, l.key_bytes, None)?;
            self.index.take(l.key);
            self.log.mark_dead(old.loc());
            // A tombstone is garbage as soon as it is written: it only waits for
            // the older versions it shadows to be compacted away.
            self.log.mark_dead(tomb);
        }
        Ok(())
    }
}

impl<K: Key, V: Slot> ErasedTree for TreeCore<K, V> {
    fn len(&self) -> usize {
        self.index.len()
    }

    fn live_loc(&self, key: &[u8]) -> Option<Loc> {
        // A key of another length (damage recovery skipped) is nobody's live entry.
        (key.len() == K::LEN).then(|| self.index.get(&K::decode(key)).map(|v| v.loc())).flatten()
    }

    fn relocate(&self, key: &[u8], from: Loc, to: Loc) -> bool {
        if key.len() != K::LEN {
            return false;
        }
        let key = K::decode(key);
        match self.index.get(&key) {
            Some(v) if v.loc() == from => {
                self.index.insert(key, v.relocated(to));
                true
            }
            _ => false,
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
