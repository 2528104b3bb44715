//! fjall, one keyspace.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{CACHE_BYTES, Commit, Engine, Reader};
use crate::Result;
use crate::data::{Key, Value, verify};

/// An open fjall database with the benchmark's keyspace.
pub struct Fjall {
    db: Database,
    keyspace: Keyspace,
    persist: PersistMode,
}

impl std::fmt::Debug for Fjall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fjall").field("persist", &self.persist).finish_non_exhaustive()
    }
}

fn persist(commit: Commit) -> PersistMode {
    match commit {
        // fdatasync, as armdb's `Sync` and LMDB do.
        Commit::Sync => PersistMode::SyncData,
        Commit::NoSync => PersistMode::Buffer,
    }
}

impl Fjall {
    /// Opens or creates the database in `dir`.
    pub fn open(dir: &Path, commit: Commit) -> Result<Self> {
        let db = Database::builder(dir).cache_size(CACHE_BYTES as u64).open()?;
        let keyspace = db.keyspace("bench", KeyspaceCreateOptions::default)?;
        Ok(Self { db, keyspace, persist: persist(commit) })
    }
}

impl Engine for Fjall {
    fn set_commit(&mut self, commit: Commit) -> Result<()> {
        self.persist = persist(commit);
        Ok(())
    }

    fn write(&self, keys: &[Key], values: &[Value]) -> Result<()> {
        if let ([key], [value]) = (keys, values) {
            self.keyspace.insert(key.as_slice(), value.as_slice())?;
            self.db.persist(self.persist)?;
            return Ok(());
        }
        let mut batch = self.db.batch().durability(Some(self.persist));
        for (k, v) in keys.iter().zip(values) {
            batch.insert(&self.keyspace, k.as_slice(), v.as_slice());
        }
        batch.commit()?;
        Ok(())
    }

    fn remove(&self, keys: &[Key]) -> Result<()> {
        let mut batch = self.db.batch().durability(Some(self.persist));
        for k in keys {
            batch.remove(&self.keyspace, k.as_slice());
        }
        batch.commit()?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(self.db.persist(PersistMode::SyncData)?)
    }

    fn count(&self) -> Result<u64> {
        Ok(self.keyspace.len()? as u64)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(FjallReader { keyspace: &self.keyspace }))
    }

    fn compact(&mut self) -> Result<bool> {
        // Flush the memtable first so that the major compaction sees every entry.
        self.keyspace.rotate_memtable_and_wait()?;
        self.keyspace.major_compact()?;
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        drop(self);
        Ok(())
    }
}

struct FjallReader<'a> {
    keyspace: &'a Keyspace,
}

impl Reader for FjallReader<'_> {
    fn get(&mut self, key: &Key) -> Result<bool> {
        let Some(v) = self.keyspace.get(key)? else { return Ok(false) };
        verify(key, &v)?;
        Ok(true)
    }

    fn range(&mut self, from: &Key, n: usize) -> Result<usize> {
        let mut read = 0;
        for guard in self.keyspace.range(from.as_slice()..).take(n) {
            let (k, v) = guard.into_inner()?;
            verify(&k, &v)?;
            read += 1;
        }
        Ok(read)
    }

    fn prefix(&mut self, prefix: &[u8]) -> Result<usize> {
        let mut read = 0;
        for guard in self.keyspace.prefix(prefix) {
            let (k, v) = guard.into_inner()?;
            verify(&k, &v)?;
            read += 1;
        }
        Ok(read)
    }
}
