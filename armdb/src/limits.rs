//! Hard limits, checked against each other at compile time.
//!
//! Every length that arrives from a file or a caller is checked against one of
//! these before anything is allocated for it.

/// Largest encoded key, in bytes.
pub const MAX_KEY_LEN: usize = 512;
/// Largest value, in bytes.
pub const MAX_VALUE_LEN: usize = 64 << 20;
/// Largest number of shards a database can have.
pub const MAX_SHARDS: usize = 256;
/// Smallest allowed `Config::max_file_size`.
pub const MIN_FILE_SIZE: u64 = 4 << 10;
/// Largest allowed `Config::max_file_size`. Entry offsets are stored as `u32`.
pub const MAX_FILE_SIZE: u64 = 2 << 30;
/// Largest allowed `Config::write_buffer_size`.
pub const MAX_WRITE_BUFFER: usize = 256 << 20;
/// Largest tree name, in bytes of UTF-8.
pub const MAX_TREE_NAME_LEN: usize = 255;
/// Largest number of trees in one database.
pub const MAX_TREES: usize = 65_535;
/// Most entries in one atomic batch.
pub const MAX_BATCH_ENTRIES: usize = 1 << 20;
/// Largest catalog file: every tree at its largest record.
pub const MAX_CATALOG_LEN: usize = 64 + MAX_TREES * (32 + MAX_TREE_NAME_LEN);

const _: () = assert!(MAX_KEY_LEN <= u16::MAX as usize);
const _: () = assert!(MAX_VALUE_LEN <= u32::MAX as usize);
const _: () = assert!(MAX_SHARDS <= u16::MAX as usize + 1);
// An entry may start just below the file size limit and still be addressed by u32 offsets.
const _: () = assert!(MAX_FILE_SIZE + (MAX_KEY_LEN + MAX_VALUE_LEN + 64) as u64 <= u32::MAX as u64);
const _: () = assert!(MIN_FILE_SIZE < MAX_FILE_SIZE);
