//! Walks a data file entry by entry and says precisely where and why it stops.
//!
//! The end of a log is defined here: a partial entry, zero padding or any bytes
//! that hold no valid entry up to the end of the file are a *tail*. A damaged
//! entry followed by a valid one is *corruption*. Only the caller knows whether a
//! tail may be truncated (it may in the last file of a shard).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::format::{ENTRY_ALIGN, ENTRY_HEADER_LEN, EntryError, EntryHeader, EntryRef, decode_entry};
use crate::error::CorruptionKind;
use crate::{Error, Result};

const CHUNK: usize = 1 << 20;

/// One step of a scan.
#[derive(Debug)]
pub(crate) enum Step<'a> {
    /// A valid entry at `offset`.
    Entry { offset: u64, entry: EntryRef<'a> },
    /// The file ends exactly after the last valid entry.
    End,
    /// No valid entry from `offset` to the end of the file.
    Tail { offset: u64, kind: CorruptionKind },
    /// A damaged entry at `offset`; the scan resumes at the next valid entry.
    Corrupt { offset: u64, kind: CorruptionKind },
}

/// Sequential reader over one data file with a bounded window buffer.
pub(crate) struct Scanner<'f> {
    file: &'f File,
    path: &'f Path,
    len: u64,
    buf: Vec<u8>,
    buf_off: u64,
    pos: u64,
}

impl<'f> Scanner<'f> {
    pub(crate) fn new(file: &'f File, path: &'f Path, start: u64, len: u64) -> Self {
        Self { file, path, len, buf: Vec::new(), buf_off: start, pos: start }
    }

    /// Makes `[at, at + n)` available in the buffer; `false` when the file ends first.
    fn fill(&mut self, at: u64, n: usize) -> Result<bool> {
        if at + n as u64 > self.len {
            return Ok(false);
        }
        let have = at >= self.buf_off && at + n as u64 <= self.buf_off + self.buf.len() as u64;
        if !have {
            let want = (n.max(CHUNK) as u64).min(self.len - at) as usize;
            self.buf.resize(want, 0);
            self.file
                .read_exact_at(&mut self.buf, at)
                .map_err(|e| Error::io("read during scan", self.path, e))?;
            self.buf_off = at;
        }
        Ok(true)
    }

    fn window(&self, at: u64) -> &[u8] {
        &self.buf[(at - self.buf_off) as usize..]
    }

    /// Checks for a complete, valid entry at `at` and returns its header.
    fn probe(&mut self, at: u64) -> Result<Result<EntryHeader, CorruptionKind>> {
        if !self.fill(at, ENTRY_HEADER_LEN)? {
            return Ok(Err(CorruptionKind::Truncated {
                needed: ENTRY_HEADER_LEN as u64,
                available: self.len - at,
            }));
        }
        let needed = match decode_entry(self.window(at)) {
            Ok(e) => return Ok(Ok(e.header)),
            Err(EntryError::Short { needed, .. }) => needed,
            Err(e) => return Ok(Err(kind_of(e))),
        };
        if !self.fill(at, needed)? {
            return Ok(Err(CorruptionKind::Truncated { needed: needed as u64, available: self.len - at }));
        }
        Ok(decode_entry(self.window(at)).map(|e| e.header).map_err(kind_of))
    }

    /// The offset of the first valid entry after `from`, if any.
    fn resync(&mut self, from: u64) -> Result<Option<u64>> {
        let mut at = from + ENTRY_ALIGN as u64;
        while at + ENTRY_HEADER_LEN as u64 <= self.len {
            if self.probe(at)?.is_ok() {
                return Ok(Some(at));
            }
            at += ENTRY_ALIGN as u64;
        }
        Ok(None)
    }

    pub(crate) fn next(&mut self) -> Result<Step<'_>> {
        let at = self.pos;
        if at == self.len {
            return Ok(Step::End);
        }
        match self.probe(at)? {
            Ok(header) => {
                self.pos = at + header.entry_len() as u64;
                Ok(Step::Entry { offset: at, entry: EntryRef::split(header, self.window(at)) })
            }
            Err(kind) => match self.resync(at)? {
                Some(resume) => {
                    self.pos = resume;
                    Ok(Step::Corrupt { offset: at, kind })
                }
                None => {
                    self.pos = self.len;
                    Ok(Step::Tail { offset: at, kind })
                }
            },
        }
    }
}

fn kind_of(e: EntryError) -> CorruptionKind {
    match e {
        EntryError::Invalid(what) => CorruptionKind::Invalid(what),
        EntryError::Short { needed, available } => {
            CorruptionKind::Truncated { needed: needed as u64, available: available as u64 }
        }
        EntryError::Checksum { expected, found } => CorruptionKind::ChecksumMismatch { expected, found },
    }
}
