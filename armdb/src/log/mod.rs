//! The physical layer: sharded append-only data files shared by all trees, the
//! manifest, the catalog and the directory lock.

mod batch;
mod catalog;
mod codec;
mod file;
mod format;
pub(crate) mod fsio;
#[cfg(test)]
mod golden;
pub(crate) mod health;
mod hint;
mod lock;
mod manifest;
mod scan;
mod set;
mod shard;

pub(crate) use batch::BatchEntry;
pub(crate) use catalog::{Catalog, TreeDef, TreeKind, TreeShape};
pub(crate) use file::{DataFile, Loc};
pub(crate) use format::{
    BatchMarker, ENTRY_HEADER_LEN, EntryHeader, EntryRef, FILE_HEADER_LEN, FLAG_BATCH, FileHeader, FileKind,
    HINT_SUFFIX, RESERVED_TREE_ID, TMP_SUFFIX, decode_entry, encode_entry, entry_len, log_file_name,
    parse_log_file_name, shard_dir_name,
};
pub(crate) use health::Health;
pub(crate) use hint::{hint_path, load_hint, write_hint};
pub(crate) use lock::DirLock;
pub(crate) use manifest::{MAX_RETIRING, Manifest};
pub(crate) use scan::{Scanner, Step};
pub(crate) use set::{LogSet, shard_of};
pub(crate) use shard::{Appender, FileTable, Shard, ShardState};
