//! Prefix scans over the leading bytes of a key.

use std::ops::{Bound, RangeBounds};

use super::Key;
use crate::limits::MAX_KEY_LEN;
use crate::{Error, Result};

/// The contiguous range of keys whose encodings start with the same bytes.
///
/// Built from raw bytes with [`Prefix::from_bytes`], or by the `prefix_<fields>`
/// constructors that `#[derive(Tree)]` generates for composite keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix<K> {
    lo: K,
    hi: K,
}

impl<K: Key> Prefix<K> {
    /// The keys whose encoding starts with `prefix`.
    ///
    /// # Errors
    /// `Error::InvalidArgument` when `prefix` is longer than `K::LEN`.
    pub fn from_bytes(prefix: &[u8]) -> Result<Self> {
        if prefix.len() > K::LEN {
            return Err(Error::InvalidArgument(format!(
                "prefix of {} bytes is longer than the {}-byte key",
                prefix.len(),
                K::LEN
            )));
        }
        Ok(Self::from_leading(prefix))
    }

    /// The keys whose encoding starts with `leading`; bytes beyond `K::LEN` are
    /// ignored. Used by the `prefix_<fields>` constructors, whose `leading` is
    /// always shorter than the key.
    pub(crate) fn from_leading(leading: &[u8]) -> Self {
        const { assert!(K::LEN <= MAX_KEY_LEN, "Key::LEN exceeds MAX_KEY_LEN") };
        let n = leading.len().min(K::LEN);
        let mut lo = [0u8; MAX_KEY_LEN];
        let mut hi = [0xFFu8; MAX_KEY_LEN];
        lo[..n].copy_from_slice(&leading[..n]);
        hi[..n].copy_from_slice(&leading[..n]);
        Self { lo: K::decode(&lo[..K::LEN]), hi: K::decode(&hi[..K::LEN]) }
    }

    /// The smallest key with this prefix.
    pub fn start(&self) -> K {
        self.lo
    }

    /// The largest key with this prefix.
    pub fn end(&self) -> K {
        self.hi
    }
}

impl<K: Key> RangeBounds<K> for Prefix<K> {
    fn start_bound(&self) -> Bound<&K> {
        Bound::Included(&self.lo)
    }
    fn end_bound(&self) -> Bound<&K> {
        Bound::Included(&self.hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds_cover_exactly_the_prefix() {
        let p = Prefix::<u32>::from_bytes(&[0x12, 0x34]).expect("valid prefix");
        assert_eq!(p.start(), 0x1234_0000);
        assert_eq!(p.end(), 0x1234_FFFF);
        assert!(Prefix::<u16>::from_bytes(&[1, 2, 3]).is_err());
    }
}
