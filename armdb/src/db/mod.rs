//! `Db`: opening a directory, the catalog of trees, and database-wide calls.

mod background;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::compaction::{self, CompactionReport, Pass};
use crate::fs::FileSystem;
use crate::limits::{MAX_TREE_NAME_LEN, MAX_TREES};
use crate::log::{
    Catalog, DirLock, LogSet, Manifest, Shard, TreeDef, TreeKind, TreeShape, fsio, hint_path, log_file_name,
    shard_dir_name, write_hint,
};
use crate::recovery::{RecoveryReport, recover};
use crate::sync::lock;
use crate::tree::core::{ErasedTree, TreeCore, TreeInit};
use crate::tree::registry::{Registry, StagedTree};
use crate::tree::{ConstSlot, ConstTree, VarTree};
use crate::typed::core::TypedCore;
use crate::typed::{Record, TypedTree};
use crate::{Config, Error, Key, Result, Stats};

/// An open database. Cheap to clone; all clones share one database.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().expect("temporary directory");
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

struct DbInner {
    dir: PathBuf,
    db_id: u64,
    config: Config,
    log: Arc<LogSet>,
    catalog: Mutex<Catalog>,
    /// Every tree, opened or only recovered.
    registry: Registry,
    recovery: RecoveryReport,
    /// Hint writing and background compaction.
    background: Mutex<Option<background::Worker>>,
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
        let fs = &*config.fs;
        let created = fs.create_dir_all(&dir).map_err(|e| Error::io("create database directory", &dir, e))?;
        if created && let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The new directory's own name must survive a power cut too.
            fsio::sync_dir(fs, parent)?;
        }
        let dir_lock = DirLock::acquire(fs, &dir)?;
        let manifest = match Manifest::load(fs, &dir)? {
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
                let m = Manifest::new(config.shards as u16, random_id()?);
                m.store(fs, &dir)?;
                m
            }
        };
        let manifest = finish_retiring(fs, &dir, manifest)?;
        let catalog = Catalog::load(fs, &dir)?;
        let recovered = recover(&dir, &manifest, &catalog, &config)?;
        let mut manifest = manifest;
        if recovered.dropped_batches != manifest.dropped_batches {
            manifest.dropped_batches.clone_from(&recovered.dropped_batches);
            manifest.store(fs, &dir)?;
        }
        let shards = recovered
            .shards
            .into_iter()
            .enumerate()
            .map(|(i, state)| {
                let id = i as u16;
                Shard::new(id, dir.join(shard_dir_name(id)), manifest.db_id, &config, state)
            })
            .collect();
        let next_seq = recovered.max_seq.max(manifest.durable_seq) + 1;
        let db_id = manifest.db_id;
        let log = LogSet::new(dir.clone(), &config, shards, next_seq, dir_lock, manifest)?;
        let inner = Arc::new(DbInner {
            dir,
            db_id,
            config,
            log,
            catalog: Mutex::new(catalog),
            registry: Registry::new(recovered.staged),
            recovery: recovered.report,
            background: Mutex::new(None),
        });
        let worker = background::Worker::spawn(Arc::downgrade(&inner))
            .map_err(|e| Error::io("spawn the background worker for", &inner.dir, e))?;
        *lock(&inner.background) = Some(worker);
        Ok(Db { inner })
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
        let core = self.open_tree(name, shape, K::LEN, |init| {
            TreeCore::<K, ConstSlot<V>>::from_staged(init, |e| {
                let mut value = [0u8; V];
                value.copy_from_slice(e.value);
                Ok(ConstSlot { loc: e.loc, value })
            })
        })?;
        Ok(ConstTree { core })
    }

    /// Opens (creating if needed) the var tree `name` with `K` keys.
    ///
    /// # Errors
    /// As for [`const_tree`](Self::const_tree).
    pub fn var_tree<K: Key>(&self, name: &str) -> Result<VarTree<K>> {
        let shape = TreeShape { kind: TreeKind::Var, key_len: K::LEN as u16, value_len: 0, fingerprint: 0 };
        let core = self.open_tree(name, shape, K::LEN, |init| {
            TreeCore::<K, crate::log::Loc>::from_staged(init, |e| Ok(e.loc))
        })?;
        Ok(VarTree { core })
    }

    /// Opens (creating if needed) the typed tree of the record type `R`, named
    /// `R::NAME`, and decodes its records into memory.
    ///
    /// # Examples
    /// ```
    /// #[derive(armdb::Tree, serde::Serialize, serde::Deserialize)]
    /// struct Note { #[key] id: u32, text: String }
    ///
    /// # let dir = tempfile::tempdir().expect("temporary directory");
    /// let db = armdb::Db::open(dir.path(), armdb::Config::default())?;
    /// let notes = db.tree::<Note>()?;
    /// notes.put(&Note { id: 1, text: "hello".into() })?;
    /// assert_eq!(notes.get(&1)?.map(|n| n.text.clone()).as_deref(), Some("hello"));
    /// # Ok::<(), armdb::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::TreeMismatch` if the tree exists with another record shape (its
    /// schema fingerprint differs: see `docs/typed.md` on migrating), key length
    /// or kind, or is open in this process with another record type;
    /// `Error::Codec` if a stored record does not decode; `Error::InvalidArgument`
    /// for a bad name or key length.
    pub fn tree<R: Record>(&self) -> Result<TypedTree<R>> {
        let shape = TreeShape {
            kind: TreeKind::Typed,
            key_len: <R::Key as Key>::LEN as u16,
            value_len: 0,
            fingerprint: R::FINGERPRINT,
        };
        let core = self.open_tree(R::NAME, shape, <R::Key as Key>::LEN, TypedCore::<R>::open).map_err(|e| match e {
            Error::TreeMismatch { tree, reason } => Error::TreeMismatch {
                tree,
                reason: format!(
                    "{reason}; if the record type {} changed, migrate the tree as docs/typed.md describes",
                    std::any::type_name::<R>()
                ),
            },
            other => other,
        })?;
        Ok(TypedTree { core })
    }

    /// Opens the tree `name` of `shape`, creating it in the catalog if needed.
    /// `build` makes the tree object from the entries recovery found; it runs
    /// once per process and tree, with every shard lock held.
    pub(crate) fn open_tree<T: ErasedTree>(
        &self,
        name: &str,
        shape: TreeShape,
        key_len: usize,
        build: impl FnOnce(TreeInit) -> Result<T>,
    ) -> Result<Arc<T>> {
        if name.is_empty() || name.len() > MAX_TREE_NAME_LEN {
            return Err(Error::InvalidArgument(format!(
                "tree name {name:?} must be 1..={MAX_TREE_NAME_LEN} bytes"
            )));
        }
        if key_len == 0 || key_len > crate::limits::MAX_KEY_LEN {
            return Err(Error::InvalidArgument(format!(
                "tree {name:?}: keys of {key_len} bytes are outside 1..={}",
                crate::limits::MAX_KEY_LEN
            )));
        }
        let inner = &*self.inner;
        inner.log.health.check()?;
        // Serialises opens and catalog changes; taken before any shard lock.
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
                next.store(&*inner.config.fs, &inner.dir)?;
                *catalog = next;
                tracing::info!(tree = name, id = def.id, "created tree");
                def
            }
        };
        let staged = match inner.registry.get(def.id) {
            None => None,
            Some(tree) => match tree.into_any().downcast::<T>() {
                Ok(open) => return Ok(open),
                Err(other) => Some(other.downcast::<StagedTree>().map_err(|_| Error::TreeMismatch {
                    tree: name.to_owned(),
                    reason: "it is already open in this process with another key or value type".to_owned(),
                })?),
            },
        };
        // Every shard lock: no write or relocation of this tree can interleave
        // with building its index and publishing it.
        let _all = inner.log.lock_all();
        let parts = staged.as_ref().map(|s| s.parts());
        let built = Arc::new(build(TreeInit {
            id: def.id,
            name: def.name,
            log: Arc::clone(&inner.log),
            keydir: inner.config.keydir,
            staged: parts.as_deref().map_or(&[], Vec::as_slice),
        })?);
        inner.registry.install(def.id, Arc::clone(&built) as Arc<dyn ErasedTree>);
        Ok(built)
    }

    /// Starts an atomic batch of puts and deletes over any trees of this database.
    pub fn batch(&self) -> crate::Batch {
        crate::Batch::new(Arc::clone(&self.inner.log))
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
    /// As for [`sync`](Self::sync); the database is closed even when they occur,
    /// except on a full disk ([`Error::is_no_space`]): then writes still buffered
    /// stay in memory, handles that outlive the call keep working, and the
    /// background flusher (or the last handle's drop) writes them once space returns.
    pub fn close(self) -> Result<()> {
        let inner = &*self.inner;
        if let Some(w) = lock(&inner.background).take() {
            w.stop();
        }
        let hinted = inner.log.health.check().and_then(|()| inner.write_hints());
        let durable = inner.log.advance_durable_seq();
        let closed = inner.log.close();
        hinted.and(durable).and(closed)
    }

    /// Rewrites every sealed file that holds dead entries, reclaiming their space,
    /// and returns what it did. Runs at most one compaction at a time.
    ///
    /// # Errors
    /// I/O errors; `Error::Corruption` if a sealed file no longer scans clean;
    /// `Error::Poisoned`; `Error::Closed`.
    pub fn compact(&self) -> Result<CompactionReport> {
        self.inner.compact(Pass::Full)
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
            cache_hits: log.counters.hits.load(Ordering::Relaxed),
            cache_misses: log.counters.misses.load(Ordering::Relaxed),
            synced_writes: log.counters.synced_writes.load(Ordering::Relaxed),
            ..Stats::default()
        };
        s.keys = inner.registry.snapshot().values().map(|t| t.len() as u64).sum();
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

impl DbInner {
    fn compact(&self, pass: Pass<'_>) -> Result<CompactionReport> {
        let report = compaction::run(&self.log, &self.registry, pass, self.db_id, self.config.max_file_size)?;
        self.write_hints()?;
        Ok(report)
    }

    /// Writes a hint for every sealed file that has none, where `Config::hints`
    /// keeps one. Either way the file is not considered again in this process.
    fn write_hints(&self) -> Result<()> {
        let _one_at_a_time = lock(&self.log.maintenance);
        let inline: std::collections::HashSet<u32> = lock(&self.catalog)
            .trees
            .iter()
            .filter(|t| t.shape.kind.keeps_values_inline())
            .map(|t| t.id)
            .collect();
        for shard in self.log.shards.iter() {
            let files: Vec<_> = shard.sealed_files().into_iter().filter(|f| !f.hinted()).collect();
            for f in files {
                let hints = self.config.hints;
                if !write_hint(&*shard.fs, &shard.dir, shard.id, &f, hints, |tree| inline.contains(&tree))? {
                    // A hint left by an earlier setting that recovery could not
                    // use would otherwise be read and dropped at every open.
                    // Best effort: a hint is derived data, and recovery ignores this one.
                    let stale = hint_path(&shard.dir, f.id);
                    if let Err(e) = fsio::remove_if_exists(&*shard.fs, &stale, "remove an unused hint") {
                        tracing::warn!(path = %stale.display(), error = %e, "cannot remove an unused hint");
                    }
                }
                f.set_hinted();
            }
        }
        Ok(())
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        if let Some(w) = lock(&self.background).take() {
            w.stop();
        }
    }
}

/// Deletes the data files a compaction pass had listed as retiring when a crash
/// stopped it, then clears the list.
fn finish_retiring(fs: &dyn FileSystem, dir: &Path, mut manifest: Manifest) -> Result<Manifest> {
    if manifest.retiring.is_empty() {
        return Ok(manifest);
    }
    let mut shards: Vec<u16> = manifest.retiring.iter().map(|&(s, _)| s).collect();
    shards.sort_unstable();
    shards.dedup();
    for &(shard, file) in &manifest.retiring {
        let shard_dir = dir.join(shard_dir_name(shard));
        for path in [shard_dir.join(log_file_name(file)), hint_path(&shard_dir, file)] {
            if fsio::remove_if_exists(fs, &path, "delete compacted file")? {
                tracing::info!(path = %path.display(), "finished deleting a compacted file");
            }
        }
    }
    for shard in shards {
        fsio::sync_dir(fs, &dir.join(shard_dir_name(shard)))?;
    }
    manifest.retiring.clear();
    manifest.store(fs, dir)?;
    Ok(manifest)
}

fn random_id() -> Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| {
        Error::io("draw a random database id for", PathBuf::new(), std::io::Error::other(e.to_string()))
    })?;
    Ok(u64::from_le_bytes(b))
}
