//! `TypedCore<R>`: a typed tree's primary index of decoded records plus its
//! secondary indexes, and the steps of a typed write.
//!
//! A write is: encode (and decode back, so memory holds exactly what a reopen
//! would), lock the key's home shard, [`claim_unique`](TypedCore::claim_unique),
//! append, [`index_replace`](TypedCore::index_replace), unlock; a failed append
//! [`release`](TypedCore::release)s the claims. Batches run the same steps.

use std::any::Any;
use std::sync::Arc;

use super::codec::{Codec, CodecError};
use super::index_value::IndexBuf;
use super::record::Record;
use super::secondary::{Claim, Secondary};
use crate::log::Loc;
use crate::tree::core::{ErasedTree, Locked, Slot, TreeCore, TreeInit};
use crate::{Error, Key, Result};

/// A record in the primary index and where the entry that wrote it lives.
pub(crate) struct TypedSlot<R> {
    pub loc: Loc,
    pub value: Arc<R>,
}

impl<R> Clone for TypedSlot<R> {
    fn clone(&self) -> Self {
        Self { loc: self.loc, value: Arc::clone(&self.value) }
    }
}

impl<R: Send + Sync + 'static> Slot for TypedSlot<R> {
    fn loc(&self) -> Loc {
        self.loc
    }
    fn relocated(&self, to: Loc) -> Self {
        Self { loc: to, value: Arc::clone(&self.value) }
    }
}

/// Below this many records, building indexes on threads costs more than it saves.
const PARALLEL_BUILD_MIN_RECORDS: usize = 50_000;

pub(crate) type TypedLocked<'a, 'b, R> = Locked<'a, 'b, <R as Record>::Key, TypedSlot<R>>;

/// Unique values a write newly claimed. Dropping it keeps them (the write
/// happened); [`TypedCore::release`] gives them back (it did not).
#[must_use = "release the claims if the write fails"]
#[derive(Debug)]
pub(crate) struct Claims<K> {
    key: K,
    taken: Vec<(usize, Box<[u8]>)>,
}

pub(crate) struct TypedCore<R: Record> {
    pub(crate) core: TreeCore<R::Key, TypedSlot<R>>,
    pub(crate) indexes: Box<[Secondary<R::Key>]>,
}

impl<R: Record> std::fmt::Debug for TypedCore<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedTree").field("core", &self.core).field("indexes", &self.indexes).finish()
    }
}

fn codec_error(tree: &str, what: String, source: CodecError) -> Error {
    Error::Codec { tree: tree.to_owned(), what, source }
}

/// Writes `record`'s value of index `position` into `out`; returns whether it
/// is null, or `None` if the record has no such index.
pub(crate) fn index_bytes<R: Record>(record: &R, position: usize, out: &mut IndexBuf) -> Option<bool> {
    out.clear();
    let v = record.index_value(position)?;
    v.encode_index(out);
    Some(v.is_null())
}

impl<R: Record> TypedCore<R> {
    /// Builds the tree from the entries recovery found: decodes every record,
    /// then fills the secondary indexes from the primary one.
    pub(crate) fn open(init: TreeInit<'_>) -> Result<Self> {
        let name = init.name.clone();
        let core = TreeCore::from_staged(init, |e| {
            let key = R::Key::decode(e.key);
            let record = decode::<R>(&name, &key, e.value)?;
            Ok(TypedSlot { loc: e.loc, value: Arc::new(record) })
        })?;
        let tree = Self { core, indexes: R::INDEXES.iter().map(|d| Secondary::new(*d)).collect() };
        tree.build_indexes();
        Ok(tree)
    }

