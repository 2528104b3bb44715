//! Hint files: for a sealed data file, one record per entry (everything but the
//! values of var trees), so that reopen reads far less than the data file.
//!
//! A hint is derived data: written off the write lock after its data file was
//! sealed (or written by compaction), replaced atomically, and ignored whenever
//! anything about it disagrees with its data file. Losing one is always safe.

use std::path::{Path, PathBuf};

use super::codec::{Put, Reader};
use super::file::DataFile;
use super::format::{
    EntryHeader, EntryRef, FILE_HEADER_LEN, FORMAT_VERSION, HINT_MAGIC, HINT_SUFFIX, entry_len,
};
use super::fsio;
use super::scan::{Scanner, Step};
use crate::fs::FileSystem;
use crate::limits::{MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::{Hints, Result};

pub(crate) const HINT_HEADER_LEN: usize = 56;
/// Fixed part of a hint record, before its key and value.
const RECORD_FIXED_LEN: usize = 25;

pub(crate) fn hint_path(dir: &Path, file_id: u32) -> PathBuf {
    dir.join(format!("{file_id:010}{HINT_SUFFIX}"))
}

/// One hint record: an entry's header fields, its offset, its key and (for
/// trees that keep values in memory) its value.
#[derive(Debug)]
pub(crate) struct HintRecord<'a> {
    pub offset: u32,
    pub entry: EntryRef<'a>,
}

/// A parsed, validated hint.
#[derive(Debug)]
pub(crate) struct Hint {
    bytes: Vec<u8>,
    count: u64,
}

impl Hint {
    /// Every record, in file order.
    pub(crate) fn records(&self) -> impl Iterator<Item = HintRecord<'_>> {
        let mut r = Reader::new(&self.bytes[HINT_HEADER_LEN..]);
        (0..self.count).map_while(move |_| parse_record(&mut r).ok())
    }
}

fn parse_record<'a>(r: &mut Reader<'a>) -> std::result::Result<HintRecord<'a>, String> {
    let short = |_| "short hint record".to_string();
    let word = r.u64().map_err(short)?;
    let tree = r.u32().map_err(short)?;
    let key_len = r.u16().map_err(short)?;
    let flags = r.u16().map_err(short)?;
    let value_len = r.u32().map_err(short)?;
    let offset = r.u32().map_err(short)?;
    let has_value = r.u8().map_err(short)?;
    if key_len == 0 || key_len as usize > MAX_KEY_LEN || value_len as usize > MAX_VALUE_LEN || has_value > 1 {
        return Err("hint record out of range".into());
    }
    let key = r.bytes(key_len as usize).map_err(short)?;
    let value = if has_value == 1 { Some(r.bytes(value_len as usize).map_err(short)?) } else { None };
    let header = EntryHeader {
        seq: word & !(1 << 63),
        tombstone: word >> 63 == 1,
        tree,
        key_len,
        flags,
        value_len,
        payload_crc: 0,
    };
    Ok(HintRecord { offset, entry: EntryRef { header, key, value } })
}

/// Writes the hint of a sealed data file, keeping values of trees for which
/// `inline(tree)` holds, if `policy` keeps a hint of its size. Reads the data
/// file from disk. Returns whether it wrote a hint.
pub(crate) fn write_hint(
    fs: &dyn FileSystem,
    dir: &Path,
    shard: u16,
    data: &DataFile,
    policy: Hints,
    inline: impl Fn(u32) -> bool,
) -> Result<bool> {
    let len = data.written();
    // Every record weighs at least its fixed part and its key: when even that
    // is more than `policy` keeps, the file need not be read.
    let (entries, key_bytes) = data.entry_tally();
    let at_least = (HINT_HEADER_LEN as u64)
        .saturating_add(entries.saturating_mul(RECORD_FIXED_LEN as u64))
        .saturating_add(key_bytes);
    if !policy.keeps(at_least, len) {
        return Ok(false);
    }
    let mut body = Vec::new();
    let (mut count, mut max_seq, mut min_seq) = (0u64, 0u64, u64::MAX);
    let mut scanner = Scanner::new(data.handle(), &data.path, FILE_HEADER_LEN as u64, len, false);
    loop {
        match scanner.next()? {
            Step::Entry { offset, entry } => {
                let h = entry.header;
                count += 1;
                max_seq = max_seq.max(h.seq);
                min_seq = min_seq.min(h.seq);
                let value =
                    entry.value.filter(|_| h.tree == super::format::RESERVED_TREE_ID || inline(h.tree));
                body.put_u64(h.seq | (u64::from(h.tombstone) << 63));
                body.put_u32(h.tree);
                body.put_u16(h.key_len);
                body.put_u16(h.flags);
                body.put_u32(h.value_len);
                body.put_u32(offset as u32);
                body.put_u8(u8::from(value.is_some()));
                body.extend_from_slice(entry.key);
                body.extend_from_slice(value.unwrap_or_default());
                if !policy.keeps((HINT_HEADER_LEN + body.len()) as u64, len) {
                    // Already too large to keep: stop reading the file.
                    return Ok(false);
                }
            }
            Step::End => break,
            // A sealed file that does not scan clean gets no hint: recovery will
            // scan it and report what it finds.
            Step::Tail { .. } | Step::Corrupt { .. } => return Ok(false),
        }
    }
    drop(scanner);
    let mut out = Vec::with_capacity(HINT_HEADER_LEN + body.len());
    out.extend_from_slice(&HINT_MAGIC);
    out.put_u16(FORMAT_VERSION);
    out.put_u16(shard);
    out.put_u32(data.id);
    out.put_u64(len);
    out.put_u64(count);
    out.put_u64(max_seq);
    out.put_u64(min_seq);
    out.put_u32(crc32fast::hash(&body));
    let header_crc = crc32fast::hash(&out);
    out.put_u32(header_crc);
    debug_assert_eq!(out.len(), HINT_HEADER_LEN);
    out.extend_from_slice(&body);
    let name = format!("{:010}{HINT_SUFFIX}", data.id);
    fsio::write_atomic_no_dir_sync(fs, dir, &name, &out)?;
    Ok(true)
}

