//! native_db 0.8 (cargo feature `native_db`): typed records over redb 2, the
//! typed layer armdb's `TypedTree` is compared with. One model, the pair
//! itself, with the key as its primary key.
//!
//! native_db exposes no durability setting: every commit is durable (redb's
//! `Immediate`), so the engine skips the no-sync phase and its batched
//! non-durable phases commit durably.

use std::path::Path;
use std::sync::OnceLock;

use native_db::{Builder, Database, Models, ToKey, native_db};
use native_model::{Model, native_model};
use serde::{Deserialize, Serialize};

use super::{CACHE_BYTES, Commit, Engine, Reader};
use crate::Result;
use crate::data::{Key, Value, verify};

/// The benchmark's pair as a native_db model.
#[derive(Serialize, Deserialize, Debug)]
#[native_model(id = 1, version = 1)]
#[native_db]
struct Pair {
    #[primary_key]
    key: Vec<u8>,
    value: Vec<u8>,
}

/// native_db borrows its models for the database's lifetime.
fn models() -> Result<&'static Models> {
    static MODELS: OnceLock<Models> = OnceLock::new();
    if let Some(models) = MODELS.get() {
        return Ok(models);
    }
    let mut models = Models::new();
    models.define::<Pair>()?;
    Ok(MODELS.get_or_init(|| models))
}

/// An open native_db database.
pub struct NativeDb {
    db: Database<'static>,
}

impl std::fmt::Debug for NativeDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeDb").finish_non_exhaustive()
    }
}

impl NativeDb {
    /// Opens or creates `dir/bench.native_db`. Every commit is durable
    /// whatever `_commit` asks (see the module documentation).
    pub fn open(dir: &Path, _commit: Commit) -> Result<Self> {
        let db = Builder::new().set_cache_size(CACHE_BYTES).create(models()?, dir.join("bench.native_db"))?;
        Ok(Self { db })
    }
}

impl Engine for NativeDb {
    fn set_commit(&mut self, _commit: Commit) -> Result<()> {
        Ok(())
    }

    fn write(&self, keys: &[Key], values: &[Value]) -> Result<()> {
        let rw = self.db.rw_transaction()?;
        for (k, v) in keys.iter().zip(values) {
            rw.upsert(Pair { key: k.to_vec(), value: v.to_vec() })?;
        }
        rw.commit()?;
        Ok(())
    }

    fn remove(&self, keys: &[Key]) -> Result<()> {
        // native_db removes a record, not a key: read it first, as its users do.
        let rw = self.db.rw_transaction()?;
        for k in keys {
            let pair: Option<Pair> = rw.get().primary(k.to_vec())?;
            if let Some(pair) = pair {
                rw.remove(pair)?;
            }
        }
        rw.commit()?;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        // Every commit was durable when it returned.
        Ok(())
    }

    fn count(&self) -> Result<u64> {
        Ok(self.db.r_transaction()?.len().primary::<Pair>()?)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(NativeDbReader { txn: self.db.r_transaction()? }))
    }

    fn compact(&mut self) -> Result<bool> {
        self.db.compact()?;
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        drop(self);
        Ok(())
    }
}

struct NativeDbReader<'a> {
    txn: native_db::transaction::RTransaction<'a>,
}

fn check(pair: &Pair) -> Result<()> {
    verify(&pair.key, &pair.value)
}

impl Reader for NativeDbReader<'_> {
    fn get(&mut self, key: &Key) -> Result<bool> {
        let pair: Option<Pair> = self.txn.get().primary(key.to_vec())?;
        let Some(pair) = pair else { return Ok(false) };
        check(&pair)?;
        Ok(true)
    }

    fn range(&mut self, from: &Key, n: usize) -> Result<usize> {
        let scan = self.txn.scan().primary::<Pair>()?;
        let mut read = 0;
        for pair in scan.range(from.to_vec()..)?.take(n) {
            check(&pair?)?;
            read += 1;
        }
        Ok(read)
    }

    fn prefix(&mut self, _prefix: &[u8]) -> Result<usize> {
        Err("native_db runs no prefix scans in this benchmark".into())
    }
}
