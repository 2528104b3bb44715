//! RocksDB through the `rocksdb` crate (cargo feature `rocksdb`): the default
//! column family, a 2 GiB LRU block cache, no compression libraries built
//! (the workload's values are random bytes).

use std::path::Path;

use rocksdb::{BlockBasedOptions, Cache, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};

use super::{CACHE_BYTES, Commit, Engine, Reader};
use crate::Result;
use crate::data::{Key, Value, verify};

/// An open RocksDB database.
pub struct Rocksdb {
    db: DB,
    commit: Commit,
}

impl std::fmt::Debug for Rocksdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rocksdb").field("commit", &self.commit).finish_non_exhaustive()
    }
}

impl Rocksdb {
    /// Opens or creates the database in `dir`.
    pub fn open(dir: &Path, commit: Commit) -> Result<Self> {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&Cache::new_lru_cache(CACHE_BYTES));
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_block_based_table_factory(&table);
        let db = DB::open(&options, dir)?;
        Ok(Self { db, commit })
    }

    /// Write options for the current commit mode: a synced write waits for
    /// the write-ahead log's fdatasync, as armdb's `Sync` does.
    fn options(&self) -> WriteOptions {
        let mut options = WriteOptions::default();
        options.set_sync(self.commit == Commit::Sync);
        options
    }
}

impl Engine for Rocksdb {
    fn set_commit(&mut self, commit: Commit) -> Result<()> {
        self.commit = commit;
        Ok(())
    }

    fn write(&self, keys: &[Key], values: &[Value]) -> Result<()> {
        if let ([key], [value]) = (keys, values) {
            self.db.put_opt(key, value, &self.options())?;
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for (k, v) in keys.iter().zip(values) {
            batch.put(k, v);
        }
        self.db.write_opt(batch, &self.options())?;
        Ok(())
    }

    fn remove(&self, keys: &[Key]) -> Result<()> {
        let mut batch = WriteBatch::default();
        for k in keys {
            batch.delete(k);
        }
        self.db.write_opt(batch, &self.options())?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(self.db.flush_wal(true)?)
    }

    fn count(&self) -> Result<u64> {
        // RocksDB keeps only an estimate of its number of keys: count them.
        let mut count = 0;
        for item in self.db.iterator(IteratorMode::Start) {
            item?;
            count += 1;
        }
        Ok(count)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(RocksdbReader { db: &self.db }))
    }

    fn compact(&mut self) -> Result<bool> {
        // Flush the memtable first so that the full compaction sees every entry.
        self.db.flush()?;
        self.db.compact_range(None::<&[u8]>, None::<&[u8]>);
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.flush_wal(true)?;
        self.db.flush()?;
        drop(self);
        Ok(())
    }
}

struct RocksdbReader<'a> {
    db: &'a DB,
}

impl Reader for RocksdbReader<'_> {
    fn get(&mut self, key: &Key) -> Result<bool> {
        let Some(v) = self.db.get_pinned(key)? else { return Ok(false) };
        verify(key, &v)?;
        Ok(true)
    }

    fn range(&mut self, from: &Key, n: usize) -> Result<usize> {
        let mut read = 0;
        for item in self.db.iterator(IteratorMode::From(from, Direction::Forward)).take(n) {
            let (k, v) = item?;
            verify(&k, &v)?;
            read += 1;
        }
        Ok(read)
    }

    fn prefix(&mut self, _prefix: &[u8]) -> Result<usize> {
        Err("RocksDB runs no prefix scans in this benchmark".into())
    }
}
