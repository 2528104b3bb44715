//! The engines under test, each behind the same two traits.
//!
//! An adapter uses its engine the way that engine's own documentation tells a
//! user to, with 2 GiB of cache, and checks every value it reads.

mod armdb;
mod armdb_typed;
mod fjall;
mod lmdb;
#[cfg(feature = "native_db")]
mod native_db;
mod redb;
#[cfg(feature = "rocksdb")]
mod rocksdb;
#[cfg(feature = "sled")]
mod sled;

use std::path::Path;

use crate::Result;
use crate::data::{Key, Value};

/// Cache given to every engine, in bytes.
pub const CACHE_BYTES: usize = 2 << 30;

/// How the commits of the next phase are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Every commit is durable when it returns (fdatasync or the engine's equivalent).
    Sync,
    /// No commit waits for the disk (armdb `Buffered`, redb `Durability::None`,
    /// fjall `PersistMode::Buffer`, LMDB `MDB_NOSYNC`).
    NoSync,
}

/// An open database with one table of the benchmark's pairs.
pub trait Engine: Sync {
    /// Sets how the commits of the next phase are made. Called between phases,
    /// outside the timed part: an engine that fixes this at open time reopens here.
    fn set_commit(&mut self, commit: Commit) -> Result<()>;
    /// Writes `keys[i] = values[i]` for every `i` in one commit (or, where the
    /// engine limits the size of a commit, in as few commits as it allows).
    fn write(&self, keys: &[Key], values: &[Value]) -> Result<()>;
    /// Removes `keys` in one commit (or as few as the engine allows).
    fn remove(&self, keys: &[Key]) -> Result<()>;
    /// Makes everything written so far durable.
    fn sync(&self) -> Result<()>;
    /// Counts the entries, the engine's own way.
    fn count(&self) -> Result<u64>;
    /// A reader; each thread that reads takes its own.
    fn reader(&self) -> Result<Box<dyn Reader + '_>>;
    /// Runs the engine's own compaction to the end; `false` if it has none.
    fn compact(&mut self) -> Result<bool>;
    /// Closes cleanly: everything durable, every file released.
    fn close(self: Box<Self>) -> Result<()>;
}

/// Reads of one thread, in one read transaction where the engine has them.
pub trait Reader {
    /// Gets and checks the value of `key`; `false` if the key is absent.
    fn get(&mut self, key: &Key) -> Result<bool>;
    /// Reads and checks up to `n` entries from `from` on; returns how many it read.
    fn range(&mut self, from: &Key, n: usize) -> Result<usize>;
    /// Reads and checks every entry whose key starts with `prefix`; returns how
    /// many. Only called for engines whose kind has `prefix_scans`.
    fn prefix(&mut self, prefix: &[u8]) -> Result<usize>;
}

/// One engine configuration, as named in the results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// `VarTree<[u8; 24]>`: values on disk behind the value cache.
    ArmdbVar,
    /// `ConstTree<[u8; 24], 150>`: values in memory.
    ArmdbConst,
    /// `TypedTree<Pair>` of a `#[derive(Tree)]` record: records decoded in memory.
    ArmdbTyped,
    /// redb.
    Redb,
    /// fjall.
    Fjall,
    /// LMDB through heed.
    Lmdb,
    /// RocksDB (cargo feature `rocksdb`).
    #[cfg(feature = "rocksdb")]
    Rocksdb,
    /// sled 0.34, the legacy reference (cargo feature `sled`).
    #[cfg(feature = "sled")]
    Sled,
    /// native_db 0.8, typed records over redb 2 (cargo feature `native_db`).
    #[cfg(feature = "native_db")]
    NativeDb,
}

impl EngineKind {
    /// Every engine that is built, in the order they run and are reported.
    pub const ALL: &[EngineKind] = &[
        Self::ArmdbVar,
        Self::ArmdbConst,
        Self::ArmdbTyped,
        Self::Redb,
        Self::Fjall,
        Self::Lmdb,
        #[cfg(feature = "rocksdb")]
        Self::Rocksdb,
        #[cfg(feature = "sled")]
        Self::Sled,
        #[cfg(feature = "native_db")]
        Self::NativeDb,
    ];

