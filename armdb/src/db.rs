//! `Db`: opening a directory, the catalog of trees, and database-wide calls.

use std::any::Any;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::limits::{MAX_TREE_NAME_LEN, MAX_TREES};
use crate::log::{Catalog, DirLock, LogSet, Manifest, Shard, TreeDef, TreeKind, TreeShape, shard_dir_name};
use crate::recovery::{RecoveryReport, Staged, recover};
use crate::sync::lock;
use crate::tree::core::TreeCore;
use crate::tree::{ConstSlot, ConstTree, VarTree};
use crate::{Config, Error, Key, Result, Stats};

/// An open database. Cheap to clone; all clones share one database.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let db = armdb::Db::open(dir.path(), armdb::Config::default())?;
/// let t = db.const_tree::<u32, 4>("t")?;
/// t.put(&1, b"abcd")?;
/// db.close()?;
/// # Ok::<(), armdb::Error>(())
/// ```
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

/// A tree opened in this process, type-erased for the registry.
trait OpenTree: Any + Send + Sync {
    fn len(&self) -> usize;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<K: Key, V: Clone + Send + Sync + 'static> OpenTree for TreeCore<K, V> {
    fn len(&self) -> usize {
        self.index.len()
    }
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

struct DbInner {
    dir: PathBuf,
    config: Config,
    log: Arc<LogSet>,
    catalog: Mutex<Catalog>,
    trees: Mutex<HashMap<u32, Arc<dyn OpenTree>>>,
    /// Recovered entries of trees not opened yet.
    staged: Mutex<HashMap<u32, Vec<Staged>>>,
    recovery: RecoveryReport,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.inner.dir)
            .field("shards", &self.inner.log.shards.len())
            .finish_non_exhaustive()
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Db>();
    assert_send_sync::<ConstTree<u64, 8>>();
    assert_send_sync::<VarTree<u64>>();
};

fn describe(s: &TreeShape) -> String {
    let kind = match s.kind {
        TreeKind::Const => format!("a const tree with {}-byte values", s.value_len),
        TreeKind::Var => "a var tree".to_owned(),
        TreeKind::Typed => format!("a typed tree with schema fingerprint {:#018x}", s.fingerprint),
    };
    format!("{kind} and {}-byte keys", s.key_len)
}

