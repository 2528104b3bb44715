//! The catalog: tree name → tree id and shape, replaced atomically on change.

use std::path::Path;

use super::codec::{Put, Reader};
use super::format::{CATALOG_FILE, CATALOG_MAGIC, FORMAT_VERSION, RESERVED_TREE_ID};
use super::fsio;
use crate::error::CorruptionKind;
use crate::fs::FileSystem;
use crate::limits::{MAX_CATALOG_LEN, MAX_KEY_LEN, MAX_TREE_NAME_LEN, MAX_TREES, MAX_VALUE_LEN};
use crate::{Error, Result};

/// How a tree stores its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TreeKind {
    /// Fixed-size values held inline in the index.
    Const = 1,
    /// Variable values on disk; the index holds their location.
    Var = 2,
    /// Encoded records held decoded in memory.
    Typed = 3,
}

impl TreeKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Const),
            2 => Some(Self::Var),
            3 => Some(Self::Typed),
            _ => None,
        }
    }

    pub(crate) fn keeps_values_inline(self) -> bool {
        !matches!(self, Self::Var)
    }
}

/// One tree's shape: what every entry of the tree must agree with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TreeShape {
    pub kind: TreeKind,
    pub key_len: u16,
    /// Fixed value length of a const tree; 0 for other kinds.
    pub value_len: u32,
    /// Schema fingerprint of a typed tree; 0 for other kinds.
    pub fingerprint: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TreeDef {
    pub id: u32,
    pub name: String,
    pub shape: TreeShape,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Catalog {
    pub trees: Vec<TreeDef>,
}

impl Catalog {
    pub(crate) fn find(&self, name: &str) -> Option<&TreeDef> {
        self.trees.iter().find(|t| t.name == name)
    }

    /// The id the next new tree gets: ids are never reused.
    pub(crate) fn next_id(&self) -> u32 {
        self.trees.iter().map(|t| t.id).max().unwrap_or(RESERVED_TREE_ID) + 1
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&CATALOG_MAGIC);
        out.put_u16(FORMAT_VERSION);
        out.put_u16(0);
        out.put_u32(self.trees.len() as u32);
        for t in &self.trees {
            out.put_u32(t.id);
            out.put_u8(t.shape.kind as u8);
            out.put_u8(0);
            out.put_u16(t.shape.key_len);
            out.put_u32(t.shape.value_len);
            out.put_u64(t.shape.fingerprint);
            out.put_u16(t.name.len() as u16);
            out.extend_from_slice(t.name.as_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.put_u32(crc);
        out
    }

    pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let bad = |at: usize, what: String| Error::invalid(path, at as u64, what);
        let short = |e: super::codec::ShortRead| {
            Error::corrupt(
                path,
                bytes.len() as u64,
                CorruptionKind::Truncated { needed: e.needed as u64, available: e.available as u64 },
            )
        };
        if bytes.len() < 4 {
            return Err(bad(0, "catalog is shorter than its checksum".into()));
        }
        let body = &bytes[..bytes.len() - 4];
        let mut crc_bytes = [0u8; 4];
        crc_bytes.copy_from_slice(&bytes[bytes.len() - 4..]);
        let expected = u32::from_le_bytes(crc_bytes);
        let found = crc32fast::hash(body);
        if expected != found {
            return Err(Error::corrupt(
                path,
                body.len() as u64,
                CorruptionKind::ChecksumMismatch { expected, found },
            ));
        }
        let magic: [u8; 8] = r.array().map_err(short)?;
        if magic != CATALOG_MAGIC {
            return Err(bad(0, format!("bad catalog magic {magic:02x?}")));
        }
        let version = r.u16().map_err(short)?;
        if version != FORMAT_VERSION {
            return Err(bad(8, format!("unsupported catalog version {version}")));
        }
        r.u16().map_err(short)?;
        let count = r.u32().map_err(short)? as usize;
        if count > MAX_TREES {
            return Err(bad(12, format!("catalog declares {count} trees")));
        }
        // Never allocate what the file merely declares: each tree takes bytes.
        let mut trees: Vec<TreeDef> = Vec::with_capacity(count.min(body.len() / 8));
        for _ in 0..count {
            let at = r.position();
            let id = r.u32().map_err(short)?;
            let kind = r.u8().map_err(short)?;
            let kind = TreeKind::from_u8(kind).ok_or_else(|| bad(at, format!("unknown tree kind {kind}")))?;
            r.u8().map_err(short)?;
            let key_len = r.u16().map_err(short)?;
            let value_len = r.u32().map_err(short)?;
            let fingerprint = r.u64().map_err(short)?;
            let name_len = r.u16().map_err(short)? as usize;
            if name_len == 0 || name_len > MAX_TREE_NAME_LEN {
                return Err(bad(at, format!("tree name length {name_len} out of range")));
            }
            let name = std::str::from_utf8(r.bytes(name_len).map_err(short)?)
                .map_err(|_| bad(at, "tree name is not UTF-8".into()))?
                .to_owned();
            if id == RESERVED_TREE_ID || key_len == 0 || key_len as usize > MAX_KEY_LEN {
                return Err(bad(at, format!("tree {name:?} has id {id} and key length {key_len}")));
            }
            if value_len as usize > MAX_VALUE_LEN {
                return Err(bad(at, format!("tree {name:?} has value length {value_len}")));
            }
            if trees.iter().any(|t| t.id == id || t.name == name) {
                return Err(bad(at, format!("tree {name:?} (id {id}) appears twice")));
            }
            trees.push(TreeDef { id, name, shape: TreeShape { kind, key_len, value_len, fingerprint } });
        }
        if r.position() != body.len() {
            return Err(bad(r.position(), "trailing bytes after the last tree".into()));
        }
        Ok(Self { trees })
    }

    pub(crate) fn load(fs: &dyn FileSystem, dir: &Path) -> Result<Self> {
        let path = dir.join(CATALOG_FILE);
        match fsio::read_small(fs, &path, MAX_CATALOG_LEN)? {
            Some(bytes) => Self::decode(&path, &bytes),
            None => Ok(Self::default()),
        }
    }

    pub(crate) fn store(&self, fs: &dyn FileSystem, dir: &Path) -> Result<()> {
        fsio::write_atomic(fs, dir, CATALOG_FILE, &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_round_trips_and_rejects_every_flip() {
        let cat = Catalog {
            trees: vec![TreeDef {
                id: 1,
                name: "users".into(),
                shape: TreeShape { kind: TreeKind::Const, key_len: 8, value_len: 16, fingerprint: 0 },
            }],
        };
        let bytes = cat.encode();
        assert_eq!(Catalog::decode(Path::new("C"), &bytes).expect("valid"), cat);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            assert!(Catalog::decode(Path::new("C"), &bad).is_err(), "byte {i}");
        }
        for cut in 0..bytes.len() {
            assert!(Catalog::decode(Path::new("C"), &bytes[..cut]).is_err(), "cut {cut}");
        }
    }
}
