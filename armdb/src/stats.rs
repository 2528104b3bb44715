//! A snapshot of counters, from `Db::stats`.

use crate::RecoveryReport;

/// Counters and sizes of an open database.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Number of shards.
    pub shards: usize,
    /// Trees in the catalog.
    pub trees: usize,
    /// Live keys over all trees, opened or not.
    pub keys: u64,
    /// Data files on disk.
    pub files: usize,
    /// Bytes of data files handed to the OS (buffered bytes not included).
    pub disk_bytes: u64,
    /// Entries appended since open.
    pub writes: u64,
    /// Bytes of entries appended since open.
    pub bytes_written: u64,
    /// `fdatasync` calls on data files since open.
    pub fsyncs: u64,
    /// Writes acknowledged after an fsync covered them (`Durability::Sync`);
    /// with group commit this exceeds `fsyncs`.
    pub synced_writes: u64,
    /// Value cache hits since open. Reads through memory maps
    /// (`Config::mmap_reads`) bypass the value cache and count as neither.
    pub cache_hits: u64,
    /// Value cache misses since open.
    pub cache_misses: u64,
    /// The seq the next write gets.
    pub next_seq: u64,
    /// What recovery did when the database was opened.
    pub recovery: RecoveryReport,
}
