//! `Batch`: puts and deletes across trees and shards, committed atomically.

use std::ops::Range;
use std::sync::Arc;

use super::core::{Slot, TreeCore};
use super::order::{apply_order, last_per_key};
use super::{ConstSlot, ConstTree, VarTree};
use crate::key::KeyBytes;
use crate::log::{BatchEntry, Loc, LogSet};
use crate::{Key, Result};

/// Batches of at least this many operations grow the keydirs up front.
const RESERVE_FROM: usize = 256;
/// Batches of at least this many writes of const and var trees update the
/// indexes on several threads, each a range of keys.
const PARALLEL_APPLY_FROM: usize = 512;

/// One operation of a batch, on one key of one tree.
///
/// `prepare` and `apply` run while the key's shard is locked, with the locks of
/// every shard of the batch held, so a batch is one atomic step for each key.
pub(crate) trait BatchOp: Send {
    fn tree_id(&self) -> u32;
    fn key_bytes(&self) -> &[u8];
    /// Decides what to write, or refuses the whole batch. Returns `false` when
    /// the operation writes nothing (a delete of an absent key).
    fn prepare(&mut self) -> Result<bool>;
    /// The value to write (`None`: a tombstone), after a `prepare` that returned `true`.
    /// Byte-level puts keep their value in the batch's `arena`.
    fn value<'a>(&'a self, arena: &'a [u8]) -> Option<&'a [u8]>;
    /// Points the index at the written entry.
    fn apply(&mut self, loc: Loc, arena: &[u8]);
    /// Undoes `prepare` when the batch is refused or fails.
    fn abort(&mut self) {}
    /// Whether `apply` may run on another thread at the same time as the
    /// `apply` of other operations of the batch (distinct keys of trees with
    /// no secondary indexes).
    fn concurrent(&self) -> bool {
        false
    }
    /// Whether the operation may add its key to its tree (a put).
    fn adds_key(&self) -> bool {
        false
    }
    /// Makes room in the operation's tree for `additional` more keys.
    fn reserve(&self, _additional: usize) {}
}

/// A set of puts and deletes over any trees of one database, committed with
/// [`commit`](Batch::commit): after a crash, and on followers, either every
/// operation is present or none is.
///
/// Operations on the same key keep only the last one.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().expect("temporary directory");
/// let db = armdb::Db::open(dir.path(), armdb::Config::default())?;
/// let balances = db.const_tree::<u32, 8>("balances")?;
/// let log = db.var_tree::<u64>("log")?;
/// let mut b = db.batch();
/// b.put_const(&balances, &1, &90u64.to_le_bytes());
/// b.put_const(&balances, &2, &110u64.to_le_bytes());
/// b.put_var(&log, &7, b"moved 10 from 1 to 2");
/// b.commit()?;
/// assert_eq!(balances.get(&2), Some(110u64.to_le_bytes()));
/// # Ok::<(), armdb::Error>(())
/// ```
#[must_use = "a batch does nothing until it is committed"]
pub struct Batch {
    log: Arc<LogSet>,
    ops: Vec<Box<dyn BatchOp>>,
    /// The values of byte-level puts, back to back (one allocation for all).
    arena: Vec<u8>,
    /// An operation named a tree of another database.
    foreign: bool,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("ops", &self.ops.len()).finish()
    }
}

struct PutOp<K, V> {
    core: Arc<TreeCore<K, V>>,
    key: K,
    key_bytes: KeyBytes,
    value: Range<usize>,
    make: fn(Loc, &[u8]) -> V,
}

impl<K: Key, V: Slot> BatchOp for PutOp<K, V> {
    fn tree_id(&self) -> u32 {
        self.core.id
    }
    fn key_bytes(&self) -> &[u8] {
        self.key_bytes.as_slice()
    }
    fn prepare(&mut self) -> Result<bool> {
        Ok(true)
    }
    fn value<'a>(&'a self, arena: &'a [u8]) -> Option<&'a [u8]> {
        Some(&arena[self.value.clone()])
    }
    fn apply(&mut self, loc: Loc, arena: &[u8]) {
        self.core.install(self.key, (self.make)(loc, &arena[self.value.clone()]));
    }
    fn concurrent(&self) -> bool {
        true
    }
    fn adds_key(&self) -> bool {
        true
    }
    fn reserve(&self, additional: usize) {
        self.core.index.reserve(additional);
    }
}

