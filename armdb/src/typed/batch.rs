//! Typed trees in atomic batches: `Batch::put` and `Batch::delete`.

use std::sync::Arc;

use super::core::{Claims, TypedCore, TypedSlot};
use super::record::Record;
use super::typed_tree::TypedTree;
use crate::key::KeyBytes;
use crate::log::Loc;
use crate::tree::{Batch, BatchOp};
use crate::{Error, Result};

struct TypedPut<R: Record> {
    core: Arc<TypedCore<R>>,
    key: R::Key,
    key_bytes: Vec<u8>,
    /// The encoded record and the record as a reopen decodes it, or why
    /// encoding failed (reported by `commit`).
    prepared: std::result::Result<(Vec<u8>, Arc<R>), Option<Error>>,
    old: Option<Arc<R>>,
    claims: Option<Claims<R::Key>>,
}

impl<R: Record> BatchOp for TypedPut<R> {
    fn tree_id(&self) -> u32 {
        self.core.core.id
    }
    fn key_bytes(&self) -> &[u8] {
        &self.key_bytes
    }
    fn prepare(&mut self) -> Result<bool> {
        let record = match &mut self.prepared {
            Ok((_, record)) => Arc::clone(record),
            Err(e) => {
                return Err(e
                    .take()
                    .unwrap_or_else(|| Error::InvalidArgument("batch prepared twice".into())));
            }
        };
        self.old = self.core.core.index.get(&self.key).map(|s| s.value);
        self.claims = Some(self.core.claim_unique(&record, self.old.as_deref())?);
        Ok(true)
    }
    fn value<'a>(&'a self, _: &'a [u8]) -> Option<&'a [u8]> {
        self.prepared.as_ref().ok().map(|(bytes, _)| bytes.as_slice())
    }
    fn apply(&mut self, loc: Loc, _: &[u8]) {
        let Ok((_, record)) = &self.prepared else { return };
        self.core.core.install(self.key, TypedSlot { loc, value: Arc::clone(record) });
        // The claims stay taken: the write happened.
        drop(self.claims.take());
        self.core.index_replace(self.key, self.old.as_deref(), Some(record));
    }
    fn abort(&mut self) {
        if let Some(claims) = self.claims.take() {
            self.core.release(claims);
        }
    }
    fn adds_key(&self) -> bool {
        true
    }
    fn reserve(&self, additional: usize) {
        self.core.core.index.reserve(additional);
    }
    fn concurrent(&self) -> bool {
        // Without secondary indexes, applying a put touches only its own key.
        self.core.indexes.is_empty()
    }
}

struct TypedDelete<R: Record> {
    core: Arc<TypedCore<R>>,
    key: R::Key,
    key_bytes: Vec<u8>,
    old: Option<Arc<R>>,
}

impl<R: Record> BatchOp for TypedDelete<R> {
    fn tree_id(&self) -> u32 {
        self.core.core.id
    }
    fn key_bytes(&self) -> &[u8] {
        &self.key_bytes
    }
    fn prepare(&mut self) -> Result<bool> {
        self.old = self.core.core.index.get(&self.key).map(|s| s.value);
        Ok(self.old.is_some())
    }
    fn value<'a>(&'a self, _: &'a [u8]) -> Option<&'a [u8]> {
        None
    }
    fn apply(&mut self, loc: Loc, _: &[u8]) {
        self.core.core.uninstall(&self.key, loc);
        self.core.index_replace(self.key, self.old.as_deref(), None);
    }
    fn concurrent(&self) -> bool {
        self.core.indexes.is_empty()
    }
}

impl Batch {
    /// Upserts `record` into a typed tree. Encoding errors and unique-index
    /// conflicts are returned by [`commit`](Batch::commit), which then writes nothing.
    pub fn put<R: Record>(&mut self, tree: &TypedTree<R>, record: &R) {
        let core = Arc::clone(&tree.core);
        let key = record.key();
        let prepared = core.prepare(record).map_err(Some);
        let owner = Arc::clone(&core.core.log);
        self.push(
            &owner,
            Box::new(TypedPut {
                key_bytes: KeyBytes::of(&key).as_slice().to_vec(),
                core,
                key,
                prepared,
                old: None,
                claims: None,
            }),
        );
    }

    /// Deletes `key` from a typed tree.
    pub fn delete<R: Record>(&mut self, tree: &TypedTree<R>, key: &R::Key) {
        self.push(
            &tree.core.core.log,
            Box::new(TypedDelete {
                core: Arc::clone(&tree.core),
                key: *key,
                key_bytes: KeyBytes::of(key).as_slice().to_vec(),
                old: None,
            }),
        );
    }
}
