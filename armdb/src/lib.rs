//! armdb: an embedded, typed, multi-tree key-value database.
//!
//! A [`Db`] directory holds N shards of append-only, CRC-checked log files
//! shared by all trees. Each tree keeps an ordered in-memory index
//! (`crossbeam-skiplist`) for ranges, prefixes and iteration, and a hash keydir
//! beside it for point reads:
//!
//! - [`TypedTree`]: the records of a `#[derive(`[`Tree`]`)]` serde struct, held
//!   decoded in memory as `Arc<R>`, with composite keys, prefix scans over
//!   leading key fields and secondary indexes (unique or not); see `docs/typed.md`.
//! - [`ConstTree`]: fixed-size values held inline in memory; reads never do I/O.
//! - [`VarTree`]: values on disk behind a byte-budgeted cache.
//!
//! Writes are ordered by one global sequence number; recovery resolves every key
//! by the highest seq, truncates a torn tail and reports any other damage.
//!
//! armdb is **not** a SQL database, not a server, and not an LSM tree: every key
//! of every tree lives in memory, so the key set must fit in RAM.
//!
//! # Tour
//! A typed tree from a plain serde struct:
//! ```
//! use armdb::{Config, Db, Durability, Error};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
//! #[tree(name = "users")]
//! struct User {
//!     #[key] tenant: u32,                 // the key: (tenant, id), in this order
//!     #[key] id: u64,
//!     #[index(unique)] email: String,     // get_by: at most one user per email
//!     #[index] country: String,           // find_by: any number per country
//!     name: String,
//! }
//!
//! # let dir = tempfile::tempdir().expect("temporary directory");
//! let config = Config { durability: Durability::Flush, ..Config::default() };
//! let db = Db::open(dir.path(), config.clone())?;
//! let users = db.tree::<User>()?;
//! let ann = User { tenant: 7, id: 1, email: "ann@x.io".into(), country: "fr".into(), name: "Ann".into() };
//! users.put(&ann)?;
//! users.put(&User { id: 2, email: "bob@x.io".into(), name: "Bob".into(), ..ann.clone() })?;
//! users.put(&User { tenant: 8, id: 1, email: "cy@x.io".into(), name: "Cy".into(), ..ann.clone() })?;
//!
//! let got = users.get(&UserKey { tenant: 7, id: 1 })?;             // Option<Arc<User>>, no I/O
//! assert_eq!(got.as_deref(), Some(&ann));
//! let tenant7: Vec<u64> = users.prefix(UserKey::prefix_tenant(7)).rev().map(|u| u.id).collect();
//! assert_eq!(tenant7, [2, 1]);                                       // prefix scans run both ways
//! let bob = users.get_by(User::by_email(), "bob@x.io")?.expect("indexed");
//! assert_eq!(bob.name, "Bob");
//! assert_eq!(users.find_by(User::by_country(), "fr").count(), 3);    // in key order
//!
//! let dup = User { id: 3, ..ann.clone() };                           // ann's email again
//! assert!(matches!(users.put(&dup), Err(Error::UniqueViolation { .. })));
//! users.update(&UserKey { tenant: 7, id: 1 }, |u| u.map(|u| User { country: "de".into(), ..u.clone() }))?;
//! db.close()?;
//!
//! let db = Db::open(dir.path(), config)?;                            // indexes are rebuilt on open
//! let users = db.tree::<User>()?;
//! assert_eq!(users.find_by(User::by_country(), "de").map(|u| u.id).collect::<Vec<_>>(), [1]);
//! # Ok::<(), armdb::Error>(())
//! ```
//!
//! Byte-level trees, for fixed-size values and for values kept on disk:
//! ```
//! use armdb::{Config, Db, Durability};
//! # let dir = tempfile::tempdir().expect("temporary directory");
//! let config = Config { durability: Durability::Flush, ..Config::default() };
//! let db = Db::open(dir.path(), config.clone())?;
//!
//! let scores = db.const_tree::<i64, 4>("scores")?;
//! scores.put(&-3, &[0, 0, 0, 1])?;
//! scores.put(&5, &[0, 0, 0, 2])?;
//! assert!(!scores.insert(&5, &[9; 4])?);               // the key exists
//! let keys: Vec<i64> = scores.range(-10..10).map(|(k, _)| k).collect();
//! assert_eq!(keys, [-3, 5]);                             // signed keys sort numerically
//!
//! let docs = db.var_tree::<[u8; 8]>("docs")?;
//! docs.put(b"doc00001", b"hello")?;
//! db.close()?;
//!
//! let db = Db::open(dir.path(), config)?;                // recovery rebuilds the indexes
//! let docs = db.var_tree::<[u8; 8]>("docs")?;
//! assert_eq!(docs.get(b"doc00001")?.as_deref(), Some(&b"hello"[..]));
//! # Ok::<(), armdb::Error>(())
//! ```
//!
//! # Limits
//! Keys are fixed-size, at most [`limits::MAX_KEY_LEN`] bytes; values (and
//! encoded records) at most
//! [`limits::MAX_VALUE_LEN`]; at most [`limits::MAX_SHARDS`] shards.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod compaction;
mod config;
mod db;
mod error;
pub mod fs;
mod key;
pub mod limits;
mod log;
mod recovery;
mod stats;
mod sync;
mod tree;
mod typed;

