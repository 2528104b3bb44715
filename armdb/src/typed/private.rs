//! Helpers for the code `#[derive(Tree)]` generates. Not a public API: names
//! and signatures change without notice.

pub use serde;

use super::index_value::{IndexBuf, IndexValue, encode_key};
use crate::{Key, Prefix};

/// The record's field as an index value; a type error here points at the field.
pub fn index_value<T: IndexValue>(value: &T) -> &dyn IndexValue {
    value
}

/// The index encoding of a key struct: its key encoding.
pub fn encode_key_index<K: Key>(key: &K, out: &mut IndexBuf) {
    encode_key(key, out);
}

/// The keys whose encoding starts with `leading`, the encoded leading key fields.
pub fn prefix<K: Key>(leading: &[u8]) -> Prefix<K> {
    Prefix::from_leading(leading)
}

/// FNV-1a over `bytes`: the schema fingerprint of a record's shape.
pub const fn fingerprint(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}
