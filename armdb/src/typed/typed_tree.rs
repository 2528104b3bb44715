//! `TypedTree<R>`: records of a `#[derive(Tree)]` type, decoded in memory.

use std::borrow::Borrow;
use std::ops::RangeBounds;
use std::sync::Arc;

use super::core::TypedCore;
use super::find::FindBy;
use super::handle::Index;
use super::index_value::{IndexBuf, IndexValue};
use super::record::Record;
use crate::key::Prefix;
use crate::{Error, Result};

/// A tree of records of type `R`, keyed by `R::Key`, opened with
/// [`Db::tree`](crate::Db::tree). Cheap to clone; every clone is the same tree.
///
/// Records live in memory decoded, as `Arc<R>`: reads, scans and index lookups
/// never touch the disk and never lock; a read costs an `Arc` clone. Writes
/// append the record's encoding ([`Record::Codec`]) to the log under the key's
/// shard lock, and keep the secondary indexes in step.
///
/// # Examples
/// ```
/// use armdb::{Config, Db, Error};
///
/// #[derive(armdb::Tree, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Account {
///     #[key] id: u64,
///     #[index(unique)] email: String,
///     #[index] region: u8,
///     balance: i64,
/// }
///
/// # let dir = tempfile::tempdir().expect("temporary directory");
/// let db = Db::open(dir.path(), Config::default())?;
/// let accounts = db.tree::<Account>()?;
/// accounts.put(&Account { id: 1, email: "a@x.io".into(), region: 3, balance: 10 })?;
/// accounts.put(&Account { id: 2, email: "b@x.io".into(), region: 3, balance: 20 })?;
///
/// let a = accounts.get_by(Account::by_email(), "b@x.io")?.expect("indexed");
/// assert_eq!(a.id, 2);
/// assert_eq!(accounts.find_by(Account::by_region(), &3).count(), 2);
/// let dup = Account { id: 3, email: "a@x.io".into(), region: 1, balance: 0 };
/// assert!(matches!(accounts.put(&dup), Err(Error::UniqueViolation { .. })));
/// # Ok::<(), armdb::Error>(())
/// ```
pub struct TypedTree<R: Record> {
    pub(crate) core: Arc<TypedCore<R>>,
}

/// Type-checked for every record type, never called: a `TypedTree` is a handle
/// that can be cloned and shared across threads.
#[expect(dead_code, reason = "a compile-time assertion")]
fn assert_handle_traits<R: Record>() {
    fn is<T: Send + Sync + Clone>() {}
    is::<TypedTree<R>>();
}

impl<R: Record> Clone for TypedTree<R> {
    fn clone(&self) -> Self {
        Self { core: Arc::clone(&self.core) }
    }
}

impl<R: Record> std::fmt::Debug for TypedTree<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt(f)
    }
}

impl<R: Record> TypedTree<R> {
    /// The tree's name in the catalog (`R::NAME`).
    pub fn name(&self) -> &str {
        self.core.name()
    }

    /// The record of `key`, if present. Never does I/O; the `Result` leaves room
    /// for trees whose records may not be in memory.
    ///
    /// # Errors
    /// None today.
    pub fn get(&self, key: &R::Key) -> Result<Option<Arc<R>>> {
        Ok(self.core.core.index.get(key).map(|s| s.value))
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &R::Key) -> bool {
        self.core.core.index.contains(key)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.core.core.index.len()
    }

    /// Whether the tree has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `record` under its key (insert or replace) and returns the record it replaced.
    ///
    /// # Errors
    /// `Error::UniqueViolation` if another record holds one of `record`'s unique
    /// index values (nothing is written); `Error::Codec` if `record` cannot be
    /// encoded; `Error::InvalidArgument` if its encoding exceeds
    /// `limits::MAX_VALUE_LEN`; I/O errors of the write; `Error::Poisoned`;
    /// `Error::Closed`.
    pub fn put(&self, record: &R) -> Result<Option<Arc<R>>> {
        let (bytes, stored) = self.core.prepare(record)?;
        self.core.core.locked(&stored.key(), |mut l| self.core.write_locked(&mut l, Some((&bytes, &stored))))
    }

    /// Writes `record` only if its key is absent; returns whether it wrote.
    ///
    /// # Errors
    /// As for [`put`](Self::put).
    pub fn insert(&self, record: &R) -> Result<bool> {
        let (bytes, stored) = self.core.prepare(record)?;
        self.core.core.locked(&stored.key(), |mut l| {
            if l.current.is_some() {
                return Ok(false);
            }
            self.core.write_locked(&mut l, Some((&bytes, &stored)))?;
            Ok(true)
        })
    }