impl Db {
    /// Opens the database in `path`, creating the directory and the database if needed,
    /// and recovers every shard from its files.
    ///
    /// # Errors
    /// `Error::InvalidArgument` for a bad `config`; `Error::Locked` if another `Db`
    /// has the directory open; `Error::Corruption` for damage recovery may not skip;
    /// I/O errors.
    pub fn open(path: impl AsRef<Path>, config: Config) -> Result<Db> {
        config.validate()?;
        let dir = path.as_ref().to_path_buf();
        let span = tracing::info_span!("open", dir = %dir.display());
        let _enter = span.enter();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create database directory", &dir, e))?;
        let dir_lock = DirLock::acquire(&dir)?;
        let manifest = match Manifest::load(&dir)? {
            Some(m) => {
                if usize::from(m.shards) != config.shards {
                    tracing::warn!(
                        stored = m.shards,
                        requested = config.shards,
                        "Config::shards differs from the database's shard count; keeping the stored value"
                    );
                }
                m
            }
            None => {
                let m = Manifest { shards: config.shards as u16, db_id: random_id()? };
                m.store(&dir)?;
                m
            }
        };
        let catalog = Catalog::load(&dir)?;
        let recovered = recover(&dir, manifest.shards, manifest.db_id, &catalog, &config)?;
        let shards = recovered
            .shards
            .into_iter()
            .enumerate()
            .map(|(i, state)| {
                let id = i as u16;
                Shard::new(id, dir.join(shard_dir_name(id)), manifest.db_id, &config, state)
            })
            .collect();
        let log = LogSet::new(dir.clone(), &config, shards, recovered.max_seq + 1, dir_lock)?;
        Ok(Db {
            inner: Arc::new(DbInner {
                dir,
                config,
                log,
                catalog: Mutex::new(catalog),
                trees: Mutex::new(HashMap::new()),
                staged: Mutex::new(recovered.staged),
                recovery: recovered.report,
            }),
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Opens (creating if needed) the const tree `name` with `K` keys and `[u8; V]` values.
    ///
    /// # Errors
    /// `Error::TreeMismatch` if `name` exists with another kind, key length or value
    /// length, or is open with another key type; `Error::InvalidArgument` for a bad name.
    pub fn const_tree<K: Key, const V: usize>(&self, name: &str) -> Result<ConstTree<K, V>> {
        let shape = TreeShape {
            kind: TreeKind::Const,
            key_len: K::LEN as u16,
            value_len: u32::try_from(V)
                .ok()
                .filter(|&v| v as usize <= crate::limits::MAX_VALUE_LEN)
                .ok_or_else(|| Error::InvalidArgument(format!("const tree value size {V} is too large")))?,
            fingerprint: 0,
        };
        let core = self.open_tree::<K, ConstSlot<V>>(name, shape, |e| {
            let mut value = [0u8; V];
            value.copy_from_slice(e.value);
            ConstSlot { seq: e.seq, value }
        })?;
        Ok(ConstTree { core })
    }

    /// Opens (creating if needed) the var tree `name` with `K` keys.
    ///
    /// # Errors
    /// As for [`const_tree`](Self::const_tree).
    pub fn var_tree<K: Key>(&self, name: &str) -> Result<VarTree<K>> {
        let shape = TreeShape { kind: TreeKind::Var, key_len: K::LEN as u16, value_len: 0, fingerprint: 0 };
        let core = self.open_tree::<K, crate::log::Loc>(name, shape, |e| e.loc)?;
        Ok(VarTree { core })
    }

    fn open_tree<K: Key, V: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
        shape: TreeShape,
        value_of: impl Fn(&crate::recovery::StagedEntry<'_>) -> V,
    ) -> Result<Arc<TreeCore<K, V>>> {
        if name.is_empty() || name.len() > MAX_TREE_NAME_LEN {
            return Err(Error::InvalidArgument(format!(
                "tree name {name:?} must be 1..={MAX_TREE_NAME_LEN} bytes"
            )));
        }
        if K::LEN == 0 || K::LEN > crate::limits::MAX_KEY_LEN {
            return Err(Error::InvalidArgument(format!(
                "tree {name:?}: keys of {} bytes are outside 1..={}",
                K::LEN,
                crate::limits::MAX_KEY_LEN
            )));
        }
        let inner = &*self.inner;
        inner.log.health.check()?;
        let mut catalog = lock(&inner.catalog);
        let def = match catalog.find(name) {
            Some(def) if def.shape != shape => {
                return Err(Error::TreeMismatch {
                    tree: name.to_owned(),
                    reason: format!(
                        "it is stored as {}, and was opened as {}",
                        describe(&def.shape),
                        describe(&shape)
                    ),
                });
            }
            Some(def) => def.clone(),
            None => {
                if catalog.trees.len() >= MAX_TREES {
                    return Err(Error::InvalidArgument(format!(
                        "a database holds at most {MAX_TREES} trees"
                    )));
                }
                let def = TreeDef { id: catalog.next_id(), name: name.to_owned(), shape };
                let mut next = catalog.clone();
                next.trees.push(def.clone());
                next.store(&inner.dir)?;
                *catalog = next;
                tracing::info!(tree = name, id = def.id, "created tree");
                def
            }
        };
        let mut trees = lock(&inner.trees);
        if let Some(open) = trees.get(&def.id) {
            return Arc::clone(open).into_any().downcast::<TreeCore<K, V>>().map_err(|_| {
                Error::TreeMismatch {
                    tree: name.to_owned(),
                    reason: "it is already open in this process with another key type".to_owned(),
                }
            });
        }
        let core = TreeCore::new(def.id, def.name, Arc::clone(&inner.log), inner.config.keydir);
        if let Some(staged) = lock(&inner.staged).remove(&def.id) {
            for part in &staged {
                for e in part.entries() {
                    core.index.insert(K::decode(e.key), value_of(&e));
                }
            }
        }
        let core = Arc::new(core);
        trees.insert(def.id, Arc::clone(&core) as Arc<dyn OpenTree>);
        Ok(core)
    }

    /// Writes every shard's buffer to the OS (`write(2)`): survives a process crash.
    ///
    /// # Errors
    /// I/O errors (which poison the database); `Error::Poisoned`; `Error::Closed`.
    pub fn flush(&self) -> Result<()> {
        self.inner.log.flush()
    }

    /// Flushes, then `fdatasync`s every file with unsynced data and the directories
    /// of new files: everything written before the call survives a power cut.
    ///
    /// # Errors
    /// As for [`flush`](Self::flush).
    pub fn sync(&self) -> Result<()> {
        self.inner.log.sync()
    }

    /// Flushes and syncs, stops background work and releases the directory lock.
    /// Handles that outlive the call fail with `Error::Closed`.
    ///
    /// # Errors
    /// As for [`sync`](Self::sync); the database is closed even when they occur.
    pub fn close(self) -> Result<()> {
        self.inner.log.close()
    }

    /// Counters, sizes and the recovery report.
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        let log = &inner.log;
        let mut s = Stats {
            shards: log.shards.len(),
            trees: lock(&inner.catalog).trees.len(),
            next_seq: log.next_seq(),
            recovery: inner.recovery.clone(),
            cache_hits: log.cache_counters.hits.load(Ordering::Relaxed),
            cache_misses: log.cache_counters.misses.load(Ordering::Relaxed),
            ..Stats::default()
        };
        s.keys = lock(&inner.trees).values().map(|t| t.len() as u64).sum::<u64>()
            + lock(&inner.staged).values().flatten().map(|p| p.len() as u64).sum::<u64>();
        for shard in log.shards.iter() {
            let files = shard.files();
            s.files += files.len();
            s.disk_bytes += files.values().map(|f| f.written()).sum::<u64>();
            s.writes += shard.counters.writes.load(Ordering::Relaxed);
            s.bytes_written += shard.counters.bytes_appended.load(Ordering::Relaxed);
            s.fsyncs += shard.counters.fsyncs.load(Ordering::Relaxed);
        }
        s
    }
}

fn random_id() -> Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| {
        Error::io("draw a random database id for", PathBuf::new(), std::io::Error::other(e.to_string()))
    })?;
    Ok(u64::from_le_bytes(b))
}
