//! Every tree of the database, opened or not, behind one lock-free map.
//!
//! Trees that recovery found but nobody has opened yet are `StagedTree`s: their
//! entries wait, resolved, until the tree is opened with its key and value types.
//! Compaction sees both kinds through `ErasedTree`.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::core::ErasedTree;
use crate::log::Loc;
use crate::recovery::Staged;
use crate::sync::lock;

pub(crate) type TreeMap = HashMap<u32, Arc<dyn ErasedTree>>;

/// The trees of a database. Replaced as a whole, only while every shard lock is
/// held, so a reader holding any shard lock sees a map that cannot change.
#[derive(Default)]
pub(crate) struct Registry {
    map: ArcSwap<TreeMap>,
}

impl Registry {
    pub(crate) fn new(staged: HashMap<u32, Vec<Staged>>) -> Self {
        let map: TreeMap = staged
            .into_iter()
            .map(|(id, parts)| (id, Arc::new(StagedTree { parts: Mutex::new(parts) }) as Arc<dyn ErasedTree>))
            .collect();
        Self { map: ArcSwap::from_pointee(map) }
    }

    pub(crate) fn get(&self, id: u32) -> Option<Arc<dyn ErasedTree>> {
        self.map.load().get(&id).cloned()
    }

    pub(crate) fn snapshot(&self) -> Arc<TreeMap> {
        self.map.load_full()
    }

    /// Installs `tree` under `id`. The caller holds every shard lock.
    pub(crate) fn install(&self, id: u32, tree: Arc<dyn ErasedTree>) {
        self.map.rcu(|m| {
            let mut m = TreeMap::clone(m);
            m.insert(id, Arc::clone(&tree));
            m
        });
    }
}

/// A tree recovery found that has not been opened yet.
pub(crate) struct StagedTree {
    parts: Mutex<Vec<Staged>>,
}

impl StagedTree {
    /// The entries, locked, to build the real index from. The caller holds every
    /// shard lock, so nothing relocates them meanwhile.
    pub(crate) fn parts(&self) -> std::sync::MutexGuard<'_, Vec<Staged>> {
        lock(&self.parts)
    }
}

impl ErasedTree for StagedTree {
    fn len(&self) -> usize {
        lock(&self.parts).iter().map(Staged::len).sum()
    }

    fn live_loc(&self, key: &[u8]) -> Option<Loc> {
        lock(&self.parts).iter().find_map(|p| p.live_loc(key))
    }

    fn relocate(&self, key: &[u8], from: Loc, to: Loc) -> bool {
        lock(&self.parts).iter_mut().any(|p| p.relocate(key, from, to))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
