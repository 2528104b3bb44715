//! What recovery found when the database was opened.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::CorruptionKind;

/// A damaged structure recovery skipped (only with `CorruptionPolicy::SkipEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedCorruption {
    /// The damaged file.
    pub path: PathBuf,
    /// Offset of the damage in that file.
    pub offset: u64,
    /// What was wrong.
    pub kind: CorruptionKind,
}

/// The outcome of rebuilding the indexes from the data files on `Db::open`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Data files read.
    pub files: usize,
    /// Bytes of data files read.
    pub bytes: u64,
    /// Data files whose entries came from their hint file instead of a scan.
    pub hint_files: usize,
    /// Valid entries read (live, overwritten and tombstones).
    pub entries: u64,
    /// Bytes cut from torn or zero-filled tails of the last file of a shard.
    pub truncated_bytes: u64,
    /// Damaged entries or files skipped under `CorruptionPolicy::SkipEntry`.
    pub corrupt_entries: u64,
    /// Batches dropped because a crash cut one of their parts (found at this open;
    /// batches dropped at an earlier open are not counted again).
    pub incomplete_batches: u64,
    /// Where each skipped damage was.
    pub corruptions: Vec<SkippedCorruption>,
    /// Wall time of recovery.
    pub duration: Duration,
}

impl RecoveryReport {
    pub(crate) fn merge(&mut self, other: Self) {
        self.files += other.files;
        self.hint_files += other.hint_files;
        self.bytes += other.bytes;
        self.entries += other.entries;
        self.truncated_bytes += other.truncated_bytes;
        self.corrupt_entries += other.corrupt_entries;
        self.incomplete_batches += other.incomplete_batches;
        self.corruptions.extend(other.corruptions);
    }
}