struct DeleteOp<K, V> {
    core: Arc<TreeCore<K, V>>,
    key: K,
    key_bytes: KeyBytes,
}

impl<K: Key, V: Slot> BatchOp for DeleteOp<K, V> {
    fn tree_id(&self) -> u32 {
        self.core.id
    }
    fn key_bytes(&self) -> &[u8] {
        self.key_bytes.as_slice()
    }
    fn prepare(&mut self) -> Result<bool> {
        Ok(self.core.index.contains(&self.key))
    }
    fn value<'a>(&'a self, _: &'a [u8]) -> Option<&'a [u8]> {
        None
    }
    fn apply(&mut self, loc: Loc, _: &[u8]) {
        self.core.uninstall(&self.key, loc);
    }
    fn concurrent(&self) -> bool {
        true
    }
}

fn put_op<K: Key, V: Slot>(
    core: &Arc<TreeCore<K, V>>,
    key: &K,
    value: Range<usize>,
    make: fn(Loc, &[u8]) -> V,
) -> Box<dyn BatchOp> {
    Box::new(PutOp { core: Arc::clone(core), key: *key, key_bytes: KeyBytes::of(key), value, make })
}

fn delete_op<K: Key, V: Slot>(core: &Arc<TreeCore<K, V>>, key: &K) -> Box<dyn BatchOp> {
    Box::new(DeleteOp { core: Arc::clone(core), key: *key, key_bytes: KeyBytes::of(key) })
}

fn const_slot<const V: usize>(loc: Loc, bytes: &[u8]) -> ConstSlot<V> {
    let mut value = [0u8; V];
    value.copy_from_slice(bytes);
    ConstSlot { loc, value }
}

impl Batch {
    pub(crate) fn new(log: Arc<LogSet>) -> Self {
        Self { log, ops: Vec::new(), arena: Vec::new(), foreign: false }
    }

    /// Queues `op` on a tree whose log set is `owner`.
    /// Copies a value into the arena.
    fn stash(&mut self, value: &[u8]) -> Range<usize> {
        let start = self.arena.len();
        self.arena.extend_from_slice(value);
        start..self.arena.len()
    }

    pub(crate) fn push(&mut self, owner: &Arc<LogSet>, op: Box<dyn BatchOp>) {
        self.foreign |= !Arc::ptr_eq(owner, &self.log);
        self.ops.push(op);
    }

    /// Sets `key` of a const tree to `value`.
    pub fn put_const<K: Key, const V: usize>(&mut self, tree: &ConstTree<K, V>, key: &K, value: &[u8; V]) {
        let value = self.stash(value);
        self.push(&tree.core.log, put_op(&tree.core, key, value, const_slot::<V>));
    }

    /// Removes `key` from a const tree.
    pub fn delete_const<K: Key, const V: usize>(&mut self, tree: &ConstTree<K, V>, key: &K) {
        self.push(&tree.core.log, delete_op(&tree.core, key));
    }

    /// Sets `key` of a var tree to `value`.
    pub fn put_var<K: Key>(&mut self, tree: &VarTree<K>, key: &K, value: &[u8]) {
        let value = self.stash(value);
        self.push(&tree.core.log, put_op(&tree.core, key, value, |loc, _| loc));
    }

    /// Removes `key` from a var tree.
    pub fn delete_var<K: Key>(&mut self, tree: &VarTree<K>, key: &K) {
        self.push(&tree.core.log, delete_op(&tree.core, key));
    }

