//! `Key` for integers, `bool` and byte arrays.

use super::Key;

macro_rules! unsigned_key {
    ($($t:ty),*) => {$(
        impl Key for $t {
            const LEN: usize = std::mem::size_of::<$t>();
            fn encode(&self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_be_bytes());
            }
            fn decode(bytes: &[u8]) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$t>()];
                raw.copy_from_slice(bytes);
                <$t>::from_be_bytes(raw)
            }
        }
    )*};
}

macro_rules! signed_key {
    ($($t:ty => $u:ty),*) => {$(
        impl Key for $t {
            const LEN: usize = std::mem::size_of::<$t>();
            fn encode(&self, out: &mut [u8]) {
                // Flipping the sign bit maps MIN..=MAX onto 0..=MAX unsigned, in order.
                let flipped = (*self as $u) ^ (1 << (<$u>::BITS - 1));
                out.copy_from_slice(&flipped.to_be_bytes());
            }
            fn decode(bytes: &[u8]) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$t>()];
                raw.copy_from_slice(bytes);
                (<$u>::from_be_bytes(raw) ^ (1 << (<$u>::BITS - 1))) as $t
            }
        }
    )*};
}

unsigned_key!(u8, u16, u32, u64, u128);
signed_key!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128);

impl Key for bool {
    const LEN: usize = 1;
    fn encode(&self, out: &mut [u8]) {
        out[0] = u8::from(*self);
    }
    fn decode(bytes: &[u8]) -> Self {
        // Every nonzero byte decodes as `true`, so `decode` is total and monotone.
        bytes[0] != 0
    }
}

impl<const N: usize> Key for [u8; N] {
    const LEN: usize = N;
    fn encode(&self, out: &mut [u8]) {
        out.copy_from_slice(self);
    }
    fn decode(bytes: &[u8]) -> Self {
        let mut raw = [0u8; N];
        raw.copy_from_slice(bytes);
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<K: Key>(k: K) -> Vec<u8> {
        let mut out = vec![0; K::LEN];
        k.encode(&mut out);
        out
    }

    fn check_order<K: Key>(mut keys: Vec<K>) {
        keys.sort();
        for pair in keys.windows(2) {
            assert!(enc(pair[0]) <= enc(pair[1]), "{:?} vs {:?}", pair[0], pair[1]);
            assert_eq!(K::decode(&enc(pair[0])), pair[0]);
        }
    }

    #[test]
    fn signed_order_matches_bytes() {
        check_order(vec![i64::MIN, -5, -1, 0, 1, 7, i64::MAX]);
        check_order(vec![i8::MIN, -1, 0, 1, i8::MAX]);
        check_order(vec![i128::MIN, -1, 0, i128::MAX]);
    }

    #[test]
    fn unsigned_and_arrays_order_matches_bytes() {
        check_order(vec![0u32, 1, 255, 256, u32::MAX]);
        check_order(vec![[0u8, 9], [1, 0], [1, 1], [255, 0]]);
        check_order(vec![false, true]);
    }
}
