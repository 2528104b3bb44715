//! The files a compaction pass writes: created under temporary names, filled,
//! fsynced, then renamed into place, so a crash never leaves half an output.

use std::sync::Arc;

use crate::Result;
use crate::log::{DataFile, FILE_HEADER_LEN, FileHeader, FileKind, Health, Loc, Shard, encode_entry, fsio};

/// Bytes buffered before they are written to the output file.
const OUTPUT_BUFFER: usize = 1 << 20;

struct Current {
    file: Arc<DataFile>,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    start: u64,
}

impl Current {
    fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.file.append_at(self.start, &self.buf)?;
            self.start += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

pub(super) struct Outputs<'a> {
    shard: &'a Shard,
    db_id: u64,
    max_file_size: u64,
    current: Option<Current>,
    full: Vec<Arc<DataFile>>,
}

impl<'a> Outputs<'a> {
    pub(super) fn new(shard: &'a Shard, db_id: u64, max_file_size: u64) -> Self {
        Self { shard, db_id, max_file_size, current: None, full: Vec::new() }
    }

    /// Copies one entry (same seq, same bytes) and returns where it now lives.
    pub(super) fn push(
        &mut self,
        seq: u64,
        tree: u32,
        flags: u16,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Loc> {
        let len = crate::log::entry_len(key.len(), value.map_or(0, <[u8]>::len)) as u64;
        let roll = self
            .current
            .as_ref()
            .is_none_or(|c| c.end() + len > self.max_file_size && c.end() > FILE_HEADER_LEN as u64);
        if roll {
            self.roll()?;
        }
        let Some(c) = self.current.as_mut() else {
            return Err(crate::Error::InvalidArgument("compaction output was not created".into()));
        };
        let offset = c.end();
        encode_entry(&mut c.buf, seq, tree, flags, key, value);
        c.file.note_seq(seq);
        c.file.note_entries(1, key.len() as u64);
        if c.buf.len() >= OUTPUT_BUFFER {
            c.flush()?;
        }
        Ok(Loc { shard: self.shard.id, file: c.file.id, offset: offset as u32, len: len as u32 })
    }

    fn roll(&mut self) -> Result<()> {
        if let Some(mut c) = self.current.take() {
            c.flush()?;
            self.full.push(c.file);
        }
        let id = self.shard.allocate_file_id()?;
        let header =
            FileHeader { shard: self.shard.id, kind: FileKind::Compacted, file_id: id, db_id: self.db_id };
        let file = DataFile::create_temp(&*self.shard.fs, &self.shard.dir, header)?;
        self.current =
            Some(Current { file, buf: Vec::with_capacity(OUTPUT_BUFFER), start: FILE_HEADER_LEN as u64 });
        Ok(())
    }

    /// Flushes, fsyncs and renames every output into place; returns them.
    ///
    /// On failure no output stays behind: one already renamed into place but
    /// not in the file table would hold old versions of keys that no tombstone
    /// rule knows about, and bring them back at the next open. If even the
    /// clean-up fails, the database is poisoned so that nothing builds on it.
    pub(super) fn finish(mut self, health: &Health) -> Result<Vec<Arc<DataFile>>> {
        let fs = &*self.shard.fs;
        let mut published = Vec::with_capacity(self.full.len() + 1);
        let mut done = || -> Result<()> {
            if let Some(mut c) = self.current.take() {
                self.full.push(Arc::clone(&c.file));
                c.flush()?;
            }
            for f in &self.full {
                f.sync()?;
                published.push(f.publish(fs, &self.shard.dir)?);
            }
            if !published.is_empty() {
                fsio::sync_dir(fs, &self.shard.dir)?;
            }
            Ok(())
        };
        let Err(e) = done() else { return Ok(published) };
        let renamed: Vec<_> = published.iter().map(|f| f.path.clone()).collect();
        let temporary = self.full.iter().skip(published.len()).map(|f| f.path.clone());
        let cleaned = renamed
            .iter()
            .cloned()
            .chain(temporary)
            .try_for_each(|p| fsio::remove_if_exists(fs, &p, "remove a failed compaction output").map(drop))
            .and_then(|()| if renamed.is_empty() { Ok(()) } else { fsio::sync_dir(fs, &self.shard.dir) });
        if let Err(clean) = cleaned {
            tracing::error!(error = %clean, "cannot remove the outputs of a failed compaction");
            health.poison(&clean);
        }
        Err(e)
    }

    /// Removes the temporary files of a pass that failed.
    pub(super) fn abandon(mut self) {
        if let Some(c) = self.current.take() {
            self.full.push(c.file);
        }
        for f in &self.full {
            if let Err(e) = self.shard.fs.remove_file(&f.path) {
                tracing::warn!(path = %f.path.display(), error = %e, "cannot remove an abandoned compaction output");
            }
        }
    }
}