    /// The engines named in `names`, in the order given (a name given twice
    /// runs once), or all of them in the order of `ALL` for an empty list.
    /// The engines run one after another, so the order decides which engine
    /// meets which window of a shared machine's disk.
    ///
    /// # Errors
    /// A message listing the known names for an unknown one.
    pub fn select(names: &[String]) -> Result<Vec<EngineKind>> {
        if names.is_empty() {
            return Ok(Self::ALL.to_vec());
        }
        let mut kinds = Vec::with_capacity(names.len());
        for name in names {
            let Some(kind) = Self::ALL.iter().copied().find(|k| k.name() == name.as_str()) else {
                let known: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                return Err(format!("unknown engine {name:?}; known: {}", known.join(", ")).into());
            };
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(kinds)
    }

    /// The engine's name in the results.
    pub fn name(self) -> &'static str {
        match self {
            Self::ArmdbVar => "armdb-var",
            Self::ArmdbConst => "armdb-const",
            Self::ArmdbTyped => "armdb-typed",
            Self::Redb => "redb",
            Self::Fjall => "fjall",
            Self::Lmdb => "lmdb",
            #[cfg(feature = "rocksdb")]
            Self::Rocksdb => "rocksdb",
            #[cfg(feature = "sled")]
            Self::Sled => "sled",
            #[cfg(feature = "native_db")]
            Self::NativeDb => "native_db",
        }
    }

    /// Whether this is one of armdb's rows.
    pub fn is_armdb(self) -> bool {
        matches!(self, Self::ArmdbVar | Self::ArmdbConst | Self::ArmdbTyped)
    }

    /// Whether the prefix-scan phase runs for this engine (armdb and fjall).
    pub fn prefix_scans(self) -> bool {
        self.is_armdb() || self == Self::Fjall
    }

    /// Whether the engine has a compaction of its own (LMDB and sled do not).
    pub fn has_compaction(self) -> bool {
        match self {
            Self::ArmdbVar | Self::ArmdbConst | Self::ArmdbTyped | Self::Redb | Self::Fjall => true,
            #[cfg(feature = "rocksdb")]
            Self::Rocksdb => true,
            #[cfg(feature = "native_db")]
            Self::NativeDb => true,
            _ => false,
        }
    }

    /// Whether a commit can skip durability, so that the no-sync phase runs
    /// (native_db makes every commit durable).
    pub fn has_nosync(self) -> bool {
        #[cfg(feature = "native_db")]
        if self == Self::NativeDb {
            return false;
        }
        true
    }

    /// Whether the engine writes hint files that reopen can do without.
    pub fn has_hints(self) -> bool {
        self.is_armdb()
    }

    /// Opens (creating if needed) the engine's database in `dir`.
    ///
    /// # Errors
    /// The engine's open errors.
    pub fn open(self, dir: &Path, commit: Commit) -> Result<Box<dyn Engine>> {
        Ok(match self {
            Self::ArmdbVar => Box::new(armdb::Armdb::<armdb::Var>::open(dir, commit)?),
            Self::ArmdbConst => Box::new(armdb::Armdb::<armdb::Const>::open(dir, commit)?),
            Self::ArmdbTyped => Box::new(armdb::Armdb::<armdb_typed::Typed>::open(dir, commit)?),
            Self::Redb => Box::new(redb::Redb::open(dir, commit)?),
            Self::Fjall => Box::new(fjall::Fjall::open(dir, commit)?),
            Self::Lmdb => Box::new(lmdb::Lmdb::open(dir, commit)?),
            #[cfg(feature = "rocksdb")]
            Self::Rocksdb => Box::new(rocksdb::Rocksdb::open(dir, commit)?),
            #[cfg(feature = "sled")]
            Self::Sled => Box::new(sled::Sled::open(dir, commit)?),
            #[cfg(feature = "native_db")]
            Self::NativeDb => Box::new(native_db::NativeDb::open(dir, commit)?),
        })
    }

    /// Opens an armdb engine with `Config::keydir` off: one ordered index per
    /// tree, no hash keydir beside it. `None` for the other engines.
    ///
    /// # Errors
    /// The engine's open errors.
    pub fn open_without_keydir(self, dir: &Path, commit: Commit) -> Result<Option<Box<dyn Engine>>> {
        Ok(match self {
            Self::ArmdbVar => Some(Box::new(armdb::Armdb::<armdb::Var>::open_with(dir, commit, false)?)),
            Self::ArmdbConst => Some(Box::new(armdb::Armdb::<armdb::Const>::open_with(dir, commit, false)?)),
            Self::ArmdbTyped => {
                Some(Box::new(armdb::Armdb::<armdb_typed::Typed>::open_with(dir, commit, false)?))
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::EngineKind;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn engines_run_in_the_order_given_and_once() {
        let kinds = EngineKind::select(&names(&["lmdb", "armdb-var", "lmdb", "fjall"])).expect("known names");
        let got: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        assert_eq!(got, ["lmdb", "armdb-var", "fjall"]);
    }

    #[test]
    fn no_names_selects_every_engine_and_an_unknown_name_is_refused() {
        assert_eq!(EngineKind::select(&[]).expect("all").len(), EngineKind::ALL.len());
        let err = EngineKind::select(&names(&["redb", "mongo"])).expect_err("unknown");
        assert!(err.to_string().contains("\"mongo\""), "{err}");
        assert!(err.to_string().contains("armdb-var"), "{err}");
    }
}
