//! Every on-disk constant, and the data file header and entry header with their
//! encoders and decoders side by side. `docs/format.md` is the specification.

use super::codec::{Put, Reader};
use crate::error::CorruptionKind;
use crate::limits::{MAX_KEY_LEN, MAX_VALUE_LEN};

/// Version of the data file, manifest and catalog formats.
pub(crate) const FORMAT_VERSION: u16 = 1;

pub(crate) const LOG_MAGIC: [u8; 8] = *b"ARMDBLOG";
pub(crate) const MANIFEST_MAGIC: [u8; 8] = *b"ARMDBMAN";
pub(crate) const CATALOG_MAGIC: [u8; 8] = *b"ARMDBCAT";
pub(crate) const HINT_MAGIC: [u8; 8] = *b"ARMDBHNT";

pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
/// Most batch seqs the manifest lists as dropped.
pub(crate) const MAX_DROPPED_BATCHES: usize = 1 << 16;
pub(crate) const CATALOG_FILE: &str = "CATALOG";
pub(crate) const LOCK_FILE: &str = "LOCK";
/// Suffix of a file being written before it atomically replaces its target.
pub(crate) const TMP_SUFFIX: &str = ".tmp";
pub(crate) const LOG_SUFFIX: &str = ".log";
pub(crate) const HINT_SUFFIX: &str = ".hint";

/// Seed of the shard hash (xxh3-64). Never changes: it places keys on disk.
pub(crate) const SHARD_HASH_SEED: u64 = 0;

pub(crate) fn shard_dir_name(shard: u16) -> String {
    format!("shard-{shard:03}")
}

pub(crate) fn log_file_name(file_id: u32) -> String {
    format!("{file_id:010}{LOG_SUFFIX}")
}

/// Parses a data file name back into its id.
pub(crate) fn parse_log_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(LOG_SUFFIX)?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// All entries start at multiples of this.
pub(crate) const ENTRY_ALIGN: usize = 8;

pub(crate) const fn align_up(n: usize) -> usize {
    (n + ENTRY_ALIGN - 1) & !(ENTRY_ALIGN - 1)
}

// ---------------------------------------------------------------------------
// Data file header

pub(crate) const FILE_HEADER_LEN: usize = 40;

/// What wrote a data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// Appended to by the write path; sequence numbers increase through the file.
    Log = 0,
    /// Written by compaction; holds older entries under their original seqs.
    Compacted = 1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileHeader {
    pub shard: u16,
    pub kind: FileKind,
    pub file_id: u32,
    pub db_id: u64,
}

