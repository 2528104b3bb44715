//! The physical layer: sharded append-only data files shared by all trees, the
//! manifest, the catalog and the directory lock.

mod catalog;
mod codec;
mod file;
mod format;
pub(crate) mod fsio;
#[cfg(test)]
mod golden;
mod health;
mod lock;
mod manifest;
mod scan;
mod set;
mod shard;

pub(crate) use catalog::{Catalog, TreeDef, TreeKind, TreeShape};
pub(crate) use file::{DataFile, Loc};
pub(crate) use format::{
    EntryRef, FILE_HEADER_LEN, FileHeader, FileKind, log_file_name, parse_log_file_name, shard_dir_name,
};
pub(crate) use lock::DirLock;
pub(crate) use manifest::Manifest;
pub(crate) use scan::{Scanner, Step};
pub(crate) use set::LogSet;
pub(crate) use shard::{Appender, FileTable, Shard, ShardState};
