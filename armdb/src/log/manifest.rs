//! The manifest: the facts fixed when a database is created.

use std::path::Path;

use super::codec::{Put, Reader};
use super::format::{FORMAT_VERSION, MANIFEST_FILE, MANIFEST_LEN, MANIFEST_MAGIC};
use super::fsio;
use crate::error::CorruptionKind;
use crate::limits::MAX_SHARDS;
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub shards: u16,
    pub db_id: u64,
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MANIFEST_LEN);
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.put_u16(FORMAT_VERSION);
        out.put_u16(self.shards);
        out.put_u32(0);
        out.put_u64(self.db_id);
        let crc = crc32fast::hash(&out);
        out.put_u32(crc);
        out.put_u32(0);
        out
    }

    pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |what: String| Error::invalid(path, 0, what);
        if bytes.len() != MANIFEST_LEN {
            return Err(Error::corrupt(
                path,
                0,
                CorruptionKind::Truncated { needed: MANIFEST_LEN as u64, available: bytes.len() as u64 },
            ));
        }
        let mut r = Reader::new(bytes);
        let short = |_| bad("short manifest".into());
        let magic: [u8; 8] = r.array().map_err(short)?;
        if magic != MANIFEST_MAGIC {
            return Err(bad(format!("bad manifest magic {magic:02x?}")));
        }
        let version = r.u16().map_err(short)?;
        let shards = r.u16().map_err(short)?;
        r.u32().map_err(short)?;
        let db_id = r.u64().map_err(short)?;
        let covered = r.position();
        let expected = r.u32().map_err(short)?;
        let found = crc32fast::hash(&bytes[..covered]);
        if expected != found {
            return Err(Error::corrupt(
                path,
                covered as u64,
                CorruptionKind::ChecksumMismatch { expected, found },
            ));
        }
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "unsupported format version {version} (this build reads {FORMAT_VERSION})"
            )));
        }
        if shards == 0 || shards as usize > MAX_SHARDS {
            return Err(bad(format!("shard count {shards} out of range")));
        }
        Ok(Self { shards, db_id })
    }

    /// Loads the manifest of `dir`, or `None` for a directory without one.
    pub(crate) fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(MANIFEST_FILE);
        match fsio::read_small(&path, MANIFEST_LEN)? {
            Some(bytes) => Self::decode(&path, &bytes).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn store(&self, dir: &Path) -> Result<()> {
        fsio::write_atomic(dir, MANIFEST_FILE, &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_damage() {
        let m = Manifest { shards: 4, db_id: 99 };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(Path::new("M"), &bytes).expect("valid"), m);
        for i in 0..28 {
            let mut bad = bytes.clone();
            bad[i] ^= 0x04;
            assert!(Manifest::decode(Path::new("M"), &bad).is_err(), "byte {i}");
        }
    }
}