    /// Removes the record of `key` and returns it.
    ///
    /// # Errors
    /// I/O errors of the write; `Error::Poisoned`; `Error::Closed`.
    pub fn delete(&self, key: &R::Key) -> Result<Option<Arc<R>>> {
        self.core.core.locked(key, |mut l| self.core.write_locked(&mut l, None))
    }

    /// Replaces the record of `key` with `f(current)` (`None` deletes)
    /// atomically with respect to other writers of the key, and returns the new record.
    ///
    /// `f` runs while the key's shard is locked: it must not call into this
    /// database, and should be quick.
    ///
    /// # Errors
    /// `Error::InvalidArgument` if `f` returns a record with another key; as for
    /// [`put`](Self::put) otherwise. On error nothing is written.
    pub fn update(&self, key: &R::Key, f: impl FnOnce(Option<&R>) -> Option<R>) -> Result<Option<Arc<R>>> {
        self.core.core.locked(key, |mut l| {
            let new = f(l.current.as_ref().map(|s| &*s.value));
            match new {
                Some(record) => {
                    let (bytes, stored) = self.core.prepare(&record)?;
                    self.core.write_locked(&mut l, Some((&bytes, &stored)))?;
                    Ok(Some(stored))
                }
                None => {
                    self.core.write_locked(&mut l, None)?;
                    Ok(None)
                }
            }
        })
    }

    /// Sets the record of `key` to `new` (absent for `None`) only if it is
    /// `expected` (absent for `None`); returns whether it wrote.
    ///
    /// # Errors
    /// `Error::InvalidArgument` if `new` has another key than `key`; as for
    /// [`put`](Self::put) otherwise.
    pub fn cas(&self, key: &R::Key, expected: Option<&R>, new: Option<&R>) -> Result<bool>
    where
        R: PartialEq,
    {
        let prepared = new.map(|r| self.core.prepare(r)).transpose()?;
        self.core.core.locked(key, |mut l| {
            if l.current.as_ref().map(|s| &*s.value) != expected {
                return Ok(false);
            }
            let new = prepared.as_ref().map(|(bytes, stored)| (&bytes[..], stored));
            self.core.write_locked(&mut l, new)?;
            Ok(true)
        })
    }

    /// All records in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Arc<R>> {
        self.core.core.index.iter().map(|(_, s)| s.value)
    }

    /// The records whose keys fall in `range`, in key order.
    pub fn range<B: RangeBounds<R::Key>>(&self, range: B) -> impl DoubleEndedIterator<Item = Arc<R>> {
        self.core.core.index.range(range).map(|(_, s)| s.value)
    }

    /// The records whose keys start with `prefix` (see the `prefix_<fields>`
    /// constructors of the key struct), in key order.
    pub fn prefix(&self, prefix: Prefix<R::Key>) -> impl DoubleEndedIterator<Item = Arc<R>> {
        self.range(prefix)
    }

    /// The record with the smallest key.
    pub fn first(&self) -> Option<Arc<R>> {
        self.core.core.index.first().map(|(_, s)| s.value)
    }

    /// The record with the largest key.
    pub fn last(&self) -> Option<Arc<R>> {
        self.core.core.index.last().map(|(_, s)| s.value)
    }

    /// The record whose value of the unique `index` is `value`.
    ///
    /// For a null value (`None` of an `Option` field), which a unique index
    /// lets many records share, the first such record in key order.
    ///
    /// # Errors
    /// `Error::InvalidArgument` if `index` is not unique (use
    /// [`find_by`](Self::find_by)) or not an index of `R`.
    pub fn get_by<F, Q>(&self, index: Index<R, F>, value: &Q) -> Result<Option<Arc<R>>>
    where
        F: Borrow<Q>,
        Q: IndexValue + ?Sized,
    {
        let position = index.position();
        match index.def() {
            Some(def) if def.is_unique() => {}
            Some(def) => {
                return Err(Error::InvalidArgument(format!(
                    "tree {:?}: index {:?} is not unique; use find_by",
                    self.name(),
                    def.name()
                )));
            }
            None => {
                return Err(Error::InvalidArgument(format!(
                    "tree {:?} has no index at position {position}",
                    self.name()
                )));
            }
        }
        if value.is_null() {
            return Ok(self.find_by(index, value).next());
        }
        let bytes = IndexBuf::of(value);
        let Some(idx) = self.core.indexes.get(position) else { return Ok(None) };
        Ok(idx.holder(bytes.as_slice()).and_then(|key| self.core.matching(&key, position, bytes.as_slice())))
    }

    /// The records whose value of `index` (unique or not) is `value`, in key
    /// order, from either end. Lock-free; an index `R` does not have finds nothing.
    pub fn find_by<F, Q>(&self, index: Index<R, F>, value: &Q) -> FindBy<'_, R>
    where
        F: Borrow<Q>,
        Q: IndexValue + ?Sized,
    {
        FindBy::new(&self.core, index.position(), IndexBuf::of(value))
    }
}