    /// Number of operations queued.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether no operation is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Writes every operation atomically: all shards of the batch are locked,
    /// every operation is prepared (a refusal, e.g. a unique-index conflict,
    /// aborts the batch with nothing written), the entries are appended under one
    /// seq, then the indexes change. In `Sync` mode it returns once the batch is
    /// durable.
    ///
    /// # Errors
    /// `Error::InvalidArgument` for an oversized batch or value; the refusal of
    /// an operation; I/O errors (which poison the database); `Error::Poisoned`; `Error::Closed`.
    pub fn commit(self) -> Result<()> {
        let Batch { log, ops, arena, foreign } = self;
        if foreign {
            return Err(crate::Error::InvalidArgument(
                "a batch names a tree of another database; nothing was written".into(),
            ));
        }
        // The last operation on a key wins.
        let (mut ops, by_key) = last_per_key(ops);
        reserve(&ops);
        let shards: Vec<usize> = ops.iter().map(|op| log.shard_of(op.tree_id(), op.key_bytes())).collect();
        let mut locks = log.lock_shards(shards.iter().copied())?;
        let mut writes = Vec::with_capacity(ops.len());
        for i in 0..ops.len() {
            match ops[i].prepare() {
                Ok(true) => writes.push(i),
                Ok(false) => {}
                Err(e) => {
                    ops[..i].iter_mut().for_each(|op| op.abort());
                    return Err(e);
                }
            }
        }
        let entries: Vec<BatchEntry<'_>> = writes
            .iter()
            .map(|&i| BatchEntry {
                shard: shards[i],
                tree: ops[i].tree_id(),
                key: ops[i].key_bytes(),
                value: ops[i].value(&arena),
            })
            .collect();
        let locs = if entries.is_empty() { Ok(Vec::new()) } else { locks.append(&entries) };
        drop(entries);
        let locs = match locs {
            Ok(locs) => locs,
            Err(e) => {
                ops.iter_mut().for_each(|op| op.abort());
                return Err(e);
            }
        };
        let order = apply_order(&writes, locs, by_key, ops.len());
        locks.finish(|| apply(&mut ops, order, &arena))
    }
}

/// Grows the keydir of every tree a large batch puts to, before any lock is
/// taken, so that the batch's keys fit without a resize: the map is copied
/// once, here, rather than left for the writes that follow to copy a chunk at
/// a time (and for reads to search both tables meanwhile). Counts every put,
/// so a batch of overwrites may grow a map one doubling early.
fn reserve(ops: &[Box<dyn BatchOp>]) {
    if ops.len() < RESERVE_FROM {
        return;
    }
    // (tree, an op of it, its puts), for the few trees of a batch.
    let mut trees: Vec<(u32, usize, usize)> = Vec::new();
    for (i, op) in ops.iter().enumerate().filter(|(_, op)| op.adds_key()) {
        match trees.iter_mut().find(|t| t.0 == op.tree_id()) {
            Some(t) => t.2 += 1,
            None => trees.push((op.tree_id(), i, 1)),
        }
    }
    for (_, i, puts) in trees {
        ops[i].reserve(puts);
    }
}

/// Points the indexes at the written entries, in `order`. A large batch whose
/// operations allow it is split into key ranges applied on several threads.
fn apply(ops: &mut [Box<dyn BatchOp>], order: Vec<(usize, Loc)>, arena: &[u8]) {
    let threads = crate::sync::worker_threads();
    if threads < 2 || order.len() < PARALLEL_APPLY_FROM || !ops.iter().all(|op| op.concurrent()) {
        for (i, loc) in order {
            ops[i].apply(loc, arena);
        }
        return;
    }
    let mut slots: Vec<Option<&mut Box<dyn BatchOp>>> = ops.iter_mut().map(Some).collect();
    let mut work: Vec<(&mut Box<dyn BatchOp>, Loc)> =
        order.into_iter().filter_map(|(i, loc)| slots[i].take().map(|op| (op, loc))).collect();
    let parts = crate::sync::run_in_parts("armdb-batch-apply", &mut work, |part| {
        part.iter_mut().for_each(|(op, loc)| op.apply(*loc, arena));
    });
    for part in parts {
        if let Err(panic) = part {
            std::panic::resume_unwind(panic);
        }
    }
}
