//! Entries read by recovery, held until their tree is opened and resolved so
//! that for every key only the entry with the highest seq remains.

use std::collections::HashMap;

use crate::log::{EntryRef, Loc};

#[derive(Clone, Copy, Debug)]
struct Rec {
    /// The key's first 8 bytes, big-endian (zero-padded): orders most pairs of
    /// keys without reaching into `keys`, which sorted order visits at random.
    prefix: u64,
    seq: u64,
    tombstone: bool,
    loc: Loc,
    key_off: usize,
    val_off: usize,
    val_len: u32,
}

/// One tree's entries from one shard.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    key_len: usize,
    keys: Vec<u8>,
    values: Vec<u8>,
    recs: Vec<Rec>,
}

/// A resolved, live entry.
#[derive(Debug)]
pub(crate) struct StagedEntry<'a> {
    /// The first 8 bytes of `key` as a big-endian number (zero-padded).
    pub prefix: u64,
    pub key: &'a [u8],
    pub loc: Loc,
    /// The value bytes, for trees that keep values in memory; empty otherwise.
    pub value: &'a [u8],
}

impl Staged {
    pub(crate) fn new(key_len: usize) -> Self {
        Self { key_len, ..Self::default() }
    }

    pub(crate) fn push(&mut self, entry: &EntryRef<'_>, loc: Loc, keep_value: bool) {
        debug_assert_eq!(entry.key.len(), self.key_len);
        let key_off = self.keys.len();
        self.keys.extend_from_slice(entry.key);
        let val_off = self.values.len();
        let val_len = match entry.value {
            Some(v) if keep_value => {
                self.values.extend_from_slice(v);
                v.len() as u32
            }
            _ => 0,
        };
        self.recs.push(Rec {
            prefix: key_prefix(entry.key),
            seq: entry.header.seq,
            tombstone: entry.header.tombstone,
            loc,
            key_off,
            val_off,
            val_len,
        });
    }

    /// Keeps, for every key, the entry with the highest seq, and drops keys whose
    /// winner is a tombstone. Leaves the entries in key order.
    pub(crate) fn resolve(&mut self) {
        let keys = &self.keys;
        let kl = self.key_len;
        let key = |r: &Rec| &keys[r.key_off..r.key_off + kl];
        self.recs.sort_unstable_by(|a, b| {
            a.prefix.cmp(&b.prefix).then_with(|| key(a).cmp(key(b))).then(b.seq.cmp(&a.seq))
        });
        self.recs.dedup_by(|later, first| later.prefix == first.prefix && key(later) == key(first));
        self.recs.retain(|r| !r.tombstone);
    }

    pub(crate) fn len(&self) -> usize {
        self.recs.len()
    }

    /// Moves every entry of `other` (same tree) into `self`.
    pub(crate) fn append(&mut self, other: Staged) {
        let key_base = self.keys.len();
        let val_base = self.values.len();
        self.keys.extend_from_slice(&other.keys);
        self.values.extend_from_slice(&other.values);
        self.recs.extend(other.recs.into_iter().map(|r| Rec {
            key_off: r.key_off + key_base,
            val_off: r.val_off + val_base,
            ..r
        }));
    }

    /// Adds the bytes of every live (resolved) entry to its file's total.
    pub(crate) fn add_live_bytes(&self, live: &mut HashMap<u32, u64>) {
        for r in &self.recs {
            *live.entry(r.loc.file).or_default() += u64::from(r.loc.len);
        }
    }

    fn key_of(&self, r: &Rec) -> &[u8] {
        &self.keys[r.key_off..r.key_off + self.key_len]
    }

    /// The position of `key` among the resolved entries.
    fn find(&self, key: &[u8]) -> Option<usize> {
        self.recs.binary_search_by(|r| self.key_of(r).cmp(key)).ok()
    }

    pub(crate) fn live_loc(&self, key: &[u8]) -> Option<Loc> {
        self.find(key).map(|i| self.recs[i].loc)
    }

    /// Compare-and-set of the location of `key`.
    pub(crate) fn relocate(&mut self, key: &[u8], from: Loc, to: Loc) -> bool {
        match self.find(key) {
            Some(i) if self.recs[i].loc == from => {
                self.recs[i].loc = to;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = StagedEntry<'_>> {
        self.recs.iter().map(|r| StagedEntry {
            prefix: r.prefix,
            key: &self.keys[r.key_off..r.key_off + self.key_len],
            loc: r.loc,
            value: &self.values[r.val_off..r.val_off + r.val_len as usize],
        })
    }
}

/// The first 8 bytes of `key` as a big-endian number, zero-padded: comparing
/// two prefixes orders their keys unless the prefixes are equal.
pub(crate) fn key_prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}
