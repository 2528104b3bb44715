//! sled 0.34, the legacy reference (cargo feature `sled`).

use std::path::Path;

use super::{CACHE_BYTES, Commit, Engine, Reader};
use crate::Result;
use crate::data::{Key, Value, verify};

/// An open sled database.
#[derive(Debug)]
pub struct Sled {
    db: sled::Db,
    commit: Commit,
}

impl Sled {
    /// Opens or creates the database in `dir`.
    pub fn open(dir: &Path, commit: Commit) -> Result<Self> {
        let db = sled::Config::new().path(dir).cache_capacity(CACHE_BYTES as u64).open()?;
        Ok(Self { db, commit })
    }

    fn durable(&self) -> Result<()> {
        if self.commit == Commit::Sync {
            self.db.flush()?;
        }
        Ok(())
    }
}

impl Engine for Sled {
    fn set_commit(&mut self, commit: Commit) -> Result<()> {
        self.commit = commit;
        Ok(())
    }

    fn write(&self, keys: &[Key], values: &[Value]) -> Result<()> {
        if let ([key], [value]) = (keys, values) {
            self.db.insert(key, value.as_slice())?;
        } else {
            let mut batch = sled::Batch::default();
            for (k, v) in keys.iter().zip(values) {
                batch.insert(k.as_slice(), v.as_slice());
            }
            self.db.apply_batch(batch)?;
        }
        self.durable()
    }

    fn remove(&self, keys: &[Key]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(k.as_slice());
        }
        self.db.apply_batch(batch)?;
        self.durable()
    }

    fn sync(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    fn count(&self) -> Result<u64> {
        Ok(self.db.len() as u64)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(SledReader { db: &self.db }))
    }

    fn compact(&mut self) -> Result<bool> {
        Ok(false)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

struct SledReader<'a> {
    db: &'a sled::Db,
}

impl Reader for SledReader<'_> {
    fn get(&mut self, key: &Key) -> Result<bool> {
        let Some(v) = self.db.get(key)? else { return Ok(false) };
        verify(key, &v)?;
        Ok(true)
    }

    fn range(&mut self, from: &Key, n: usize) -> Result<usize> {
        let mut read = 0;
        for item in self.db.range(from.as_slice()..).take(n) {
            let (k, v) = item?;
            verify(&k, &v)?;
            read += 1;
        }
        Ok(read)
    }

    fn prefix(&mut self, _prefix: &[u8]) -> Result<usize> {
        Err("sled has no prefix scan in this benchmark".into())
    }
}
