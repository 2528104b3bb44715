//! `IndexValue`: the types a secondary index can hold, and their encoding.

use std::fmt;

use smallvec::SmallVec;

use crate::Key;

/// Encoded index values up to this many bytes stay on the stack.
const INLINE: usize = 48;

/// A value of a secondary index (`#[index]`, `#[index(unique)]`).
///
/// Implemented for `str`, `String`, `Box<str>`, integers, `bool`, `char`,
/// `[u8; N]`, `[u8]`, `Vec<u8>`, the key structs `#[derive(Tree)]` generates,
/// and `Option` of any of those.
///
/// The encoding decides equality and order inside the index, so an
/// implementation must keep two laws: two values are equal exactly when their
/// encodings are, and encodings sort bytewise as the values sort. A type and
/// the types it borrows as (`String` and `str`) must encode alike.
///
/// # Examples
/// ```
/// use armdb::{IndexBuf, IndexValue};
///
/// #[derive(Debug)]
/// enum Plan { Free, Pro }
///
/// impl IndexValue for Plan {
///     fn encode_index(&self, out: &mut IndexBuf) {
///         out.push(match self { Plan::Free => 0, Plan::Pro => 1 });
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a secondary index value",
    label = "`#[index]` needs a type that implements `armdb::IndexValue`",
    note = "strings, integers, `bool`, `char`, byte arrays, `Vec<u8>` and `Option` of those are \
            index values; implement `armdb::IndexValue` for other types"
)]
pub trait IndexValue: fmt::Debug {
    /// Appends the value's encoding to `out`.
    fn encode_index(&self, out: &mut IndexBuf);

    /// Whether the value is null (`None`): null values are indexed, and found
    /// by `find_by`, but never conflict in a unique index.
    fn is_null(&self) -> bool {
        false
    }
}

/// The bytes of an encoded index value; short values stay on the stack.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IndexBuf(SmallVec<[u8; INLINE]>);

impl IndexBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one byte.
    pub fn push(&mut self, byte: u8) {
        self.0.push(byte);
    }

    /// Appends `bytes`.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// The encoding of `value`.
    pub(crate) fn of<V: IndexValue + ?Sized>(value: &V) -> Self {
        let mut buf = Self::new();
        value.encode_index(&mut buf);
        buf
    }
}

impl fmt::Debug for IndexBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexBuf({:02x?})", self.as_slice())
    }
}

/// Appends the order-preserving `Key` encoding of `key`.
pub(crate) fn encode_key<K: Key>(key: &K, out: &mut IndexBuf) {
    let bytes = crate::key::KeyBytes::of(key);
    out.extend_from_slice(bytes.as_slice());
}

macro_rules! via_key {
    ($($t:ty),*) => {$(
        impl IndexValue for $t {
            fn encode_index(&self, out: &mut IndexBuf) {
                encode_key(self, out);
            }
        }
    )*};
}

via_key!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, bool);

impl<const N: usize> IndexValue for [u8; N] {
    fn encode_index(&self, out: &mut IndexBuf) {
        out.extend_from_slice(self);
    }
}

impl IndexValue for char {
    fn encode_index(&self, out: &mut IndexBuf) {
        encode_key(&u32::from(*self), out);
    }
}

// UTF-8 bytes sort as the code points do, so the raw bytes keep `str`'s order.
impl IndexValue for str {
    fn encode_index(&self, out: &mut IndexBuf) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl IndexValue for String {
    fn encode_index(&self, out: &mut IndexBuf) {
        self.as_str().encode_index(out);
    }
}

impl IndexValue for Box<str> {
    fn encode_index(&self, out: &mut IndexBuf) {
        (**self).encode_index(out);
    }
}

impl IndexValue for [u8] {
    fn encode_index(&self, out: &mut IndexBuf) {
        out.extend_from_slice(self);
    }
}

impl IndexValue for Vec<u8> {
    fn encode_index(&self, out: &mut IndexBuf) {
        self.as_slice().encode_index(out);
    }
}

// `None` sorts first, as `Option`'s `Ord` says.
impl<T: IndexValue> IndexValue for Option<T> {
    fn encode_index(&self, out: &mut IndexBuf) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode_index(out);
            }
        }
    }

    fn is_null(&self) -> bool {
        self.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<V: IndexValue + ?Sized>(v: &V) -> Vec<u8> {
        IndexBuf::of(v).as_slice().to_vec()
    }

    #[test]
    fn encodings_sort_like_values() {
        let strings = ["", "a", "ab", "b", "z", "é", "世"];
        for w in strings.windows(2) {
            assert!(enc(w[0]) < enc(w[1]), "{w:?}");
        }
        let ints = [i64::MIN, -1, 0, 1, i64::MAX];
        for w in ints.windows(2) {
            assert!(enc(&w[0]) < enc(&w[1]), "{w:?}");
        }
        let opts = [None, Some(String::new()), Some("a".to_owned())];
        for w in opts.windows(2) {
            assert!(enc(&w[0]) < enc(&w[1]), "{w:?}");
        }
        assert_eq!(enc("x"), enc(&String::from("x")), "String and str encode alike");
        assert_eq!(enc(&b"xy"[..]), enc(&b"xy".to_vec()), "Vec<u8> and [u8] encode alike");
        assert!(None::<u8>.is_null() && !Some(1u8).is_null() && !"".is_null());
    }
}
