//! `Record`: what `#[derive(Tree)]` implements for a struct stored in a typed tree.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::Codec;
use super::index_value::IndexValue;
use crate::Key;

/// A struct stored in a [`TypedTree`](crate::TypedTree), one record per primary key.
///
/// Implement it with `#[derive(armdb::Tree)]`, which also generates the key
/// struct, the `prefix_<fields>` constructors and the `by_<field>()` index
/// handles; see `docs/typed.md`. A hand-written implementation must keep the
/// invariants listed on each item.
///
/// # Examples
/// ```
/// #[derive(armdb::Tree, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// #[tree(name = "users")]
/// struct User {
///     #[key] tenant: u32,
///     #[key] id: u64,
///     #[index(unique)] email: String,
///     name: String,
/// }
///
/// use armdb::Record;
/// let u = User { tenant: 1, id: 7, email: "a@example.com".into(), name: "Ann".into() };
/// assert_eq!(u.key(), UserKey { tenant: 1, id: 7 });
/// assert_eq!(User::NAME, "users");
/// assert_eq!(User::by_email().name(), "email");
/// ```
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The primary key, made of the `#[key]` fields in declaration order.
    type Key: Key;
    /// How records are encoded in the log: [`codec::Postcard`](crate::codec::Postcard)
    /// unless `#[tree(codec = "...")]` says otherwise.
    type Codec: Codec;
    /// The tree's name in the catalog: `#[tree(name = "...")]`, or the type's
    /// name in snake_case.
    const NAME: &'static str;
    /// A hash of the record's shape (field names, types, order, key and index
    /// attributes, serde attributes, codec), stored in the catalog: opening a
    /// tree whose stored fingerprint differs is `Error::TreeMismatch`.
    const FINGERPRINT: u64;
    /// The secondary indexes, in field declaration order; an index's position
    /// here is its position in [`index_value`](Self::index_value).
    const INDEXES: &'static [IndexDef];

    /// The record's primary key.
    fn key(&self) -> Self::Key;

    /// The record's value in the secondary index at `position` of
    /// [`INDEXES`](Self::INDEXES); `None` when there is no such index.
    fn index_value(&self, position: usize) -> Option<&dyn IndexValue>;
}

/// One secondary index of a [`Record`]: its name (the field's) and whether it is unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexDef {
    name: &'static str,
    unique: bool,
}

impl IndexDef {
    /// An index named `name`, unique when `unique` is true.
    pub const fn new(name: &'static str, unique: bool) -> Self {
        Self { name, unique }
    }

    /// The index's name: the name of its field.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Whether two records may not share a (non-null) value of this index.
    pub const fn is_unique(&self) -> bool {
        self.unique
    }
}