pub use bytes::Bytes;
pub use compaction::{CompactionConfig, CompactionReport};
pub use config::{Config, CorruptionPolicy, Durability, Hints};
pub use db::Db;
pub use error::{CorruptionKind, Error, Result};
pub use key::{Key, Prefix};
pub use recovery::{RecoveryReport, SkippedCorruption};
pub use stats::Stats;
pub use tree::{Batch, ConstTree, VarTree};
pub use typed::codec;
#[doc(hidden)]
pub use typed::private as __private;

/// Internals that the micro-benchmarks (`bench/benches/hot_paths.rs`) time.
/// Not an API: no stability promise.
#[doc(hidden)]
pub mod __bench {
    /// Appends one entry (header, key, value, padding) to `out`, as the write path does.
    pub fn encode_entry(out: &mut Vec<u8>, seq: u64, tree: u32, key: &[u8], value: &[u8]) {
        crate::log::encode_entry(out, seq, tree, 0, key, Some(value));
    }

    /// Checks one entry's header and payload CRCs, as a read from disk does;
    /// returns its value length.
    pub fn decode_entry(bytes: &[u8]) -> Option<usize> {
        crate::log::decode_entry(bytes).ok().map(|e| e.value.map_or(0, <[u8]>::len))
    }
}
pub use typed::{FindBy, Index, IndexBuf, IndexDef, IndexValue, Record, TypedTree};

/// Derives [`Record`] for a struct with named fields, making it a typed tree.
///
/// Attributes: `#[tree(name = "...", codec = "postcard" | "bincode")]` on the
/// struct (both optional); `#[key]` on one or more fixed-size fields (the
/// primary key, in declaration order); `#[index]` or `#[index(unique)]` on
/// fields whose type implements [`IndexValue`]. Generates the key struct
/// `<Name>Key` (unless the single key field's own type is the key),
/// `<Name>Key::prefix_<fields>(..)` for every proper leading subset of the key
/// fields, and `<Name>::by_<field>()` for every index. See `docs/typed.md`.
///
/// # Examples
/// ```
/// #[derive(armdb::Tree, serde::Serialize, serde::Deserialize)]
/// #[tree(name = "events")]
/// struct Event {
///     #[key] user: u32,
///     #[key] seq: u64,
///     #[index] kind: String,
///     body: Vec<u8>,
/// }
/// let p: armdb::Prefix<EventKey> = EventKey::prefix_user(7);
/// assert_eq!(p.start(), EventKey { user: 7, seq: 0 });
/// assert_eq!(p.end(), EventKey { user: 7, seq: u64::MAX });
/// let _kinds: armdb::Index<Event, String> = Event::by_kind();
/// ```
pub use armdb_macros::Tree;
