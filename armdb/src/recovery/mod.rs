//! Rebuilds every shard's state from its data files on `Db::open`.
//!
//! Rules (see `docs/format.md`): every file is scanned; for every key the entry
//! with the highest seq wins; a torn or zero-filled tail of the last file of a
//! shard is truncated; any other damage is corruption, reported with file and
//! offset and handled by `Config::corruption`; a batch counts only when whole.

mod batch;
mod files;
mod report;
mod stage;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use report::{RecoveryReport, SkippedCorruption};
pub(crate) use stage::{Staged, StagedEntry};

use crate::config::CorruptionPolicy;
use crate::error::CorruptionKind;
use crate::log::{
    BatchMarker, Catalog, DataFile, EntryRef, FLAG_BATCH, FileKind, FileTable, Loc, Manifest,
    RESERVED_TREE_ID, ShardState, TreeDef, TreeKind,
};
use crate::sync::lock;
use crate::{Config, Error, Result};

/// Everything recovery rebuilt.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub shards: Vec<ShardState>,
    /// Live entries by tree id, one `Staged` per shard.
    pub staged: HashMap<u32, Vec<Staged>>,
    pub max_seq: u64,
    pub report: RecoveryReport,
    /// Seqs of batches found cut short now or at an earlier open.
    pub dropped_batches: Vec<u64>,
}

struct Ctx<'a> {
    root: &'a Path,
    fs: &'a dyn crate::fs::FileSystem,
    db_id: u64,
    /// Every batch with a seq up to this is known to be whole, except `dropped`.
    durable_seq: u64,
    dropped: std::collections::HashSet<u64>,
    trees: HashMap<u32, &'a TreeDef>,
    policy: CorruptionPolicy,
    shards: usize,
}

/// What one shard's files held.
#[derive(Debug, Default)]
struct Found {
    last_seq: u64,
    staged: HashMap<u32, Staged>,
    batches: batch::Pending,
    report: RecoveryReport,
}

struct ShardOutcome {
    files: FileTable,
    active: Arc<DataFile>,
    next_file_id: u32,
    found: Found,
}

/// Runs `f` for every shard on up to one thread per core.
fn per_shard<T: Send>(shards: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let slots: Vec<Mutex<Option<T>>> = (0..shards).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(shards);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= shards {
                        break;
                    }
                    *lock(&slots[i]) = Some(f(i));
                }
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|s| s.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner))
        .collect()
}

pub(crate) fn recover(
    root: &Path,
    manifest: &Manifest,
    catalog: &Catalog,
    config: &Config,
) -> Result<Recovered> {
    let span = tracing::info_span!("recovery", dir = %root.display(), shards = manifest.shards);
    let _enter = span.enter();
    let started = Instant::now();
    let ctx = Ctx {
        root,
        fs: &*config.fs,
        db_id: manifest.db_id,
        durable_seq: manifest.durable_seq,
        dropped: manifest.dropped_batches.iter().copied().collect(),
        trees: catalog.trees.iter().map(|t| (t.id, t)).collect(),
        policy: config.corruption,
        shards: usize::from(manifest.shards),
    };
    let shards = usize::from(manifest.shards);
    let outcomes = per_shard(shards, |i| files::recover_shard(&ctx, i as u16));
    if outcomes.len() != shards {
        return Err(Error::InvalidArgument("a recovery thread panicked".into()));
    }
    let outcomes = outcomes.into_iter().collect::<Result<Vec<_>>>()?;
    let (heads, mut found): (Vec<_>, Vec<Found>) =
        outcomes.into_iter().map(|o| ((o.files, o.active, o.next_file_id), o.found)).unzip();
    let dropped_now = batch::settle(&mut found);
    let newly = dropped_now.iter().filter(|s| !ctx.dropped.contains(s)).count();
    let mut report = RecoveryReport { incomplete_batches: newly as u64, ..Default::default() };
    let mut dropped_batches: Vec<u64> =
        manifest.dropped_batches.iter().chain(&dropped_now).copied().collect();
    dropped_batches.sort_unstable();
    dropped_batches.dedup();
    let cells: Vec<Mutex<Found>> = found.into_iter().map(Mutex::new).collect();
    let resolved = per_shard(shards, |i| {
        let mut f = std::mem::take(&mut *lock(&cells[i]));
        let mut live = HashMap::new();
        for staged in f.staged.values_mut() {
            staged.resolve();
            staged.add_live_bytes(&mut live);
        }
        (f, live)
    });
    if resolved.len() != shards {
        return Err(Error::InvalidArgument("a recovery thread panicked".into()));
    }
    let mut staged: HashMap<u32, Vec<Staged>> = HashMap::new();
    let mut states = Vec::with_capacity(shards);
    let mut max_seq = 0;
    for ((files, active, next_file_id), (f, live_bytes)) in heads.into_iter().zip(resolved) {
        max_seq = max_seq.max(f.last_seq);
        report.merge(f.report);
        for (tree, part) in f.staged {
            staged.entry(tree).or_default().push(part);
        }
        states.push(ShardState { files, active, next_file_id, last_seq: f.last_seq, live_bytes });
    }
    report.duration = started.elapsed();
    tracing::info!(
        files = report.files,
        entries = report.entries,
        truncated_bytes = report.truncated_bytes,
        corrupt_entries = report.corrupt_entries,
        incomplete_batches = report.incomplete_batches,
        ms = report.duration.as_millis() as u64,
        "recovered"
    );
    // A dropped batch no file can hold any more need not be remembered.
    let min_seq = states.iter().flat_map(|s| s.files.values()).map(|f| f.min_seq()).min().unwrap_or(u64::MAX);
    dropped_batches.retain(|&seq| seq >= min_seq);
    Ok(Recovered { shards: states, staged, max_seq, report, dropped_batches })
}