    /// Fills every secondary index from the primary one; independent indexes
    /// of a large tree are built on scoped threads.
    fn build_indexes(&self) {
        let parallel = self.indexes.len() > 1 && self.core.index.len() >= PARALLEL_BUILD_MIN_RECORDS;
        std::thread::scope(|s| {
            for (i, idx) in self.indexes.iter().enumerate() {
                let spawned = parallel
                    && std::thread::Builder::new()
                        .name(format!("armdb-index-{}", idx.def.name()))
                        .spawn_scoped(s, move || self.build_index(i, idx))
                        .is_ok();
                if !spawned {
                    self.build_index(i, idx);
                }
            }
        });
    }

    fn build_index(&self, i: usize, idx: &Secondary<R::Key>) {
        idx.reserve(self.core.index.len());
        let mut buf = IndexBuf::new();
        for (key, slot) in self.core.index.iter() {
            let record = &slot.value;
            let Some(null) = index_bytes(&**record, i, &mut buf) else { return };
            idx.insert(buf.as_slice(), key);
            if null {
                continue;
            }
            if let Claim::Taken(holder) = idx.claim(buf.as_slice(), key) {
                // Possible only if a crash lost the tail of one shard but not
                // another's (Buffered durability). Both records stay readable;
                // the first in key order keeps the value.
                tracing::warn!(
                    tree = %self.core.name,
                    index = idx.def.name(),
                    value = ?record.index_value(i),
                    holder = ?holder,
                    duplicate = ?key,
                    "unique index value held by two records after recovery; the first keeps it"
                );
            }
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.core.name
    }

    /// Encodes `record`, and decodes the bytes back: the returned record is
    /// exactly what a reopen will decode, and its key is checked to survive.
    ///
    /// # Errors
    /// `Error::Codec` if encoding fails or the key changes on the round trip.
    pub(crate) fn prepare(&self, record: &R) -> Result<(Vec<u8>, Arc<R>)> {
        let key = record.key();
        let mut bytes = Vec::new();
        R::Codec::encode(record, &mut bytes).map_err(|e| {
            codec_error(self.name(), format!("encode the record of key {key:?} with {}", R::Codec::NAME), e)
        })?;
        let stored = decode::<R>(self.name(), &key, &bytes)?;
        Ok((bytes, Arc::new(stored)))
    }

    /// Claims, for `new`'s key, every unique value `new` has that `old` (the
    /// key's current record) does not. Writes nothing if one is taken.
    ///
    /// # Errors
    /// `Error::UniqueViolation` naming the first value another key holds; the
    /// values claimed before it are released.
    pub(crate) fn claim_unique(&self, new: &R, old: Option<&R>) -> Result<Claims<R::Key>> {
        let mut claims = Claims { key: new.key(), taken: Vec::new() };
        let (mut buf, mut old_buf) = (IndexBuf::new(), IndexBuf::new());
        for (i, idx) in self.indexes.iter().enumerate().filter(|(_, idx)| idx.def.is_unique()) {
            if index_bytes(new, i, &mut buf) != Some(false) {
                continue;
            }
            // A value the record already has is never a conflict.
            if old.and_then(|o| index_bytes(o, i, &mut old_buf)).is_some() && old_buf == buf {
                continue;
            }
            match idx.claim(buf.as_slice(), claims.key) {
                Claim::New => claims.taken.push((i, buf.as_slice().into())),
                Claim::Held => {}
                Claim::Taken(holder) => {
                    self.release(claims);
                    let value = new.index_value(i).map_or_else(String::new, |v| format!("{v:?}"));
                    return Err(Error::UniqueViolation {
                        tree: self.name().to_owned(),
                        index: idx.def.name().to_owned(),
                        value,
                        holder: format!("{holder:?}"),
                    });
                }
            }
        }
        Ok(claims)
    }

    /// Gives back the values of a write that did not happen.
    pub(crate) fn release(&self, claims: Claims<R::Key>) {
        for (i, value) in &claims.taken {
            if let Some(idx) = self.indexes.get(*i) {
                idx.release(value, claims.key);
            }
        }
    }

    /// Moves `key`'s secondary-index entries from `old` to `new` (either may be
    /// absent) and frees the unique values `old` had and `new` does not.
    /// Caller holds `key`'s shard lock and has written `new`.
    pub(crate) fn index_replace(&self, key: R::Key, old: Option<&R>, new: Option<&R>) {
        let (mut old_buf, mut new_buf) = (IndexBuf::new(), IndexBuf::new());
        for (i, idx) in self.indexes.iter().enumerate() {
            let old_null = old.and_then(|r| index_bytes(r, i, &mut old_buf));
            let new_null = new.and_then(|r| index_bytes(r, i, &mut new_buf));
            if old_null.is_some() && new_null.is_some() && old_buf == new_buf {
                continue;
            }
            // Insert before removing: a reader sees the record under both values
            // for a moment, never under neither; readers check the value anyway.
            if new_null.is_some() {
                idx.insert(new_buf.as_slice(), key);
            }
            if let Some(null) = old_null {
                idx.remove(old_buf.as_slice(), key);
                if !null {
                    idx.release(old_buf.as_slice(), key);
                }
            }
        }
    }

    /// Sets the locked key to `new` (prepared bytes and record; `None` deletes)
    /// and returns the previous record.
    ///
    /// # Errors
    /// `Error::UniqueViolation` (nothing written); errors of the append.
    pub(crate) fn write_locked(
        &self,
        l: &mut TypedLocked<'_, '_, R>,
        new: Option<(&[u8], &Arc<R>)>,
    ) -> Result<Option<Arc<R>>> {
        let old = l.current.as_ref().map(|s| Arc::clone(&s.value));
        match new {
            Some((bytes, record)) => {
                let key = record.key();
                if key != *l.key {
                    return Err(Error::InvalidArgument(format!(
                        "tree {:?}: a record of key {key:?} cannot be written under key {:?}",
                        self.name(),
                        l.key
                    )));
                }
                let claims = self.claim_unique(record, old.as_deref())?;
                if let Err(e) =
                    self.core.put_locked(l, bytes, |loc| TypedSlot { loc, value: Arc::clone(record) })
                {
                    self.release(claims);
                    return Err(e);
                }
                drop(claims);
                self.index_replace(*l.key, old.as_deref(), Some(record));
            }
            None if old.is_some() => {
                self.core.delete_locked(l)?;
                self.index_replace(*l.key, old.as_deref(), None);
            }
            None => {}
        }
        Ok(old)
    }

    /// The record of `key` if its value of index `position` is `value`.
    pub(crate) fn matching(&self, key: &R::Key, position: usize, value: &[u8]) -> Option<Arc<R>> {
        let slot = self.core.index.get(key)?;
        let mut buf = IndexBuf::new();
        index_bytes(&*slot.value, position, &mut buf)?;
        (buf.as_slice() == value).then_some(slot.value)
    }
}

/// Decodes the record stored under `key` and checks that it has that key.
fn decode<R: Record>(tree: &str, key: &R::Key, bytes: &[u8]) -> Result<R> {
    let record: R = R::Codec::decode(bytes).map_err(|e| {
        codec_error(tree, format!("decode the record of key {key:?} with {}", R::Codec::NAME), e)
    })?;
    let found = record.key();
    if found != *key {
        return Err(codec_error(
            tree,
            format!("decode the record of key {key:?} with {}", R::Codec::NAME),
            format!("it decodes with key {found:?}; is a #[key] field skipped or renamed by serde?").into(),
        ));
    }
    Ok(record)
}

impl<R: Record> ErasedTree for TypedCore<R> {
    fn len(&self) -> usize {
        self.core.len()
    }

    fn live_loc(&self, key: &[u8]) -> Option<Loc> {
        self.core.live_loc(key)
    }

    fn relocate(&self, key: &[u8], from: Loc, to: Loc) -> bool {
        // The record does not move in memory: secondary indexes stay as they are.
        self.core.relocate(key, from, to)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
