//! The one public error type.

use std::path::PathBuf;

/// The result type of every fallible armdb call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in armdb.
///
/// A full disk is an `Io` error for which [`Error::is_no_space`] holds: it does
/// not poison the database, and writes resume once space returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    #[error("I/O error while trying to {op} {path}: {source}")]
    Io {
        /// What armdb was doing.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk failed validation.
    #[error("corruption in {path} at offset {offset}: {kind}")]
    Corruption {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damaged structure in that file.
        offset: u64,
        /// What was wrong.
        kind: CorruptionKind,
    },
    /// Another `Db` (in this or another process) holds the directory's lock file.
    #[error("database directory {path} is locked by another open Db")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A tree was opened with a shape other than the one stored in the catalog.
    #[error("tree {tree:?} cannot be opened this way: {reason}")]
    TreeMismatch {
        /// The tree's name.
        tree: String,
        /// What differs.
        reason: String,
    },
    /// A record could not be encoded or decoded with its tree's codec.
    #[error("tree {tree:?}: cannot {what}: {source}")]
    Codec {
        /// The typed tree's name.
        tree: String,
        /// What armdb was doing, e.g. "decode the record of key 7 with postcard".
        what: String,
        /// The codec's error.
        #[source]
        source: crate::codec::CodecError,
    },
    /// A write would give two records the same value of a unique index; nothing was written.
    #[error(
        "tree {tree:?}: unique index {index:?} already holds the value {value} (for key {holder}); \
         nothing was written"
    )]
    UniqueViolation {
        /// The typed tree's name.
        tree: String,
        /// The index's name (its field).
        index: String,
        /// The conflicting value, as `Debug` shows it.
        value: String,
        /// The primary key of the record that holds the value, as `Debug` shows it.
        holder: String,
    },
    /// A caller passed an argument armdb cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An earlier write or fsync failed; writes are refused until the database is reopened.
    #[error("database is poisoned by an earlier failed {0}; reopen it to recover")]
    Poisoned(String),
    /// The database was closed with `Db::close`.
    #[error("database is closed")]
    Closed,
}

/// What a corrupt structure looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// A checksum did not match the bytes it covers.
    ChecksumMismatch {
        /// The checksum stored in the file.
        expected: u32,
        /// The checksum of the bytes read.
        found: u32,
    },
    /// A header or field held an impossible value.
    Invalid(String),
    /// A structure ended before its declared length.
    Truncated {
        /// Bytes the structure declares.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
}

impl std::fmt::Display for CorruptionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ChecksumMismatch { expected, found } => {
                write!(f, "checksum mismatch (stored {expected:#010x}, computed {found:#010x})")
            }
            Self::Invalid(what) => write!(f, "{what}"),
            Self::Truncated { needed, available } => {
                write!(f, "truncated structure ({needed} bytes declared, {available} present)")
            }
        }
    }
}

impl Error {
    /// Whether the disk (or a quota) ran out of space. Nothing of the failed call
    /// was acknowledged; the database stays open and later writes retry.
    pub fn is_no_space(&self) -> bool {
        matches!(self, Self::Io { source, .. } if crate::fs::is_no_space(source))
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { op, path: path.into(), source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, kind: CorruptionKind) -> Self {
        Self::Corruption { path: path.into(), offset, kind }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, offset: u64, what: impl Into<String>) -> Self {
        Self::corrupt(path, offset, CorruptionKind::Invalid(what.into()))
    }
}
