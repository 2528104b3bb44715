//! Recovery of one shard: listing, validating and scanning its data files.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Ctx, Found, ShardOutcome};
use crate::error::CorruptionKind;
use crate::log::{
    DataFile, FILE_HEADER_LEN, FileHeader, FileKind, FileTable, HINT_SUFFIX, Loc, Scanner, Step, TMP_SUFFIX,
    fsio, load_hint, log_file_name, parse_log_file_name, shard_dir_name,
};
use crate::{Error, Result};

fn list_files(dir: &Path) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let mut hints = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        match parse_log_file_name(&text) {
            Some(id) => ids.push(id),
            None if text.ends_with(HINT_SUFFIX) => hints.push(entry.path()),
            None if text.ends_with(TMP_SUFFIX) => {
                // A replacement that a crash interrupted; the original is intact.
                let path = entry.path();
                std::fs::remove_file(&path)
                    .map_err(|e| Error::io("remove stale temporary file", &path, e))?;
            }
            None => {
                tracing::warn!(file = %text, dir = %dir.display(), "ignoring a file that is not a data file")
            }
        }
    }
    ids.sort_unstable();
    // A hint whose data file is gone (a crash between deleting the two) is garbage.
    for hint in hints {
        let id = hint.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u32>().ok());
        if id.is_none_or(|id| ids.binary_search(&id).is_err()) {
            std::fs::remove_file(&hint).map_err(|e| Error::io("remove orphaned hint", &hint, e))?;
        }
    }
    Ok(ids)
}

pub(super) fn recover_shard(ctx: &Ctx<'_>, shard: u16) -> Result<ShardOutcome> {
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
    let mut files = FileTable::new();
    let mut active = None;
    // The file that may end in a torn tail and is appended to next: the newest
    // log file. Compaction outputs are complete before they get their names.
    let mut active_id = None;
    for &id in ids.iter().rev() {
        if compacted_file(&dir.join(log_file_name(id)))? {
            continue;
        }
        active_id = Some(id);
        break;
    }
    for &id in &ids {
        let last = Some(id) == active_id;
        let path = dir.join(log_file_name(id));
        if let Some(file) = recover_file(ctx, &dir, shard, id, &path, last, &mut found)? {
            if last && file.kind == FileKind::Log {
                active = Some(Arc::clone(&file));
            }
            files.insert(id, file);
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
            files.insert(id, Arc::clone(&file));
            file
        }
    };
    Ok(ShardOutcome { files, active, next_file_id, found })
}

/// Scans one file into `out`. Returns `None` when the file was skipped whole.
fn recover_file(
    ctx: &Ctx<'_>,
    dir: &Path,
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
    if !last {
        match load_hint(dir, shard, id, len, |e| ctx.hint_record_usable(e)) {
            Ok(hint) => {
                let mut min_seq = u64::MAX;
                for r in hint.records() {
                    let h = r.entry.header;
                    min_seq = min_seq.min(h.seq);
                    let loc = Loc { shard, file: id, offset: r.offset, len: h.entry_len() as u32 };
                    out.accept(ctx, path, kind, loc, &r.entry)?;
                }
                out.report.hint_files += 1;
                let data = DataFile::from_recovered(id, PathBuf::from(path), kind, file, len);
                data.note_seq(min_seq);
                data.set_hinted();
                return Ok(Some(data));
            }
            Err(why) => tracing::debug!(path = %path.display(), why, "scanning a file without a usable hint"),
        }
    }
    let mut truncate_at = None;
    let mut min_seq = u64::MAX;
    let mut scanner = Scanner::new(&file, path, FILE_HEADER_LEN as u64, len, kind == FileKind::Log);
    loop {
        match scanner.next()? {
            Step::Entry { offset, entry } => {
                min_seq = min_seq.min(entry.header.seq);
                let loc =
                    Loc { shard, file: id, offset: offset as u32, len: entry.header.entry_len() as u32 };
                out.accept(ctx, path, kind, loc, &entry)?;
            }
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
    let data = DataFile::from_recovered(id, PathBuf::from(path), kind, file, valid_len);
    data.note_seq(min_seq);
    Ok(Some(data))
}

fn read_header(file: &File, path: &Path, len: u64) -> Result<Result<FileHeader, String>> {
    if len < FILE_HEADER_LEN as u64 {
        return Ok(Err(format!("file of {len} bytes is shorter than its header")));
    }
    let mut buf = [0u8; FILE_HEADER_LEN];
    file.read_exact_at(&mut buf, 0).map_err(|e| Error::io("read data file header", path, e))?;
    Ok(FileHeader::decode(&buf))
}

/// Whether the file's header names it a compaction output (a file whose header
/// cannot be read is not).
fn compacted_file(path: &Path) -> Result<bool> {
    let file = File::open(path).map_err(|e| Error::io("open data file", path, e))?;
    let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    Ok(matches!(read_header(&file, path, len)?, Ok(h) if h.kind == FileKind::Compacted))
}
