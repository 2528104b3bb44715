//! armdb: an embedded, typed, multi-tree key-value database.
//!
//! A [`Db`] directory holds N shards of append-only, CRC-checked log files
//! shared by all trees. Each tree keeps an ordered in-memory index
//! (`crossbeam-skiplist`) for ranges, prefixes and iteration, and a hash keydir
//! beside it for point reads:
//!
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
//! ```
//! use armdb::{Config, Db, Durability};
//! # let dir = tempfile::tempdir().unwrap();
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
//! Keys are fixed-size, at most [`limits::MAX_KEY_LEN`] bytes; values at most
//! [`limits::MAX_VALUE_LEN`]; at most [`limits::MAX_SHARDS`] shards.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod db;
mod error;
mod key;
pub mod limits;
mod log;
mod recovery;
mod stats;
mod sync;
mod tree;

pub use bytes::Bytes;
pub use config::{Config, CorruptionPolicy, Durability};
pub use db::Db;
pub use error::{CorruptionKind, Error, Result};
pub use key::{Key, Prefix};
pub use recovery::{RecoveryReport, SkippedCorruption};
pub use stats::Stats;
pub use tree::{ConstTree, VarTree};
