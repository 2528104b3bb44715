//! armdb, as `VarTree<[u8; 24]>` and as `ConstTree<[u8; 24], 150>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use armdb::limits::MAX_BATCH_ENTRIES;
use armdb::{Batch, Config, ConstTree, Db, Durability, Prefix, VarTree};

use super::{CACHE_BYTES, Commit, Engine, Reader};
use crate::Result;
use crate::data::{Key, VALUE_LEN, Value, verify};

/// Name of the benchmark's tree.
const TREE: &str = "bench";

/// What differs between the two tree kinds.
pub trait TreeKind: std::fmt::Debug + Sized + Send + Sync + 'static {
    /// The tree handle.
    type Tree: std::fmt::Debug + Send + Sync;
    fn open_tree(db: &Db) -> armdb::Result<Self::Tree>;
    fn put(batch: &mut Batch, tree: &Self::Tree, key: &Key, value: &Value);
    /// One put committed on its own, through the tree's `put` (what a user
    /// writing one key calls; no batch).
    fn put_one(tree: &Self::Tree, key: &Key, value: &Value) -> armdb::Result<()>;
    fn delete(batch: &mut Batch, tree: &Self::Tree, key: &Key);
    fn len(tree: &Self::Tree) -> usize;
    fn get(tree: &Self::Tree, key: &Key) -> Result<bool>;
    fn range(tree: &Self::Tree, from: &Key, n: usize) -> Result<usize>;
    fn prefix(tree: &Self::Tree, prefix: Prefix<Key>) -> Result<usize>;
}

/// `VarTree<[u8; 24]>`: values on disk behind the value cache.
#[derive(Debug)]
pub struct Var;

/// `ConstTree<[u8; 24], 150>`: values in memory.
#[derive(Debug)]
pub struct Const;

impl TreeKind for Var {
    type Tree = VarTree<Key>;
    fn open_tree(db: &Db) -> armdb::Result<Self::Tree> {
        db.var_tree(TREE)
    }
    fn put(batch: &mut Batch, tree: &Self::Tree, key: &Key, value: &Value) {
        batch.put_var(tree, key, value);
    }
    fn put_one(tree: &Self::Tree, key: &Key, value: &Value) -> armdb::Result<()> {
        tree.put(key, value)
    }
    fn delete(batch: &mut Batch, tree: &Self::Tree, key: &Key) {
        batch.delete_var(tree, key);
    }
    fn len(tree: &Self::Tree) -> usize {
        tree.len()
    }
    fn get(tree: &Self::Tree, key: &Key) -> Result<bool> {
        let Some(v) = tree.get(key)? else { return Ok(false) };
        verify(key, &v)?;
        Ok(true)
    }
    fn range(tree: &Self::Tree, from: &Key, n: usize) -> Result<usize> {
        let mut read = 0;
        for item in tree.range(from..).take(n) {
            let (k, v) = item?;
            verify(&k, &v)?;
            read += 1;
        }
        Ok(read)
    }
    fn prefix(tree: &Self::Tree, prefix: Prefix<Key>) -> Result<usize> {
        let mut read = 0;
        for item in tree.prefix(prefix) {
            let (k, v) = item?;
            verify(&k, &v)?;
            read += 1;
        }
        Ok(read)
    }
}

impl TreeKind for Const {
    type Tree = ConstTree<Key, VALUE_LEN>;
    fn open_tree(db: &Db) -> armdb::Result<Self::Tree> {
        db.const_tree(TREE)
    }
    fn put(batch: &mut Batch, tree: &Self::Tree, key: &Key, value: &Value) {
        batch.put_const(tree, key, value);
    }
    fn put_one(tree: &Self::Tree, key: &Key, value: &Value) -> armdb::Result<()> {
        tree.put(key, value).map(drop)
    }
    fn delete(batch: &mut Batch, tree: &Self::Tree, key: &Key) {
        batch.delete_const(tree, key);
    }
    fn len(tree: &Self::Tree) -> usize {
        tree.len()
    }
    fn get(tree: &Self::Tree, key: &Key) -> Result<bool> {
        let Some(v) = tree.get(key) else { return Ok(false) };
        verify(key, &v)?;
        Ok(true)
    }
    fn range(tree: &Self::Tree, from: &Key, n: usize) -> Result<usize> {
        let mut read = 0;
        for (k, v) in tree.range(from..).take(n) {
            verify(&k, &v)?;
            read += 1;
        }
        Ok(read)
    }
    fn prefix(tree: &Self::Tree, prefix: Prefix<Key>) -> Result<usize> {
        let mut read = 0;
        for (k, v) in tree.prefix(prefix) {
            verify(&k, &v)?;
            read += 1;
        }
        Ok(read)
    }
}