impl Ctx<'_> {
    /// Applies the corruption policy: an error under `Refuse`, a report line under `SkipEntry`.
    fn damaged(
        &self,
        report: &mut RecoveryReport,
        path: &Path,
        offset: u64,
        kind: CorruptionKind,
    ) -> Result<()> {
        match self.policy {
            CorruptionPolicy::Refuse => Err(Error::corrupt(path, offset, kind)),
            CorruptionPolicy::SkipEntry => {
                tracing::warn!(path = %path.display(), offset, %kind, "skipping damaged data");
                report.corrupt_entries += 1;
                report.corruptions.push(SkippedCorruption { path: path.to_owned(), offset, kind });
                Ok(())
            }
        }
    }

    /// Checks an entry against the catalog: its tree exists and its shape matches.
    fn check(&self, e: &EntryRef<'_>) -> Result<&TreeDef, CorruptionKind> {
        let def = self.trees.get(&e.header.tree).ok_or_else(|| {
            CorruptionKind::Invalid(format!(
                "entry names tree id {} which is not in the catalog",
                e.header.tree
            ))
        })?;
        if usize::from(def.shape.key_len) != e.key.len() {
            return Err(CorruptionKind::Invalid(format!(
                "entry key of {} bytes in tree {:?} whose keys are {} bytes",
                e.key.len(),
                def.name,
                def.shape.key_len
            )));
        }
        if def.shape.kind == TreeKind::Const
            && !e.header.tombstone
            && e.header.value_len != def.shape.value_len
        {
            return Err(CorruptionKind::Invalid(format!(
                "entry value of {} bytes in const tree {:?} whose values are {} bytes",
                e.header.value_len, def.name, def.shape.value_len
            )));
        }
        Ok(def)
    }
}

impl Ctx<'_> {
    /// Whether a hint record can stand for its entry: its tree is known with
    /// this key length, and trees that keep values in memory have the value.
    fn hint_record_usable(&self, e: &EntryRef<'_>) -> bool {
        if e.header.tree == RESERVED_TREE_ID {
            return e.value.is_some();
        }
        self.trees.get(&e.header.tree).is_some_and(|def| {
            usize::from(def.shape.key_len) == e.key.len()
                && (e.header.tombstone || !def.shape.kind.keeps_values_inline() || e.value.is_some())
        })
    }
}

impl Found {
    /// Takes one valid entry found at `loc` in a file of `kind`.
    fn accept(
        &mut self,
        ctx: &Ctx<'_>,
        path: &Path,
        kind: FileKind,
        loc: Loc,
        e: &EntryRef<'_>,
    ) -> Result<()> {
        let seq = e.header.seq;
        self.report.entries += 1;
        self.last_seq = self.last_seq.max(seq);
        // Batch framing matters only where a batch may still be incomplete: in
        // log files, above the seq up to which every batch is known whole.
        let framed = kind == FileKind::Log
            && e.header.flags & FLAG_BATCH != 0
            && (seq > ctx.durable_seq || ctx.dropped.contains(&seq));
        if e.header.tree == RESERVED_TREE_ID {
            if framed {
                match BatchMarker::decode(e.value.unwrap_or_default()) {
                    Ok(m) => self.batches.part(seq).marker = Some(m),
                    Err(what) => ctx.damaged(
                        &mut self.report,
                        path,
                        u64::from(loc.offset),
                        CorruptionKind::Invalid(what),
                    )?,
                }
            }
            return Ok(());
        }
        let def = match ctx.check(e) {
            // A key lives in its home shard only; one found elsewhere (a file
            // of another shard under this one's name) would compete with its
            // real versions without a seq order between them.
            Ok(def) if crate::log::shard_of(def.id, e.key, ctx.shards) != usize::from(loc.shard) => {
                let kind = CorruptionKind::Invalid(format!(
                    "entry of tree {:?} belongs to shard {}, found in shard {}",
                    def.name,
                    crate::log::shard_of(def.id, e.key, ctx.shards),
                    loc.shard
                ));
                return ctx.damaged(&mut self.report, path, u64::from(loc.offset), kind);
            }
            Ok(def) => def,
            Err(kind) => return ctx.damaged(&mut self.report, path, u64::from(loc.offset), kind),
        };
        let staged = if framed {
            let part = self.batches.part(seq);
            part.entries += 1;
            &mut part.staged
        } else {
            &mut self.staged
        };
        staged.entry(def.id).or_insert_with(|| Staged::new(usize::from(def.shape.key_len))).push(
            e,
            loc,
            def.shape.kind.keeps_values_inline(),
        );
        Ok(())
    }
}