/// Loads the hint of data file `file_id` whose length is `data_len`, or says
/// why it cannot be used; `usable` vets every record against what the caller knows.
pub(crate) fn load_hint(
    fs: &dyn FileSystem,
    dir: &Path,
    shard: u16,
    file_id: u32,
    data_len: u64,
    usable: impl Fn(&EntryRef<'_>) -> bool,
) -> std::result::Result<Hint, String> {
    let path = hint_path(dir, file_id);
    let bytes = match fsio::read_small(fs, &path, data_len as usize + HINT_HEADER_LEN) {
        Ok(Some(b)) => b,
        Ok(None) => return Err("no hint file".into()),
        Err(e) => return Err(e.to_string()),
    };
    let mut r = Reader::new(&bytes);
    let short = |_| "hint shorter than its header".to_string();
    let magic: [u8; 8] = r.array().map_err(short)?;
    let version = r.u16().map_err(short)?;
    let hint_shard = r.u16().map_err(short)?;
    let hint_file = r.u32().map_err(short)?;
    let covered = r.u64().map_err(short)?;
    let count = r.u64().map_err(short)?;
    let _max_seq = r.u64().map_err(short)?;
    let _min_seq = r.u64().map_err(short)?;
    let body_crc = r.u32().map_err(short)?;
    let header_crc = r.u32().map_err(short)?;
    if crc32fast::hash(&bytes[..HINT_HEADER_LEN - 4]) != header_crc {
        return Err("hint header checksum mismatch".into());
    }
    if magic != HINT_MAGIC || version != FORMAT_VERSION || hint_shard != shard || hint_file != file_id {
        return Err("hint belongs to another file or format".into());
    }
    if covered != data_len {
        return Err(format!("hint covers {covered} bytes, the data file has {data_len}"));
    }
    if crc32fast::hash(&bytes[HINT_HEADER_LEN..]) != body_crc {
        return Err("hint body checksum mismatch".into());
    }
    // Every record must parse, lie inside the data file and follow the previous one.
    let max_records = (bytes.len() - HINT_HEADER_LEN) / RECORD_FIXED_LEN;
    if count as usize > max_records {
        return Err(format!("hint declares {count} records, room for {max_records}"));
    }
    let mut r = Reader::new(&bytes[HINT_HEADER_LEN..]);
    let mut next_free = FILE_HEADER_LEN as u64;
    for _ in 0..count {
        let rec = parse_record(&mut r)?;
        let start = u64::from(rec.offset);
        let end =
            start + entry_len(rec.entry.header.key_len as usize, rec.entry.header.value_len as usize) as u64;
        if start < next_free || end > data_len {
            return Err(format!("hint record at offset {start} overlaps or leaves the data file"));
        }
        if !usable(&rec.entry) {
            return Err(format!("hint record at offset {start} disagrees with the catalog"));
        }
        next_free = end;
    }
    if r.position() != bytes.len() - HINT_HEADER_LEN {
        return Err("trailing bytes after the last hint record".into());
    }
    Ok(Hint { bytes, count })
}
