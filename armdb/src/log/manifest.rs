//! The manifest: the facts fixed when a database is created, the seq up to
//! which everything is durable, and the batches recovery has dropped.
//! Replaced atomically whenever it changes.

use std::path::Path;

use super::codec::{Put, Reader};
use super::format::{FORMAT_VERSION, MANIFEST_FILE, MANIFEST_MAGIC, MAX_DROPPED_BATCHES};
use super::fsio;
use crate::error::CorruptionKind;
use crate::fs::FileSystem;
use crate::limits::MAX_SHARDS;
use crate::{Error, Result};

/// Fixed part of the manifest, before the dropped-batch list and the CRC.
const MANIFEST_FIXED_LEN: usize = 40;
/// Most files one compaction pass of one shard retires at once.
pub(crate) const MAX_RETIRING: usize = 1 << 16;
/// Largest manifest file.
const MANIFEST_MAX_LEN: usize = MANIFEST_FIXED_LEN + 8 * (MAX_DROPPED_BATCHES + MAX_RETIRING) + 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub shards: u16,
    pub db_id: u64,
    /// Every write with a seq up to this is durable in every shard, and every
    /// batch up to it is whole unless listed in `dropped_batches`. Seqs are never
    /// assigned at or below it again.
    pub durable_seq: u64,
    /// Seqs of batches that recovery found cut short and dropped; their parts
    /// stay dropped even below `durable_seq`. Sorted, no duplicates.
    pub dropped_batches: Vec<u64>,
    /// Data files (shard, file id) a compaction pass is deleting: once listed
    /// they are dead, and an open deletes any that a crash left behind.
    pub retiring: Vec<(u16, u32)>,
}

impl Manifest {
    pub(crate) fn new(shards: u16, db_id: u64) -> Self {
        Self { shards, db_id, durable_seq: 0, dropped_batches: Vec::new(), retiring: Vec::new() }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            MANIFEST_FIXED_LEN + 8 * (self.dropped_batches.len() + self.retiring.len()) + 4,
        );
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.put_u16(FORMAT_VERSION);
        out.put_u16(self.shards);
        out.put_u32(self.dropped_batches.len() as u32);
        out.put_u64(self.db_id);
        out.put_u64(self.durable_seq);
        out.put_u32(self.retiring.len() as u32);
        out.put_u32(0);
        for &seq in &self.dropped_batches {
            out.put_u64(seq);
        }
        for &(shard, file) in &self.retiring {
            out.put_u16(shard);
            out.put_u16(0);
            out.put_u32(file);
        }
        let crc = crc32fast::hash(&out);
        out.put_u32(crc);
        out
    }

    pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |what: String| Error::invalid(path, 0, what);
        if bytes.len() < MANIFEST_FIXED_LEN + 4 {
            return Err(Error::corrupt(
                path,
                0,
                CorruptionKind::Truncated {
                    needed: (MANIFEST_FIXED_LEN + 4) as u64,
                    available: bytes.len() as u64,
                },
            ));
        }
        let body = &bytes[..bytes.len() - 4];
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&bytes[bytes.len() - 4..]);
        let expected = u32::from_le_bytes(crc);
        let found = crc32fast::hash(body);
        if expected != found {
            return Err(Error::corrupt(
                path,
                body.len() as u64,
                CorruptionKind::ChecksumMismatch { expected, found },
            ));
        }
        let mut r = Reader::new(body);
        let short = |_| bad("short manifest".into());
        let magic: [u8; 8] = r.array().map_err(short)?;
        if magic != MANIFEST_MAGIC {
            return Err(bad(format!("bad manifest magic {magic:02x?}")));
        }
        let version = r.u16().map_err(short)?;
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "unsupported format version {version} (this build reads {FORMAT_VERSION})"
            )));
        }
        let shards = r.u16().map_err(short)?;
        if shards == 0 || shards as usize > MAX_SHARDS {
            return Err(bad(format!("shard count {shards} out of range")));
        }
        let dropped = r.u32().map_err(short)? as usize;
        let db_id = r.u64().map_err(short)?;
        let durable_seq = r.u64().map_err(short)?;
        if durable_seq > super::format::MAX_SEQ {
            return Err(bad(format!("durable seq {durable_seq} exceeds the largest seq")));
        }
        let retiring = r.u32().map_err(short)? as usize;
        if r.u32().map_err(short)? != 0 {
            return Err(bad("reserved manifest bytes are not zero".into()));
        }
        if dropped > MAX_DROPPED_BATCHES
            || retiring > MAX_RETIRING
            || body.len() != MANIFEST_FIXED_LEN + 8 * (dropped + retiring)
        {
            return Err(bad(format!(
                "manifest lists {dropped} dropped batches and {retiring} retiring files in {} bytes",
                body.len()
            )));
        }
        let dropped_batches = (0..dropped).map(|_| r.u64().map_err(short)).collect::<Result<Vec<u64>>>()?;
        let mut retiring_files = Vec::with_capacity(retiring);
        for _ in 0..retiring {
            let shard = r.u16().map_err(short)?;
            if r.u16().map_err(short)? != 0 || shard >= shards {
                return Err(bad(format!("retiring file names shard {shard} of {shards}")));
            }
            retiring_files.push((shard, r.u32().map_err(short)?));
        }
        if !dropped_batches.is_sorted_by(|a, b| a < b) {
            return Err(bad("dropped batches are not sorted".into()));
        }
        Ok(Self { shards, db_id, durable_seq, dropped_batches, retiring: retiring_files })
    }

    /// Loads the manifest of `dir`, or `None` for a directory without one.
    pub(crate) fn load(fs: &dyn FileSystem, dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(MANIFEST_FILE);
        match fsio::read_small(fs, &path, MANIFEST_MAX_LEN)? {
            Some(bytes) => Self::decode(&path, &bytes).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn store(&self, fs: &dyn FileSystem, dir: &Path) -> Result<()> {
        if self.dropped_batches.len() > MAX_DROPPED_BATCHES || self.retiring.len() > MAX_RETIRING {
            return Err(crate::Error::InvalidArgument(format!(
                "the manifest cannot list {} dropped batches and {} retiring files",
                self.dropped_batches.len(),
                self.retiring.len()
            )));
        }
        fsio::write_atomic(fs, dir, MANIFEST_FILE, &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_damage() {
        let m = Manifest {
            shards: 4,
            db_id: 99,
            durable_seq: 7,
            dropped_batches: vec![3, 5],
            retiring: vec![(2, 9)],
        };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(Path::new("M"), &bytes).expect("valid"), m);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x04;
            assert!(Manifest::decode(Path::new("M"), &bad).is_err(), "byte {i}");
        }
        for cut in 0..bytes.len() {
            assert!(Manifest::decode(Path::new("M"), &bytes[..cut]).is_err(), "cut {cut}");
        }
    }
}
