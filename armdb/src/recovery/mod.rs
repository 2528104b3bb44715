//! Rebuilds every shard's state from its data files on `Db::open`.
//!
//! Rules (see `docs/format.md`): every file is scanned; for every key the entry
//! with the highest seq wins; a torn or zero-filled tail of the last file of a
//! shard is truncated; any other damage is corruption, reported with file and
//! offset and handled by `Config::corruption`.

mod report;
mod stage;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use report::{RecoveryReport, SkippedCorruption};
pub(crate) use stage::{Staged, StagedEntry};

use crate::config::CorruptionPolicy;
use crate::error::CorruptionKind;
use crate::log::{
    Catalog, DataFile, EntryRef, FILE_HEADER_LEN, FileHeader, FileKind, FileTable, Loc, Scanner, ShardState,
    Step, TreeDef, TreeKind, fsio, log_file_name, parse_log_file_name, shard_dir_name,
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
}

struct Ctx<'a> {
    root: &'a Path,
    db_id: u64,
    trees: HashMap<u32, &'a TreeDef>,
    policy: CorruptionPolicy,
}

/// What one shard's files held.
#[derive(Default)]
struct Found {
    files: FileTable,
    last_seq: u64,
    staged: HashMap<u32, Staged>,
    report: RecoveryReport,
}

struct ShardOutcome {
    state: ShardState,
    staged: HashMap<u32, Staged>,
    report: RecoveryReport,
}

pub(crate) fn recover(
    root: &Path,
    shards: u16,
    db_id: u64,
    catalog: &Catalog,
    config: &Config,
) -> Result<Recovered> {
    let span = tracing::info_span!("recovery", dir = %root.display(), shards);
    let _enter = span.enter();
    let started = Instant::now();
    let ctx = Ctx {
        root,
        db_id,
        trees: catalog.trees.iter().map(|t| (t.id, t)).collect(),
        policy: config.corruption,
    };
    let outcomes: Vec<Mutex<Option<Result<ShardOutcome>>>> = (0..shards).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers =
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(usize::from(shards));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= usize::from(shards) {
                        break;
                    }
                    let out = recover_shard(&ctx, i as u16);
                    *lock(&outcomes[i]) = Some(out);
                }
            });
        }
    });
    let mut recovered = Recovered {
        shards: Vec::with_capacity(usize::from(shards)),
        staged: HashMap::new(),
        max_seq: 0,
        report: RecoveryReport::default(),
    };
    for (i, slot) in outcomes.into_iter().enumerate() {
        let out = slot
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .ok_or_else(|| Error::InvalidArgument(format!("recovery of shard {i} did not run")))??;
        recovered.max_seq = recovered.max_seq.max(out.state.last_seq);
        recovered.shards.push(out.state);
        recovered.report.merge(out.report);
        for (tree, staged) in out.staged {
            let per_shard = recovered.staged.entry(tree).or_default();
            per_shard.push(staged);
        }
    }
    recovered.report.duration = started.elapsed();
    tracing::info!(
        files = recovered.report.files,
        entries = recovered.report.entries,
        truncated_bytes = recovered.report.truncated_bytes,
        corrupt_entries = recovered.report.corrupt_entries,
        ms = recovered.report.duration.as_millis() as u64,
        "recovered"
    );
    Ok(recovered)
}

fn list_files(dir: &Path) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name();
        match name.to_str().and_then(parse_log_file_name) {
            Some(id) => ids.push(id),
            None => {
                tracing::warn!(file = ?name, dir = %dir.display(), "ignoring a file that is not a data file")
            }
        }
    }
    ids.sort_unstable();
    Ok(ids)
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

fn recover_shard(ctx: &Ctx<'_>, shard: u16) -> Result<ShardOutcome> {
    let dir = ctx.root.join(shard_dir_name(shard));
    if !dir.exists() {
        std::fs::create_dir(&dir).map_err(|e| Error::io("create shard directory", &dir, e))?;
        fsio::sync_dir(ctx.root)?;
    }
    let ids = list_files(&dir)?;
    let mut next_file_id = match ids.last() {
        None => 1,
        Some(&last) => last.checked_add(1).ok_or_else(|| {
            Error::invalid(dir.join(log_file_name(last)), 0, "data file id leaves no id for the next file")
        })?,
    };
    let mut found = Found::default();
    let mut active = None;
    for (i, &id) in ids.iter().enumerate() {
        let last = i + 1 == ids.len();
        let path = dir.join(log_file_name(id));
        if let Some(file) = recover_file(ctx, shard, id, &path, last, &mut found)? {
            if last && file.kind == FileKind::Log {
                active = Some(Arc::clone(&file));
            }
            found.files.insert(id, file);
        }
    }
    let active = match active {
        Some(a) => a,
        None => {
            let id = next_file_id;
            let file = DataFile::create(
                &dir,
                FileHeader { shard, kind: FileKind::Log, file_id: id, db_id: ctx.db_id },
            )?;
            file.sync()?;
            fsio::sync_dir(&dir)?;
            next_file_id = id + 1;
            found.files.insert(id, Arc::clone(&file));
            file
        }
    };
    for staged in found.staged.values_mut() {
        staged.resolve();
    }
    Ok(ShardOutcome {
        state: ShardState { files: found.files, active, next_file_id, last_seq: found.last_seq },
        staged: found.staged,
        report: found.report,
    })
}