impl FileHeader {
    pub(crate) fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut out = Vec::with_capacity(FILE_HEADER_LEN);
        out.extend_from_slice(&LOG_MAGIC);
        out.put_u16(FORMAT_VERSION);
        out.put_u16(self.shard);
        out.put_u8(self.kind as u8);
        out.extend_from_slice(&[0; 3]);
        out.put_u32(self.file_id);
        out.put_u32(0);
        out.put_u64(self.db_id);
        let crc = crc32fast::hash(&out);
        out.put_u32(crc);
        out.put_u32(0);
        let mut fixed = [0u8; FILE_HEADER_LEN];
        fixed.copy_from_slice(&out);
        fixed
    }

    /// Decodes and validates a header; the error says which field is wrong.
    pub(crate) fn decode(bytes: &[u8; FILE_HEADER_LEN]) -> Result<Self, String> {
        let mut r = Reader::new(bytes);
        let field = |_| "short header".to_string();
        let magic: [u8; 8] = r.array().map_err(field)?;
        if magic != LOG_MAGIC {
            return Err(format!("bad data file magic {magic:02x?}"));
        }
        let version = r.u16().map_err(field)?;
        if version != FORMAT_VERSION {
            return Err(format!(
                "unsupported data file format version {version} (this build reads {FORMAT_VERSION})"
            ));
        }
        let shard = r.u16().map_err(field)?;
        let kind = match r.u8().map_err(field)? {
            0 => FileKind::Log,
            1 => FileKind::Compacted,
            other => return Err(format!("unknown data file kind {other}")),
        };
        r.bytes(3).map_err(field)?;
        let file_id = r.u32().map_err(field)?;
        r.u32().map_err(field)?;
        let db_id = r.u64().map_err(field)?;
        let covered = r.position();
        let stored = r.u32().map_err(field)?;
        let computed = crc32fast::hash(&bytes[..covered]);
        if stored != computed {
            return Err(format!(
                "data file header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ));
        }
        Ok(Self { shard, kind, file_id, db_id })
    }
}

// ---------------------------------------------------------------------------
// Entry header

/// Bytes of the entry header. Its own CRC makes its lengths trustworthy on their
/// own: a scan never has to guess where an entry with an intact header ends.
pub(crate) const ENTRY_HEADER_LEN: usize = 28;
/// Offset of the payload CRC (over key and value) in the entry header.
const PAYLOAD_CRC_OFFSET: usize = 20;
/// Offset of the header CRC (over the header bytes before it) in the entry header.
const HEADER_CRC_OFFSET: usize = 24;
/// Bit of the first word that marks a tombstone.
const TOMBSTONE_BIT: u64 = 1 << 63;
/// Largest sequence number: the top bit of the first word is the tombstone flag.
pub(crate) const MAX_SEQ: u64 = TOMBSTONE_BIT - 1;
/// Entry flag: the entry belongs to an atomic batch. Every entry of a batch, in
/// every shard, carries the batch's one seq.
pub(crate) const FLAG_BATCH: u16 = 1;
/// Entry flags known to this version; any other bit makes an entry invalid.
pub(crate) const KNOWN_ENTRY_FLAGS: u16 = FLAG_BATCH;
/// Tree id 0 is reserved for records of the engine itself: batch markers.
pub(crate) const RESERVED_TREE_ID: u32 = 0;
/// Key length of a batch marker (the batch seq, little-endian).
pub(crate) const MARKER_KEY_LEN: usize = 8;
/// Value length of a batch marker.
pub(crate) const MARKER_VALUE_LEN: usize = 8;

/// Closes one shard's part of a batch: written after the part's entries, in the
/// same file, under tree id 0 with `FLAG_BATCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchMarker {
    /// Entries of the batch in this shard (the marker not included).
    pub entries: u32,
    /// Shards the batch wrote to.
    pub shards: u16,
}

impl BatchMarker {
    pub(crate) fn encode(&self) -> [u8; MARKER_VALUE_LEN] {
        let mut out = Vec::with_capacity(MARKER_VALUE_LEN);
        out.put_u32(self.entries);
        out.put_u16(self.shards);
        out.put_u16(0);
        let mut fixed = [0u8; MARKER_VALUE_LEN];
        fixed.copy_from_slice(&out);
        fixed
    }

    pub(crate) fn decode(value: &[u8]) -> Result<Self, String> {
        let mut r = Reader::new(value);
        let short = |_| "short batch marker".to_string();
        let m = Self { entries: r.u32().map_err(short)?, shards: r.u16().map_err(short)? };
        if m.entries == 0 || m.shards == 0 || r.u16().map_err(short)? != 0 || r.position() != value.len() {
            return Err(format!("invalid batch marker {m:?}"));
        }
        Ok(m)
    }
}

/// The fixed header in front of every entry's key and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EntryHeader {
    pub seq: u64,
    pub tombstone: bool,
    pub tree: u32,
    pub key_len: u16,
    pub flags: u16,
    pub value_len: u32,
    pub payload_crc: u32,
}

impl EntryHeader {
    /// Total length of the entry on disk, padding included.
    pub(crate) fn entry_len(&self) -> usize {
        entry_len(self.key_len as usize, self.value_len as usize)
    }

