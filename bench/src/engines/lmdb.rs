//! LMDB through heed, one named database of raw bytes.

use std::ops::Bound;
use std::path::Path;

use heed::types::Bytes;
use heed::{Env, EnvFlags, EnvOpenOptions, FlagSetMode, RoTxn, WithoutTls};

use super::{Commit, Engine, Reader};
use crate::Result;
use crate::data::{Key, Value, verify};

/// The map size: virtual address space, far more than the full scale needs.
const MAP_BYTES: usize = 64 << 30;

type Db = heed::Database<Bytes, Bytes>;

/// An open LMDB environment with the benchmark's database.
#[derive(Debug)]
pub struct Lmdb {
    env: Env<WithoutTls>,
    db: Db,
}

impl Lmdb {
    /// Opens or creates the environment in `dir`.
    #[expect(unsafe_code, reason = "heed's open is unsafe because LMDB memory-maps its file")]
    pub fn open(dir: &Path, commit: Commit) -> Result<Self> {
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(MAP_BYTES).max_dbs(1);
        // SAFETY: this process opens the environment once at a time (every
        // handle is closed with `prepare_for_closing().wait()` before the next
        // open), no other process touches the directory while it is open (the
        // kill-test child runs only while the parent has it closed), and the
        // files are never modified except through LMDB.
        let env = unsafe { options.open(dir)? };
        let mut txn = env.write_txn()?;
        let db: Db = env.create_database(&mut txn, Some("bench"))?;
        txn.commit()?;
        let mut engine = Self { env, db };
        engine.set_commit(commit)?;
        Ok(engine)
    }
}

impl Engine for Lmdb {
    #[expect(unsafe_code, reason = "heed marks MDB_NOSYNC unsafe: it gives up durability")]
    fn set_commit(&mut self, commit: Commit) -> Result<()> {
        let mode = match commit {
            Commit::Sync => FlagSetMode::Disable,
            Commit::NoSync => FlagSetMode::Enable,
        };
        // SAFETY: `&mut self` makes this the only thread using the environment;
        // giving up durability is what the `NoSync` phases measure, and `sync`
        // (`mdb_env_sync(force)`) makes everything durable again.
        unsafe { self.env.set_flags(EnvFlags::NO_SYNC, mode)? };
        Ok(())
    }

    fn write(&self, keys: &[Key], values: &[Value]) -> Result<()> {
        let mut txn = self.env.write_txn()?;
        for (k, v) in keys.iter().zip(values) {
            self.db.put(&mut txn, k, v)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn remove(&self, keys: &[Key]) -> Result<()> {
        let mut txn = self.env.write_txn()?;
        for k in keys {
            self.db.delete(&mut txn, k)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(self.env.force_sync()?)
    }

    fn count(&self) -> Result<u64> {
        let txn = self.env.read_txn()?;
        Ok(self.db.len(&txn)?)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(LmdbReader { txn: self.env.read_txn()?, db: self.db }))
    }

    fn compact(&mut self) -> Result<bool> {
        // LMDB reuses freed pages in place; it has no compaction of the live file.
        Ok(false)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.env.force_sync()?;
        let Self { env, db: _ } = *self;
        env.prepare_for_closing().wait();
        Ok(())
    }
}

struct LmdbReader<'e> {
    txn: RoTxn<'e, WithoutTls>,
    db: Db,
}

impl Reader for LmdbReader<'_> {
    fn get(&mut self, key: &Key) -> Result<bool> {
        let Some(v) = self.db.get(&self.txn, key)? else { return Ok(false) };
        verify(key, v)?;
        Ok(true)
    }

    fn range(&mut self, from: &Key, n: usize) -> Result<usize> {
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Included(from), Bound::Unbounded);
        let mut read = 0;
        for item in self.db.range(&self.txn, &bounds)?.take(n) {
            let (k, v) = item?;
            verify(k, v)?;
            read += 1;
        }
        Ok(read)
    }

    fn prefix(&mut self, _prefix: &[u8]) -> Result<usize> {
        Err("LMDB has no prefix scan in this benchmark".into())
    }
}
