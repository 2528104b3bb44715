//! Database configuration.

use std::time::Duration;

use crate::limits::{MAX_FILE_SIZE, MAX_SHARDS, MAX_WRITE_BUFFER, MIN_FILE_SIZE};
use crate::{Error, Result};

/// How far a write has travelled when the call that made it returns.
///
/// Each variant names the system calls it implies and what survives which failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Writes are copied into the shard's write buffer in user space. A background
    /// thread `write(2)`s every buffer to the OS each `flush_every`, and a full buffer
    /// is written at once. A process crash loses at most the last `flush_every` of
    /// writes; a power cut loses whatever the OS had not written back.
    Buffered {
        /// Longest time a write waits in the buffer before it reaches the OS.
        flush_every: Duration,
    },
    /// Every write is `write(2)`n to the OS before the call returns. A process crash
    /// loses nothing that was acknowledged; a power cut may lose recent writes.
    Flush,
    /// Every write is `write(2)`n and `fdatasync(2)`ed before the call returns.
    /// Acknowledged writes survive a power cut.
    Sync,
}

impl Default for Durability {
    fn default() -> Self {
        Self::Buffered { flush_every: Duration::from_millis(10) }
    }
}

/// Which sealed data files get a hint file (`docs/operations.md`, "Hint files").
///
/// A hint lets `Db::open` skip reading a file's values; it costs disk space
/// (about 25 bytes plus the key per entry, and the value too for const and
/// typed trees, which keep values in memory). It pays off when values are
/// large; with small values scanning the file costs about as much as reading
/// its hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Hints {
    /// A hint is kept only when it is at most 1/8 of its data file's size:
    /// roughly, var-tree values averaging a few hundred bytes or more.
    #[default]
    Auto,
    /// Every sealed file gets a hint.
    Always,
    /// No hints are written (existing ones are still read).
    Never,
}

impl Hints {
    /// Whether a hint of `hint_len` bytes is worth keeping for a data file of `data_len` bytes.
    pub(crate) fn keeps(self, hint_len: u64, data_len: u64) -> bool {
        match self {
            Self::Auto => hint_len.saturating_mul(8) <= data_len,
            Self::Always => true,
            Self::Never => false,
        }
    }
}

/// What recovery does with a damaged entry that is followed by valid ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CorruptionPolicy {
    /// `Db::open` fails with `Error::Corruption` naming the file and offset.
    #[default]
    Refuse,
    /// The damaged bytes are skipped up to the next valid entry and counted in the
    /// `RecoveryReport`; the database opens without them.
    SkipEntry,
}

/// Settings for `Db::open`.
///
/// `shards` is fixed when the database is created; the other fields apply to each
/// open.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of shards for a new database (default: available cores, clamped to 1..=16).
    pub shards: usize,
    /// Size at which the active data file of a shard is sealed and a new one started.
    pub max_file_size: u64,
    /// Bytes a shard buffers in user space before writing them to its file.
    pub write_buffer_size: usize,
    /// What a write guarantees when it returns.
    pub durability: Durability,
    /// Byte budget of the cache of `VarTree` values read from disk with `pread`
    /// (0 disables it). Reads through memory maps (`mmap_reads`) do not use it.
    pub value_cache_bytes: usize,
    /// Keep a hash index beside each ordered index to serve point reads.
    pub keydir: bool,
    /// Read `VarTree` values through read-only memory maps of
    /// the data files (default: on) rather than with `pread` and the value
    /// cache; the operating system's page cache then holds the hot values.
    /// Every read still checks the entry's CRCs. Off, a disk error while
    /// reading is an `Error`; on, the kernel raises SIGBUS instead, as with
    /// every memory-mapped store. File systems without maps (`SimFs`) read
    /// with `pread` either way.
    pub mmap_reads: bool,
    /// Bytes by which a shard's active file is grown ahead of its appends
    /// (default 4 MiB, never past `max_file_size`; 0 appends without
    /// reserving). The file is extended with `ftruncate`, which allocates no
    /// block: a durable append then changes no file size, and `fdatasync`
    /// skips the inode update. Sealing and closing cut the file back to its
    /// last entry; after a crash, recovery reads the zeros as the log's end.
    pub preallocate: u64,
    /// What recovery does with corruption that is not a torn tail.
    pub corruption: CorruptionPolicy,
    /// Which sealed data files get a hint file.
    pub hints: Hints,
    /// When the background compactor runs and how much it rewrites.
    pub compaction: crate::CompactionConfig,
    /// The file system the database lives on: the operating system's
    /// ([`StdFs`](crate::fs::StdFs)) unless a test supplies a simulated one
    /// (`armdb::fs::SimFs`, feature `sim`).
    pub fs: crate::fs::Fs,
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            shards: cores.clamp(1, 16),
            max_file_size: 256 << 20,
            write_buffer_size: 1 << 20,
            durability: Durability::default(),
            value_cache_bytes: 64 << 20,
            keydir: true,
            mmap_reads: true,
            preallocate: 4 << 20,
            corruption: CorruptionPolicy::default(),
            hints: Hints::default(),
            compaction: crate::CompactionConfig::default(),
            fs: std::sync::Arc::new(crate::fs::StdFs),
        }
    }
}

impl Config {
    /// Checks every field against armdb's limits.
    ///
    /// # Errors
    /// `Error::InvalidArgument` naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            return Err(Error::InvalidArgument(format!(
                "Config::shards is {}, must be in 1..={MAX_SHARDS}",
                self.shards
            )));
        }
        if !(MIN_FILE_SIZE..=MAX_FILE_SIZE).contains(&self.max_file_size) {
            return Err(Error::InvalidArgument(format!(
                "Config::max_file_size is {}, must be in {MIN_FILE_SIZE}..={MAX_FILE_SIZE}",
                self.max_file_size
            )));
        }
        if !(1..=MAX_WRITE_BUFFER).contains(&self.write_buffer_size) {
            return Err(Error::InvalidArgument(format!(
                "Config::write_buffer_size is {}, must be in 1..={MAX_WRITE_BUFFER}",
                self.write_buffer_size
            )));
        }
        if let Durability::Buffered { flush_every } = self.durability
            && flush_every.is_zero()
        {
            return Err(Error::InvalidArgument(
                "Durability::Buffered::flush_every must be greater than zero".into(),
            ));
        }
        let ratio = self.compaction.min_dead_ratio;
        if !(0.0..=1.0).contains(&ratio) {
            return Err(Error::InvalidArgument(format!(
                "CompactionConfig::min_dead_ratio is {ratio}, must be in 0.0..=1.0"
            )));
        }
        if self.compaction.interval.is_some_and(|d| d.is_zero()) {
            return Err(Error::InvalidArgument(
                "CompactionConfig::interval must be greater than zero".into(),
            ));
        }
        Ok(())
    }
}