    /// Parses a header, checks its CRC and every field that can be checked
    /// without the payload. An all-zero header is invalid (seqs start at 1).
    pub(crate) fn decode(bytes: &[u8; ENTRY_HEADER_LEN]) -> Result<Self, EntryError> {
        let mut r = Reader::new(bytes);
        let short = |_| EntryError::Invalid("short entry header".into());
        let word = r.u64().map_err(short)?;
        let header = Self {
            seq: word & !TOMBSTONE_BIT,
            tombstone: word & TOMBSTONE_BIT != 0,
            tree: r.u32().map_err(short)?,
            key_len: r.u16().map_err(short)?,
            flags: r.u16().map_err(short)?,
            value_len: r.u32().map_err(short)?,
            payload_crc: r.u32().map_err(short)?,
        };
        let expected = r.u32().map_err(short)?;
        let found = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
        if expected != found {
            return Err(EntryError::HeaderChecksum { expected, found });
        }
        let invalid = |what: String| Err(EntryError::Invalid(what));
        if header.seq == 0 {
            return invalid("entry sequence number is 0".into());
        }
        if header.tree == RESERVED_TREE_ID
            && !(header.flags & FLAG_BATCH != 0
                && !header.tombstone
                && header.key_len as usize == MARKER_KEY_LEN
                && header.value_len as usize == MARKER_VALUE_LEN)
        {
            return invalid("entry names the reserved tree id 0 but is not a batch marker".into());
        }
        if header.key_len == 0 || header.key_len as usize > MAX_KEY_LEN {
            return invalid(format!("entry key length {} out of range", header.key_len));
        }
        if header.value_len as usize > MAX_VALUE_LEN {
            return invalid(format!("entry value length {} out of range", header.value_len));
        }
        if header.tombstone && header.value_len != 0 {
            return invalid("tombstone entry carries a value".into());
        }
        if header.flags & !KNOWN_ENTRY_FLAGS != 0 {
            return invalid(format!("unknown entry flags {:#06x}", header.flags));
        }
        Ok(header)
    }

    /// Checks the payload CRC against the whole entry (`bytes` starts at the header).
    pub(crate) fn verify_payload(&self, bytes: &[u8]) -> Result<(), EntryError> {
        let payload_end = ENTRY_HEADER_LEN + self.key_len as usize + self.value_len as usize;
        let found = crc32fast::hash(&bytes[ENTRY_HEADER_LEN..payload_end]);
        if found == self.payload_crc {
            Ok(())
        } else {
            Err(EntryError::PayloadChecksum { expected: self.payload_crc, found })
        }
    }
}

/// Length on disk of an entry with this key and value length.
pub(crate) const fn entry_len(key_len: usize, value_len: usize) -> usize {
    align_up(ENTRY_HEADER_LEN + key_len + value_len)
}

/// Appends one entry (header, key, value, zero padding) to `out`.
/// `value == None` writes a tombstone.
pub(crate) fn encode_entry(
    out: &mut Vec<u8>,
    seq: u64,
    tree: u32,
    flags: u16,
    key: &[u8],
    value: Option<&[u8]>,
) {
    debug_assert!(seq != 0 && seq <= MAX_SEQ);
    debug_assert!(!key.is_empty() && key.len() <= MAX_KEY_LEN);
    let value_bytes = value.unwrap_or(&[]);
    debug_assert!(value_bytes.len() <= MAX_VALUE_LEN);
    let start = out.len();
    let word = if value.is_none() { seq | TOMBSTONE_BIT } else { seq };
    let payload_crc = {
        let mut h = crc32fast::Hasher::new();
        h.update(key);
        h.update(value_bytes);
        h.finalize()
    };
    out.put_u64(word);
    out.put_u32(tree);
    out.put_u16(key.len() as u16);
    out.put_u16(flags);
    out.put_u32(value_bytes.len() as u32);
    debug_assert_eq!(out.len() - start, PAYLOAD_CRC_OFFSET);
    out.put_u32(payload_crc);
    debug_assert_eq!(out.len() - start, HEADER_CRC_OFFSET);
    let header_crc = crc32fast::hash(&out[start..start + HEADER_CRC_OFFSET]);
    out.put_u32(header_crc);
    out.extend_from_slice(key);
    out.extend_from_slice(value_bytes);
    out.resize(start + entry_len(key.len(), value_bytes.len()), 0);
}

/// A validated entry borrowed from a buffer that starts at its header.
#[derive(Debug)]
pub(crate) struct EntryRef<'a> {
    pub header: EntryHeader,
    pub key: &'a [u8],
    /// `None` for a tombstone.
    pub value: Option<&'a [u8]>,
}