/// Scans one file into `out`. Returns `None` when the file was skipped whole.
fn recover_file(
    ctx: &Ctx<'_>,
    shard: u16,
    id: u32,
    path: &Path,
    last: bool,
    out: &mut Found,
) -> Result<Option<Arc<DataFile>>> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open data file", path, e))?;
    let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    out.report.files += 1;
    out.report.bytes += len;
    let kind = match read_header(&file, path, len)? {
        Ok(h) if h.shard != shard || h.file_id != id || h.db_id != ctx.db_id => {
            return Err(Error::invalid(
                path,
                0,
                format!(
                    "header says shard {} file {} of database {:#x}; expected shard {shard} file {id} of {:#x}",
                    h.shard, h.file_id, h.db_id, ctx.db_id
                ),
            ));
        }
        Ok(h) => h.kind,
        Err(what) => {
            let empty = len <= FILE_HEADER_LEN as u64
                || matches!(
                    Scanner::new(&file, path, FILE_HEADER_LEN as u64, len, false).next()?,
                    Step::Tail { .. } | Step::End
                );
            if last && empty {
                // A crash while the file was being created: nothing was ever written to it.
                file.set_len(0).map_err(|e| Error::io("truncate", path, e))?;
                let header = FileHeader { shard, kind: FileKind::Log, file_id: id, db_id: ctx.db_id };
                file.write_all_at(&header.encode(), 0)
                    .map_err(|e| Error::io("rewrite data file header", path, e))?;
                file.sync_all().map_err(|e| Error::io("fsync", path, e))?;
                out.report.truncated_bytes += len;
                return Ok(Some(DataFile::from_recovered(
                    id,
                    path.to_owned(),
                    FileKind::Log,
                    file,
                    FILE_HEADER_LEN as u64,
                )));
            }
            ctx.damaged(&mut out.report, path, 0, CorruptionKind::Invalid(what))?;
            return Ok(None);
        }
    };
    let mut truncate_at = None;
    let mut scanner = Scanner::new(&file, path, FILE_HEADER_LEN as u64, len, kind == FileKind::Log);
    loop {
        match scanner.next()? {
            Step::Entry { offset, entry } => match ctx.check(&entry) {
                Ok(def) => {
                    out.report.entries += 1;
                    out.last_seq = out.last_seq.max(entry.header.seq);
                    let loc =
                        Loc { shard, file: id, offset: offset as u32, len: entry.header.entry_len() as u32 };
                    out.staged
                        .entry(def.id)
                        .or_insert_with(|| Staged::new(usize::from(def.shape.key_len)))
                        .push(&entry, loc, def.shape.kind.keeps_values_inline());
                }
                Err(kind) => ctx.damaged(&mut out.report, path, offset, kind)?,
            },
            Step::End => break,
            Step::Tail { offset, kind } => {
                if last {
                    truncate_at = Some(offset);
                } else {
                    ctx.damaged(&mut out.report, path, offset, kind)?;
                }
                break;
            }
            Step::Corrupt { offset, kind } => ctx.damaged(&mut out.report, path, offset, kind)?,
        }
    }
    drop(scanner);
    let mut valid_len = len;
    if let Some(at) = truncate_at {
        tracing::warn!(path = %path.display(), offset = at, bytes = len - at, "truncating a torn tail");
        file.set_len(at).map_err(|e| Error::io("truncate torn tail of", path, e))?;
        file.sync_all().map_err(|e| Error::io("fsync", path, e))?;
        out.report.truncated_bytes += len - at;
        valid_len = at;
    }
    Ok(Some(DataFile::from_recovered(id, PathBuf::from(path), kind, file, valid_len)))
}

fn read_header(file: &File, path: &Path, len: u64) -> Result<Result<FileHeader, String>> {
    if len < FILE_HEADER_LEN as u64 {
        return Ok(Err(format!("file of {len} bytes is shorter than its header")));
    }
    let mut buf = [0u8; FILE_HEADER_LEN];
    file.read_exact_at(&mut buf, 0).map_err(|e| Error::io("read data file header", path, e))?;
    Ok(FileHeader::decode(&buf))
}