/// An open armdb database with the benchmark's tree.
#[derive(Debug)]
pub struct Armdb<T: TreeKind> {
    dir: PathBuf,
    commit: Commit,
    keydir: bool,
    db: Db,
    tree: T::Tree,
}

/// The configuration every armdb run uses.
///
/// Files are 32 MiB rather than the default 256 MiB so that at the quick scale
/// (about 200 MB of entries over two shards) most data sits in sealed files,
/// which are what hint files cover and what background compaction rewrites.
fn config(commit: Commit, keydir: bool) -> Config {
    let durability = match commit {
        Commit::Sync => Durability::Sync,
        Commit::NoSync => Durability::Buffered { flush_every: Duration::from_millis(10) },
    };
    Config {
        durability,
        value_cache_bytes: CACHE_BYTES,
        max_file_size: 32 << 20,
        keydir,
        ..Config::default()
    }
}

impl<T: TreeKind> Armdb<T> {
    /// Opens the database in `dir` with the durability `commit` asks for.
    pub fn open(dir: &Path, commit: Commit) -> Result<Self> {
        Self::open_with(dir, commit, true)
    }

    /// `open` with `Config::keydir` as given.
    pub fn open_with(dir: &Path, commit: Commit, keydir: bool) -> Result<Self> {
        let db = Db::open(dir, config(commit, keydir))?;
        let tree = T::open_tree(&db)?;
        Ok(Self { dir: dir.to_path_buf(), commit, keydir, db, tree })
    }

    /// Commits `fill` over `n` items in batches of at most `MAX_BATCH_ENTRIES`;
    /// each batch is durable when `Sync` durability is on.
    fn batched(&self, n: usize, mut fill: impl FnMut(&mut Batch, usize)) -> Result<()> {
        let mut start = 0;
        while start < n {
            let end = n.min(start + MAX_BATCH_ENTRIES);
            let mut batch = self.db.batch();
            for i in start..end {
                fill(&mut batch, i);
            }
            batch.commit()?;
            start = end;
        }
        Ok(())
    }
}

impl<T: TreeKind> Engine for Armdb<T> {
    fn set_commit(&mut self, commit: Commit) -> Result<()> {
        if commit != self.commit {
            // Durability is fixed per open: close (through a clone of the handle,
            // which closes the database for every clone) and reopen.
            self.db.clone().close()?;
            self.db = Db::open(&self.dir, config(commit, self.keydir))?;
            self.tree = T::open_tree(&self.db)?;
            self.commit = commit;
        }
        Ok(())
    }

    fn write(&self, keys: &[Key], values: &[Value]) -> Result<()> {
        assert_eq!(keys.len(), values.len());
        if let [key] = keys {
            // A single put is a single-entry commit; no batch needed.
            return Ok(T::put_one(&self.tree, key, &values[0])?);
        }
        self.batched(keys.len(), |b, i| T::put(b, &self.tree, &keys[i], &values[i]))
    }

    fn remove(&self, keys: &[Key]) -> Result<()> {
        self.batched(keys.len(), |b, i| T::delete(b, &self.tree, &keys[i]))
    }

    fn sync(&self) -> Result<()> {
        Ok(self.db.sync()?)
    }

    fn count(&self) -> Result<u64> {
        Ok(T::len(&self.tree) as u64)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(ArmdbReader::<T> { tree: &self.tree }))
    }

    fn compact(&mut self) -> Result<bool> {
        self.db.compact()?;
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        let Self { db, tree, .. } = *self;
        drop(tree);
        Ok(db.close()?)
    }
}

struct ArmdbReader<'a, T: TreeKind> {
    tree: &'a T::Tree,
}

impl<T: TreeKind> Reader for ArmdbReader<'_, T> {
    fn get(&mut self, key: &Key) -> Result<bool> {
        T::get(self.tree, key)
    }
    fn range(&mut self, from: &Key, n: usize) -> Result<usize> {
        T::range(self.tree, from, n)
    }
    fn prefix(&mut self, prefix: &[u8]) -> Result<usize> {
        T::prefix(self.tree, Prefix::from_bytes(prefix)?)
    }
}
