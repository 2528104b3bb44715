//! Fixed-size, order-preserving keys.
//!
//! A key's encoding has a fixed length and sorts bytewise exactly as the key
//! sorts by `Ord`, so a prefix of the encoding is a contiguous range of keys.

mod prefix;
mod primitive;

pub use prefix::Prefix;

/// A fixed-size key whose encoded bytes sort in the same order as `Ord`.
///
/// Implemented for `u8..=u128` (big-endian), `i8..=i128` (big-endian with the
/// sign bit flipped), `bool`, `[u8; N]`, and by `#[derive(Tree)]` for key structs.
///
/// Implementations must keep three laws, which the engine relies on:
/// `decode(encode(k)) == k`; `a.cmp(&b)` equals the bytewise comparison of their
/// encodings; and `decode` accepts every byte string of length `LEN`.
pub trait Key: Copy + Ord + std::hash::Hash + Send + Sync + std::fmt::Debug + 'static {
    /// Encoded length in bytes (at most `limits::MAX_KEY_LEN`).
    const LEN: usize;
    /// Writes the encoding into `out`, whose length is `LEN`.
    fn encode(&self, out: &mut [u8]);
    /// Reads a key from `bytes`, whose length is `LEN`.
    fn decode(bytes: &[u8]) -> Self;
}

/// A key encoded on the stack.
pub(crate) struct KeyBytes {
    buf: [u8; crate::limits::MAX_KEY_LEN],
    len: usize,
}

impl KeyBytes {
    pub(crate) fn of<K: Key>(key: &K) -> Self {
        const { assert!(K::LEN <= crate::limits::MAX_KEY_LEN, "Key::LEN exceeds MAX_KEY_LEN") };
        let mut buf = [0u8; crate::limits::MAX_KEY_LEN];
        key.encode(&mut buf[..K::LEN]);
        Self { buf, len: K::LEN }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