/// What is wrong with bytes that were expected to hold an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryError {
    /// The header's CRC does not match: none of its fields can be trusted.
    HeaderChecksum { expected: u32, found: u32 },
    /// The header's CRC matches but a field is impossible.
    Invalid(String),
    /// Fewer bytes than the (trusted) header declares.
    Short { needed: usize, available: usize },
    /// The header is intact; the key or value bytes are not.
    PayloadChecksum { expected: u32, found: u32 },
}

impl EntryError {
    /// The same fault as data for an `Error::Corruption`.
    pub(crate) fn kind(self) -> CorruptionKind {
        match self {
            Self::HeaderChecksum { expected, found } | Self::PayloadChecksum { expected, found } => {
                CorruptionKind::ChecksumMismatch { expected, found }
            }
            Self::Invalid(what) => CorruptionKind::Invalid(what),
            Self::Short { needed, available } => {
                CorruptionKind::Truncated { needed: needed as u64, available: available as u64 }
            }
        }
    }
}

/// Decodes and fully validates the entry at the start of `bytes`.
/// The one parser used by reads, recovery and (later) compaction and replication.
pub(crate) fn decode_entry(bytes: &[u8]) -> Result<EntryRef<'_>, EntryError> {
    let Some(head) = bytes.first_chunk::<ENTRY_HEADER_LEN>() else {
        return Err(EntryError::Short { needed: ENTRY_HEADER_LEN, available: bytes.len() });
    };
    let header = EntryHeader::decode(head)?;
    let needed = header.entry_len();
    if bytes.len() < needed {
        return Err(EntryError::Short { needed, available: bytes.len() });
    }
    header.verify_payload(bytes)?;
    Ok(EntryRef::split(header, bytes))
}

impl<'a> EntryRef<'a> {
    /// Splits an entry whose header was decoded and whose payload CRC was verified.
    pub(crate) fn split(header: EntryHeader, bytes: &'a [u8]) -> Self {
        let key_end = ENTRY_HEADER_LEN + header.key_len as usize;
        let key = &bytes[ENTRY_HEADER_LEN..key_end];
        let value = (!header.tombstone).then(|| &bytes[key_end..key_end + header.value_len as usize]);
        EntryRef { header, key, value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips_and_detects_flips() {
        let mut buf = Vec::new();
        encode_entry(&mut buf, 42, 7, 0, b"key1", Some(b"value"));
        assert_eq!(buf.len() % ENTRY_ALIGN, 0);
        let e = decode_entry(&buf).expect("valid entry");
        assert_eq!((e.header.seq, e.header.tree, e.key), (42, 7, &b"key1"[..]));
        assert_eq!(e.value, Some(&b"value"[..]));
        let payload_end = ENTRY_HEADER_LEN + 4 + 5;
        for i in 0..payload_end {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert!(decode_entry(&bad).is_err(), "flip at byte {i} went unnoticed");
        }
    }

    #[test]
    fn tombstone_and_zero_header() {
        let mut buf = Vec::new();
        encode_entry(&mut buf, 9, 1, 0, &[1, 2], None);
        let e = decode_entry(&buf).expect("valid tombstone");
        assert!(e.header.tombstone && e.value.is_none());
        assert!(matches!(decode_entry(&[0u8; 64]), Err(EntryError::HeaderChecksum { .. })));
    }

    #[test]
    fn little_endian_layout_is_fixed() {
        let mut buf = Vec::new();
        encode_entry(&mut buf, 0x0102, 3, 0, &[0xAA], Some(&[]));
        assert_eq!(&buf[..8], &[0x02, 0x01, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&buf[8..12], &[3, 0, 0, 0]);
        assert_eq!(&buf[12..14], &[1, 0]);
    }

    #[test]
    fn file_header_round_trips() {
        let h = FileHeader { shard: 3, kind: FileKind::Log, file_id: 17, db_id: 0xDEAD_BEEF };
        assert_eq!(FileHeader::decode(&h.encode()), Ok(h));
        let mut bad = h.encode();
        bad[16] ^= 1;
        assert!(FileHeader::decode(&bad).is_err());
    }

    #[test]
    fn log_file_names_parse() {
        assert_eq!(parse_log_file_name(&log_file_name(12)), Some(12));
        assert_eq!(parse_log_file_name("12.log"), None);
    }
}
