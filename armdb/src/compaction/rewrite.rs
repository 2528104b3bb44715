//! Rewriting the selected files of one shard.
//!
//! Order of steps (each one safe to crash after):
//! 1. copy every entry an index still points at, and every tombstone that may
//!    still shadow an older version, into new files (same seq, same bytes);
//! 2. fsync the new files, rename them into place, fsync the directory, and make
//!    them readable;
//! 3. under the shard lock, move each index entry that still points at its old
//!    place to its copy (compare-and-set: a concurrent write always wins);
//! 4. fsync every shard, so that whatever made an old entry dead is durable;
//! 5. list the old files in the MANIFEST, retire them from the file table and
//!    delete them (an open finishes deletions a crash interrupted), then clear
//!    the list. Readers that still hold an old file keep reading it; later
//!    lookups follow the index again.

use std::sync::Arc;

use super::CompactionReport;
use super::output::Outputs;
use crate::log::{
    DataFile, FILE_HEADER_LEN, FileKind, Loc, LogSet, RESERVED_TREE_ID, Scanner, Shard, Step, fsio, hint_path,
};
use crate::tree::registry::Registry;
use crate::{Error, Result};

/// Index moves applied per acquisition of the shard lock.
const RELOCATE_CHUNK: usize = 1024;

struct Moved {
    tree: u32,
    key: Vec<u8>,
    from: Loc,
    to: Loc,
}

pub(super) struct ShardPass<'a> {
    pub log: &'a LogSet,
    pub shard: &'a Shard,
    pub registry: &'a Registry,
    pub db_id: u64,
    pub max_file_size: u64,
}

impl ShardPass<'_> {
    pub(super) fn run(&self, victim_ids: &[u32], report: &mut CompactionReport) -> Result<()> {
        let files = self.shard.files();
        let victims: Vec<Arc<DataFile>> = victim_ids.iter().filter_map(|id| files.get(id).cloned()).collect();
        // An older version of a key can only be in a file that is not being rewritten.
        let others_min_seq = files
            .values()
            .filter(|f| !victim_ids.contains(&f.id))
            .map(|f| f.min_seq())
            .min()
            .unwrap_or(u64::MAX);
        drop(files);
        let mut out = Outputs::new(self.shard, self.db_id, self.max_file_size);
        let (copied, tombstones) = match self.copy(&victims, others_min_seq, &mut out, report) {
            Ok(copied) => copied,
            Err(e) => {
                out.abandon();
                return Err(e);
            }
        };
        let outputs = out.finish(&self.log.health)?;
        self.shard.publish_files(&outputs);
        // A kept tombstone is garbage the moment nothing older remains.
        for loc in tombstones {
            self.log.mark_dead(loc);
        }
        self.relocate(&copied, report);
        self.log.sync()?;
        // Listed in the MANIFEST, the old files are dead even if a crash stops
        // the deletions half way (a later file may hold a version one of them shadows).
        let ids: Vec<u32> = victims.iter().map(|f| f.id).collect();
        self.log.set_retiring(ids.iter().map(|&id| (self.shard.id, id)).collect())?;
        self.shard.retire_files(&ids);
        for f in &victims {
            let fs = &*self.shard.fs;
            fsio::remove_if_exists(fs, &f.path, "delete compacted file")?;
            fsio::remove_if_exists(fs, &hint_path(&self.shard.dir, f.id), "delete compacted file")?;
            report.bytes_before += f.written();
        }
        // Until this is durable the deleted files may come back after a crash;
        // only the MANIFEST's list still names them, so it must not change.
        fsio::sync_dir(&*self.shard.fs, &self.shard.dir).inspect_err(|e| self.log.health.poison(e))?;
        self.log.set_retiring(Vec::new())?;
        report.files_compacted += victims.len();
        report.files_written += outputs.len();
        report.bytes_after += outputs.iter().map(|f| f.written()).sum::<u64>();
        Ok(())
    }

    fn copy(
        &self,
        victims: &[Arc<DataFile>],
        others_min_seq: u64,
        out: &mut Outputs<'_>,
        report: &mut CompactionReport,
    ) -> Result<(Vec<Moved>, Vec<Loc>)> {
        let floor = self.log.retention_floor.load(std::sync::atomic::Ordering::Acquire);
        let trees = self.registry.snapshot();
        let mut moved = Vec::new();
        let mut tombstones = Vec::new();
        for src in victims {
            let mut scan = Scanner::new(
                src.handle(),
                &src.path,
                FILE_HEADER_LEN as u64,
                src.written(),
                src.kind == FileKind::Log,
            );
            loop {
                match scan.next()? {
                    Step::Entry { offset, entry } => {
                        let h = entry.header;
                        let from = Loc {
                            shard: self.shard.id,
                            file: src.id,
                            offset: offset as u32,
                            len: h.entry_len() as u32,
                        };
                        // Batch markers: every batch in a sealed file is whole (durable_seq).
                        if h.tree == RESERVED_TREE_ID {
                            continue;
                        }
                        let live = trees.get(&h.tree).and_then(|t| t.live_loc(entry.key));
                        if h.tombstone {
                            // Kept only while it may shadow an older version elsewhere,
                            // or a follower has not acknowledged it.
                            let shadowed = live.is_some();
                            if !shadowed && (others_min_seq < h.seq || h.seq > floor) {
                                tombstones.push(out.push(h.seq, h.tree, h.flags, entry.key, None)?);
                                report.tombstones_kept += 1;
                            } else {
                                report.tombstones_dropped += 1;
                            }
                        } else if live == Some(from) {
                            let to = out.push(h.seq, h.tree, h.flags, entry.key, entry.value)?;
                            moved.push(Moved { tree: h.tree, key: entry.key.to_vec(), from, to });
                        } else {
                            report.entries_dropped += 1;
                        }
                    }
                    Step::End => break,
                    // A sealed file scanned clean when it was sealed or recovered.
                    Step::Tail { offset, kind } | Step::Corrupt { offset, kind } => {
                        return Err(Error::corrupt(&src.path, offset, kind));
                    }
                }
            }
        }
        Ok((moved, tombstones))
    }

    fn relocate(&self, moved: &[Moved], report: &mut CompactionReport) {
        for chunk in moved.chunks(RELOCATE_CHUNK) {
            let _w = self.shard.lock();
            // Under a shard lock the registry cannot change (see `Registry`).
            let trees = self.registry.snapshot();
            for m in chunk {
                if trees.get(&m.tree).is_some_and(|t| t.relocate(&m.key, m.from, m.to)) {
                    report.entries_copied += 1;
                } else {
                    // A write won the race: the copy is garbage already.
                    self.log.mark_dead(m.to);
                    report.entries_dropped += 1;
                }
            }
        }
    }
}
