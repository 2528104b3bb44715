//! redb, one table of `&[u8]` keys and values, as in redb's own benchmark.

use std::path::Path;

use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTableMetadata, TableDefinition};

use super::{CACHE_BYTES, Commit, Engine, Reader};
use crate::Result;
use crate::data::{Key, Value, verify};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

/// An open redb database.
#[derive(Debug)]
pub struct Redb {
    db: Database,
    durability: Durability,
}

fn durability(commit: Commit) -> Durability {
    match commit {
        Commit::Sync => Durability::Immediate,
        Commit::NoSync => Durability::None,
    }
}

impl Redb {
    /// Opens or creates `dir/bench.redb`.
    pub fn open(dir: &Path, commit: Commit) -> Result<Self> {
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(dir.join("bench.redb"))?;
        let txn = db.begin_write()?;
        txn.open_table(TABLE)?;
        txn.commit()?;
        Ok(Self { db, durability: durability(commit) })
    }

    fn commit(&self, f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> Result<()>) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(self.durability)?;
        {
            let mut table = txn.open_table(TABLE)?;
            f(&mut table)?;
        }
        txn.commit()?;
        Ok(())
    }
}

impl Engine for Redb {
    fn set_commit(&mut self, commit: Commit) -> Result<()> {
        self.durability = durability(commit);
        Ok(())
    }

    fn write(&self, keys: &[Key], values: &[Value]) -> Result<()> {
        self.commit(|t| {
            for (k, v) in keys.iter().zip(values) {
                t.insert(k.as_slice(), v.as_slice())?;
            }
            Ok(())
        })
    }

    fn remove(&self, keys: &[Key]) -> Result<()> {
        self.commit(|t| {
            for k in keys {
                t.remove(k.as_slice())?;
            }
            Ok(())
        })
    }

    fn sync(&self) -> Result<()> {
        // An empty durable commit makes every earlier non-durable one durable.
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }

    fn count(&self) -> Result<u64> {
        Ok(self.db.begin_read()?.open_table(TABLE)?.len()?)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(RedbReader { table: self.db.begin_read()?.open_table(TABLE)? }))
    }

    fn compact(&mut self) -> Result<bool> {
        self.db.compact()?;
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        // Every commit of the last phase was durable or followed by `sync`; redb
        // closes on drop.
        self.sync()?;
        drop(self);
        Ok(())
    }
}

struct RedbReader {
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Reader for RedbReader {
    fn get(&mut self, key: &Key) -> Result<bool> {
        let Some(v) = self.table.get(key.as_slice())? else { return Ok(false) };
        verify(key, v.value())?;
        Ok(true)
    }

    fn range(&mut self, from: &Key, n: usize) -> Result<usize> {
        let mut read = 0;
        for item in self.table.range(from.as_slice()..)?.take(n) {
            let (k, v) = item?;
            verify(k.value(), v.value())?;
            read += 1;
        }
        Ok(read)
    }

    fn prefix(&mut self, _prefix: &[u8]) -> Result<usize> {
        Err("redb has no prefix scan in this benchmark".into())
    }
}
