//! Pins the byte layouts and the shard hash to the examples in `docs/format.md`:
//! a change to any of them is a format change and must fail here first.

use super::catalog::{Catalog, TreeDef, TreeKind, TreeShape};
use super::format::{FileHeader, FileKind, encode_entry};
use super::manifest::Manifest;
use super::set::shard_of;
use crate::Key;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn enc<K: Key>(k: K) -> Vec<u8> {
    let mut out = vec![0; K::LEN];
    k.encode(&mut out);
    out
}

#[test]
fn shard_hash_vectors() {
    let cases: [(u32, Vec<u8>, usize, usize); 4] = [
        (1, enc(5u64), 0, 4),
        (1, enc(-3i64), 2, 10),
        (2, b"doc00001".to_vec(), 3, 3),
        (7, b"key1".to_vec(), 2, 2),
    ];
    for (tree, key, of4, of16) in cases {
        assert_eq!(shard_of(tree, &key, 4), of4, "tree {tree} key {key:02x?}");
        assert_eq!(shard_of(tree, &key, 16), of16, "tree {tree} key {key:02x?}");
    }
}

#[test]
fn entry_bytes() {
    let mut put = Vec::new();
    encode_entry(&mut put, 42, 7, 0, b"key1", Some(b"value"));
    assert_eq!(
        put,
        hex("2a00000000000000 0700000004000000 05000000d14bb7cd 2a33484c6b657931 76616c7565000000")
    );
    let mut tomb = Vec::new();
    encode_entry(&mut tomb, 43, 7, 0, b"key1", None);
    assert_eq!(tomb, hex("2b00000000000080 0700000004000000 0000000050645c2c cbbb72336b657931"));
}

#[test]
fn file_header_manifest_catalog_bytes() {
    let h = FileHeader { shard: 3, kind: FileKind::Log, file_id: 17, db_id: 0xDEAD_BEEF };
    assert_eq!(
        h.encode().to_vec(),
        hex("41524d44424c4f47 0100030000000000 1100000000000000 efbeadde00000000 ad0e41b700000000")
    );
    let m = Manifest::new(4, 99);
    assert_eq!(
        m.encode(),
        hex("41524d44424d414e 0100040000000000 6300000000000000 0000000000000000 0000000000000000 279dc736")
    );
    let c = Catalog {
        trees: vec![TreeDef {
            id: 1,
            name: "users".into(),
            shape: TreeShape { kind: TreeKind::Const, key_len: 8, value_len: 16, fingerprint: 0 },
        }],
    };
    assert_eq!(
        c.encode(),
        hex(
            "41524d4442434154 0100000001000000 0100000001000800 1000000000000000 0000000005007573 6572739f694974"
        )
    );
}
