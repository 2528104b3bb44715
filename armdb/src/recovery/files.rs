//! Recovery of one shard: listing, validating and scanning its data files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Ctx, Found, ShardOutcome};
use crate::error::CorruptionKind;
use crate::fs::{FileSystem, FsFile, OpenMode};
use crate::log::{
    DataFile, ENTRY_HEADER_LEN, EntryHeader, FILE_HEADER_LEN, FileHeader, FileKind, FileTable, HINT_SUFFIX,
    Loc, Scanner, Step, TMP_SUFFIX, fsio, load_hint, log_file_name, parse_log_file_name, shard_dir_name,
};
use crate::{Error, Result};

fn list_files(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let mut hints = Vec::new();
    let names = fs.read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for name in names {
        let text = name.to_string_lossy();
        match parse_log_file_name(&text) {
            Some(id) => ids.push(id),
            None if text.ends_with(HINT_SUFFIX) => hints.push(dir.join(&name)),
            None if text.ends_with(TMP_SUFFIX) => {
                // A replacement that a crash interrupted; the original is intact.
                let path = dir.join(&name);
                fs.remove_file(&path).map_err(|e| Error::io("remove stale temporary file", &path, e))?;
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
            fs.remove_file(&hint).map_err(|e| Error::io("remove orphaned hint", &hint, e))?;
        }
    }
    Ok(ids)
}

pub(super) fn recover_shard(ctx: &Ctx<'_>, shard: u16) -> Result<ShardOutcome> {
    let dir = ctx.root.join(shard_dir_name(shard));
    let fs = ctx.fs;
    if !fs.exists(&dir).map_err(|e| Error::io("look for", &dir, e))? {
        fs.create_dir_all(&dir).map_err(|e| Error::io("create shard directory", &dir, e))?;
        fsio::sync_dir(fs, ctx.root)?;
    }
    let ids = list_files(fs, &dir)?;
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
        if compacted_file(fs, &dir.join(log_file_name(id)))? {
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
    // A file the previous run created may still lack a durable directory entry
    // (its directory fsync was to come with a later sync): make every name this
    // open found durable, so that syncing a file's data from now on is enough.
    fsio::sync_dir(fs, &dir)?;
    let active = match active {
        Some(a) => a,
        None => {
            let id = next_file_id;
            let file = DataFile::create(
                fs,
                &dir,
                FileHeader { shard, kind: FileKind::Log, file_id: id, db_id: ctx.db_id },
            )?;
            file.sync()?;
            fsio::sync_dir(fs, &dir)?;
            next_file_id = id.checked_add(1).ok_or_else(|| {
                Error::invalid(dir.join(log_file_name(id)), 0, "data file id leaves no id for the next file")
            })?;
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
    let file = ctx.fs.open(path, OpenMode::ReadWrite).map_err(|e| Error::io("open data file", path, e))?;
    let len = file.len().map_err(|e| Error::io("stat", path, e))?;
    out.report.files += 1;
    out.report.bytes += len;
    let kind = match read_header(&*file, path, len)? {
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
                    Scanner::new(&*file, path, FILE_HEADER_LEN as u64, len, false).next()?,
                    Step::Tail { .. } | Step::End
                );
            if last && empty {
                // A crash while the file was being created: nothing was ever written to it.
                file.set_len(0).map_err(|e| Error::io("truncate", path, e))?;
                let header = FileHeader { shard, kind: FileKind::Log, file_id: id, db_id: ctx.db_id };
                file.write_all_at(&header.encode(), 0)
                    .map_err(|e| Error::io("rewrite data file header", path, e))?;
                file.sync_data().map_err(|e| Error::io("fsync", path, e))?;
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
        match load_hint(ctx.fs, dir, shard, id, len, |e| ctx.hint_record_usable(e)) {
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
    let (mut entries, mut key_bytes) = (0u64, 0u64);
    let mut scanner = Scanner::new(&*file, path, FILE_HEADER_LEN as u64, len, kind == FileKind::Log);
    loop {
        match scanner.next()? {
            Step::Entry { offset, entry } => {
                min_seq = min_seq.min(entry.header.seq);
                entries += 1;
                key_bytes += entry.key.len() as u64;
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
            Step::Corrupt { offset, .. } if last && power_cut_hole(&*file, path, offset, len)? => {
                truncate_at = Some(offset);
                break;
            }
            Step::Corrupt { offset, kind } => ctx.damaged(&mut out.report, path, offset, kind)?,
        }
    }
    drop(scanner);
    let mut valid_len = len;
    if let Some(at) = truncate_at {
        if zeros(&*file, path, at, len)? {
            // Space the writer reserved ahead of its appends (`Config::preallocate`)
            // and a crash left, or a file the file system grew but never wrote.
            tracing::info!(path = %path.display(), offset = at, bytes = len - at, "truncating a zero-filled tail");
        } else {
            tracing::warn!(path = %path.display(), offset = at, bytes = len - at, "truncating a torn tail");
        }
        file.set_len(at).map_err(|e| Error::io("truncate torn tail of", path, e))?;
        file.sync_data().map_err(|e| Error::io("fsync", path, e))?;
        out.report.truncated_bytes += len - at;
        valid_len = at;
    }
    let data = DataFile::from_recovered(id, PathBuf::from(path), kind, file, valid_len);
    data.note_seq(min_seq);
    data.note_entries(entries, key_bytes);
    Ok(Some(data))
}

/// Whether the bytes from `at` to `len` are all zeros (read 4 KiB at a time).
fn zeros(file: &dyn FsFile, path: &Path, mut at: u64, len: u64) -> Result<bool> {
    // On the stack: recovery's allocations stay bounded by what the files declare.
    let mut buf = [0u8; 4096];
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at).map_err(|e| Error::io("read during recovery of", path, e))?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// Whether the damage at `at` in the last file of a shard is the hole a power
/// cut leaves when the disk wrote later pages of the file but not an earlier
/// one: the rest of `at`'s 4 KiB page is zeros, or a whole page that starts
/// inside the damaged entry (as far as its intact header says it reaches) is.
/// Nothing after such a hole was ever fsynced (an fsync covers the whole file),
/// so the log ends at `at`. A flipped bit never reads as a page of zeros.
fn power_cut_hole(file: &dyn FsFile, path: &Path, at: u64, len: u64) -> Result<bool> {
    const PAGE: u64 = 4096;
    let mut header = [0u8; ENTRY_HEADER_LEN];
    let reach = match file.read_exact_at(&mut header, at) {
        Ok(()) => EntryHeader::decode(&header).map_or(ENTRY_HEADER_LEN, |h| h.entry_len()),
        Err(_) => ENTRY_HEADER_LEN,
    };
    let extent_end = (at + reach as u64).min(len);
    let mut start = at;
    while start < len && (start == at || start < extent_end) {
        let end = ((start / PAGE + 1) * PAGE).min(len);
        if zeros(file, path, start, end)? {
            return Ok(true);
        }
        start = end;
    }
    Ok(false)
}

fn read_header(file: &dyn FsFile, path: &Path, len: u64) -> Result<Result<FileHeader, String>> {
    if len < FILE_HEADER_LEN as u64 {
        return Ok(Err(format!("file of {len} bytes is shorter than its header")));
    }
    let mut buf = [0u8; FILE_HEADER_LEN];
    file.read_exact_at(&mut buf, 0).map_err(|e| Error::io("read data file header", path, e))?;
    Ok(FileHeader::decode(&buf))
}

/// Whether the file's header names it a compaction output (a file whose header
/// cannot be read is not).
fn compacted_file(fs: &dyn FileSystem, path: &Path) -> Result<bool> {
    let file = fs.open(path, OpenMode::Read).map_err(|e| Error::io("open data file", path, e))?;
    let len = file.len().map_err(|e| Error::io("stat", path, e))?;
    Ok(matches!(read_header(&*file, path, len)?, Ok(h) if h.kind == FileKind::Compacted))
}
