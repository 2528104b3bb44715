//! Walks a data file entry by entry and says precisely where and why it stops.
//!
//! The end of a log is defined here. An entry whose header is intact (its own
//! CRC matches) is trusted for its length: if it runs past the end of the file,
//! or its payload is damaged and nothing valid follows it, the log ends at that
//! entry (a *tail*). Damage followed by a valid entry is *corruption*. After a
//! damaged header, the scan looks for the next valid entry at every 8-byte step;
//! in a log file, a candidate must also continue the seqs (never go below the
//! last one: the entries of a batch share one seq). Only the
//! caller knows whether a tail may be truncated (in the last file of a shard).

use std::path::Path;

use super::format::{ENTRY_ALIGN, ENTRY_HEADER_LEN, EntryError, EntryHeader, EntryRef};
use crate::error::CorruptionKind;
use crate::fs::FsFile;
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
    file: &'f dyn FsFile,
    path: &'f Path,
    len: u64,
    buf: Vec<u8>,
    buf_off: u64,
    pos: u64,
    /// Seqs increase through the file (a log file, not a compaction output).
    seq_ordered: bool,
    /// Highest seq of a valid entry so far.
    last_seq: u64,
}

impl<'f> Scanner<'f> {
    pub(crate) fn new(file: &'f dyn FsFile, path: &'f Path, start: u64, len: u64, seq_ordered: bool) -> Self {
        Self { file, path, len, buf: Vec::new(), buf_off: start, pos: start, seq_ordered, last_seq: 0 }
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

    /// Reads the entry at `at`: `Ok` with its header when the whole entry is valid.
    fn read(&mut self, at: u64) -> Result<Result<EntryHeader, EntryError>> {
        if !self.fill(at, ENTRY_HEADER_LEN)? {
            return Ok(Err(EntryError::Short {
                needed: ENTRY_HEADER_LEN,
                available: (self.len - at) as usize,
            }));
        }
        let head = self.window(at).first_chunk::<ENTRY_HEADER_LEN>().copied();
        let Some(head) = head else {
            return Ok(Err(EntryError::Short { needed: ENTRY_HEADER_LEN, available: 0 }));
        };
        let header = match EntryHeader::decode(&head) {
            Ok(h) => h,
            Err(e) => return Ok(Err(e)),
        };
        let needed = header.entry_len();
        if !self.fill(at, needed)? {
            return Ok(Err(EntryError::Short { needed, available: (self.len - at) as usize }));
        }
        Ok(header.verify_payload(self.window(at)).map(|()| header))
    }

    /// The offset of the first valid entry at or after `from` that continues the
    /// file's seqs, if any.
    fn resync(&mut self, from: u64) -> Result<Option<u64>> {
        let mut at = from;
        while at + ENTRY_HEADER_LEN as u64 <= self.len {
            if let Ok(h) = self.read(at)?
                && (!self.seq_ordered || h.seq >= self.last_seq)
            {
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
        let (kind, resume_from) = match self.read(at)? {
            Ok(header) => {
                self.pos = at + header.entry_len() as u64;
                self.last_seq = self.last_seq.max(header.seq);
                return Ok(Step::Entry { offset: at, entry: EntryRef::split(header, self.window(at)) });
            }
            // A trusted header that runs past the end: the write of this entry was cut.
            Err(e @ EntryError::Short { .. }) => {
                self.pos = self.len;
                return Ok(Step::Tail { offset: at, kind: e.kind() });
            }
            // A trusted header with a damaged payload: skip exactly this entry.
            Err(e @ EntryError::PayloadChecksum { .. }) => {
                let n = self.read_header_len(at)?;
                (e.kind(), at + n)
            }
            // Nothing in the header can be trusted.
            Err(e @ (EntryError::HeaderChecksum { .. } | EntryError::Invalid(_))) => {
                (e.kind(), at + ENTRY_ALIGN as u64)
            }
        };
        match self.resync(resume_from)? {
            Some(resume) => {
                self.pos = resume;
                Ok(Step::Corrupt { offset: at, kind })
            }
            None => {
                self.pos = self.len;
                Ok(Step::Tail { offset: at, kind })
            }
        }
    }

    /// The entry length declared by the (intact) header at `at`.
    fn read_header_len(&mut self, at: u64) -> Result<u64> {
        let head = if self.fill(at, ENTRY_HEADER_LEN)? {
            self.window(at).first_chunk::<ENTRY_HEADER_LEN>().copied()
        } else {
            None
        };
        Ok(head
            .and_then(|h| EntryHeader::decode(&h).ok())
            .map_or(ENTRY_ALIGN as u64, |h| h.entry_len() as u64))
    }
}
