//! The data set: random 24-byte keys and self-checking 150-byte values.
//!
//! A value is 142 random bytes followed by the 8-byte xxh3 hash of its key and
//! those bytes, so any value read back can be checked without a lookup, and an
//! engine that returned another key's value, stale bytes or nothing at all would
//! fail the check. Everything is derived from one seed.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::Result;

/// Key length, as in redb's benchmark.
pub const KEY_LEN: usize = 24;
/// Value length, as in redb's benchmark.
pub const VALUE_LEN: usize = 150;
/// Random bytes at the start of a value; the rest is the check hash.
const RANDOM_LEN: usize = VALUE_LEN - 8;
/// Bytes of one key and its value: what a live pair weighs at least.
pub const PAIR_LEN: u64 = (KEY_LEN + VALUE_LEN) as u64;
/// The seed when none is given.
pub const DEFAULT_SEED: u64 = 0x00A8_DB0B_E0C4_2025;

/// A key.
pub type Key = [u8; KEY_LEN];
/// A value.
pub type Value = [u8; VALUE_LEN];

/// The value `key` has at `version`: every write of a key picks a new version.
pub fn value_for(key: &Key, version: u64) -> Value {
    let mut v = [0u8; VALUE_LEN];
    SmallRng::seed_from_u64(xxh3_64_with_seed(key, version)).fill_bytes(&mut v[..RANDOM_LEN]);
    let check = check_hash(key, &v[..RANDOM_LEN]);
    v[RANDOM_LEN..].copy_from_slice(&check.to_le_bytes());
    v
}

fn check_hash(key: &[u8], random: &[u8]) -> u64 {
    let mut buf = [0u8; KEY_LEN + RANDOM_LEN];
    buf[..key.len()].copy_from_slice(key);
    buf[key.len()..key.len() + random.len()].copy_from_slice(random);
    xxh3_64(&buf[..key.len() + random.len()])
}

/// Checks that `value` is a value written for `key`.
///
/// # Errors
/// A message naming the key when the length or the check hash is wrong.
pub fn verify(key: &[u8], value: &[u8]) -> Result<()> {
    let ok = key.len() == KEY_LEN
        && value.len() == VALUE_LEN
        && check_hash(key, &value[..RANDOM_LEN]).to_le_bytes() == value[RANDOM_LEN..];
    if ok {
        Ok(())
    } else {
        Err(format!("value check failed for key {} ({} value bytes)", hex(key), value.len()).into())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pairs every engine loads, and the random orders every engine reads in.
#[derive(Debug)]
pub struct DataSet {
    /// The keys, in generation order (which is random in key order).
    pub keys: Vec<Key>,
    /// `values[i]` is the value of `keys[i]`.
    pub values: Vec<Value>,
    /// A random permutation of `0..keys.len()`: the order of the reads.
    pub order: Vec<u32>,
    seed: u64,
}

impl DataSet {
    /// Generates `pairs` pairs from `seed`.
    pub fn generate(pairs: usize, seed: u64) -> Self {
        assert!(u32::try_from(pairs).is_ok(), "pair indexes are u32");
        let mut rng = SmallRng::seed_from_u64(seed);
        let keys: Vec<Key> = (0..pairs).map(|_| random_key(&mut rng)).collect();
        let values = keys.iter().map(|k| value_for(k, 0)).collect();
        let mut order: Vec<u32> = (0..pairs as u32).collect();
        order.shuffle(&mut rng);
        Self { keys, values, order, seed }
    }

    /// `n` new pairs for the write phase `stream`, disjoint (with overwhelming
    /// probability) from the data set and from every other stream.
    pub fn fresh(&self, stream: u64, n: usize) -> (Vec<Key>, Vec<Value>) {
        let mut rng = SmallRng::seed_from_u64(self.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let keys: Vec<Key> = (0..n).map(|_| random_key(&mut rng)).collect();
        let values = keys.iter().map(|k| value_for(k, 0)).collect();
        (keys, values)
    }

    /// A generator of random choices for `purpose`, the same in every engine's run.
    pub fn rng(&self, purpose: u64) -> SmallRng {
        SmallRng::seed_from_u64(self.seed.rotate_left(17) ^ purpose)
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The indexes of the keys the removals leave: the second half.
    pub fn survivors(&self) -> std::ops::Range<usize> {
        self.len() / 2..self.len()
    }
}

fn random_key(rng: &mut SmallRng) -> Key {
    let mut k = [0u8; KEY_LEN];
    rng.fill_bytes(&mut k);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_check_against_their_own_key_only() {
        let data = DataSet::generate(100, 7);
        for (k, v) in data.keys.iter().zip(&data.values) {
            verify(k, v).expect("own value");
        }
        assert!(verify(&data.keys[0], &data.values[1]).is_err());
        let mut torn = data.values[0];
        torn[3] ^= 1;
        assert!(verify(&data.keys[0], &torn).is_err());
        assert!(verify(&data.keys[0], &data.values[0][..100]).is_err());
    }

    #[test]
    fn generation_is_deterministic() {
        let a = DataSet::generate(50, 9);
        let b = DataSet::generate(50, 9);
        assert_eq!(a.keys, b.keys);
        assert_eq!(a.order, b.order);
        assert_eq!(a.fresh(1, 5).0, b.fresh(1, 5).0);
        assert_ne!(a.fresh(1, 5).0, a.fresh(2, 5).0);
    }
}
