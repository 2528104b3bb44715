//! Suite 6, a state-machine model test: random sequences of transitions run on a
//! database and on a model of `BTreeMap`s, and after every transition the
//! database must hold exactly what the model holds.
//!
//! The database has three trees: a `ConstTree<u16, 8>`, a `VarTree<[u8; 3]>`
//! and a `TypedTree<Item>` with a unique and a plain secondary index. The
//! transitions are puts, inserts, deletes, compare-and-swaps and updates on each
//! tree (a unique-index conflict must be refused and append nothing), range
//! queries with every bound type and prefix queries, both directions, atomic
//! batches over all three trees (refused whole on a unique conflict),
//! `Db::compact`, `flush`, `sync`, close and reopen (sometimes with another
//! keydir, cache, write buffer and shard count), drop without close and
//! reopen, and a crash: cut the power (or drop the handles first), keep what
//! was fsynced (`Loss::DropUnsynced`) or that and a random part of the unsynced
//! pages (`Loss::KeepRandomPages`), reopen; and a power cut at the n-th fsync
//! of a compaction or a `close`. The database runs on the
//! simulated file system (`armdb::fs::SimFs`) with 4 KiB files, so files rotate,
//! hints are written and read, and compaction rewrites files in every case.
//!
//! Each case draws its setup: durability `Sync`, `Flush` or `Buffered`, 1 to 3
//! shards, a small or large write buffer, with or without the value cache and
//! the keydir. Under `Sync` every acknowledged write survives a power cut, so a
//! crash leaves the model unchanged; under `Flush` and `Buffered` a crash is
//! preceded by `Db::sync`, so the model stays exact there too.
//!
//! After every transition it compares, with the model: every pair of each tree
//! in both directions, `len`, `first`, `last`, `get` and `contains` of every key
//! of the key domains, `find_by` on both secondary indexes for every value of
//! their domains in both directions, `get_by` on the unique index, and
//! `Stats::keys`. Every reopen must report no corrupt entry and no incomplete
//! batch, and a reopen after a clean close or a drop no truncated byte.
//!
//! Found by this suite: a reopened database did not fsync the shard directory
//! for files an earlier session had created, so acknowledged `Sync` writes and
//! synced data were lost in a power cut after a drop without close
//! (`tests/regression_reopen_dir_sync.rs`; fixed: shard directories are
//! fsynced at open).
//!
//! Not reachable from here: `Db::compact` rewrites every file holding a dead
//! byte, so the rule for dropping a tombstone while an older version lives in a
//! file outside the compacted set (PITFALLS 11) only matters for background
//! passes, which no public call starts deterministically.
//!
//! Pass criterion: every case passes, and over the whole run the transitions
//! reached what they are for — files rotated past the shard count, compaction
//! rewrote files, hints were read back at open, crashes, reopens, refused
//! writes and refused batches happened.
//!
//! Cases: `PROPTEST_CASES` if set, else 64 under CI (`CI=true`) and 128
//! otherwise; transitions per case: `ARMDB_OPS` if set, else 100 under CI and
//! 150 otherwise. The generator is seeded by `ARMDB_SEED` (printed). On a
//! failure proptest shrinks the case and the test prints the minimal failing
//! setup and sequence of transitions; reproduce it with
//! `ARMDB_SEED=<seed> cargo test --test model_state_machine`.

mod support;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use armdb::fs::{Loss, SimFs};
use armdb::{
    CompactionConfig, Config, ConstTree, Db, Durability, Error, Hints, Prefix, Record, TypedTree, VarTree,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, RngSeed, TestError, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use serde::{Deserialize, Serialize};

const DEFAULT_SEED: u64 = 0x00A4_DB00_57A7_0006;
/// Where the database lives on the simulated file system.
const ROOT: &str = "/db";
/// Tiny files: rotation, hints and compaction in every case (PITFALLS 29).
const MAX_FILE_SIZE: u64 = 4096;

const CONST_TREE: &str = "counters";
const VAR_TREE: &str = "blobs";

// ---------------------------------------------------------------------------
// Keys, values and records
// ---------------------------------------------------------------------------

type CVal = [u8; 8];
type VKey = [u8; 3];

/// Keys of the const tree: 40 keys, 8 under each of 5 leading bytes.
const CONST_KEYS: u8 = 40;

fn const_key(i: u8) -> u16 {
    (u16::from(i / 8) << 8) | (u16::from(i % 8) * 31)
}

/// Keys of the var tree: 3 * 4 * 4 = 48 keys; each byte takes few values so
/// that prefixes of every length select a handful of keys.
fn var_key(i: u8) -> VKey {
    const A: [u8; 3] = [0x00, 0x7f, 0xff];
    const B: [u8; 4] = [0x00, 0x40, 0x80, 0xc0];
    const C: [u8; 4] = [0x00, 0x01, 0x02, 0x80];
    let i = usize::from(i % 48);
    [A[i / 16], B[(i / 4) % 4], C[i % 4]]
}

/// A var tree value, kept small in the printed transitions: `len` bytes drawn
/// from `seed`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct VarVal {
    len: u16,
    seed: u32,
}

impl VarVal {
    fn bytes(self) -> Vec<u8> {
        let mut x = u64::from(self.seed) ^ 0x9E37_79B9_7F4A_7C15;
        (0..self.len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }
}

impl fmt::Debug for VarVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}B#{:x}", self.len, self.seed)
    }
}

/// A var tree value as compared: its length and checksum, so that a failure
/// prints a line, not kilobytes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Digest {
    len: usize,
    fnv: u64,
}

impl Digest {
    fn of(bytes: &[u8]) -> Self {
        Self { len: bytes.len(), fnv: support::fnv1a64(bytes) }
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}B:{:08x}", self.len, self.fnv >> 32)
    }
}

impl VarVal {
    fn digest(self) -> Digest {
        Digest::of(&self.bytes())
    }
}

/// Every pair of a var tree iterator, values as digests.
fn var_digests(
    items: impl Iterator<Item = armdb::Result<(VKey, armdb::Bytes)>>,
    what: &str,
) -> Vec<(VKey, Digest)> {
    items.map(|item| support::var_pair(item, what)).map(|(k, v)| (k, Digest::of(&v))).collect()
}

/// The typed tree's record: a composite key with a signed part, a unique
/// optional code (few values, so conflicts are frequent) and a plain index.
#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "items")]
struct Item {
    #[key]
    group: u8,
    #[key]
    id: i16,
    #[index(unique)]
    code: Option<u16>,
    #[index]
    color: u8,
    body: String,
}

const GROUPS: u8 = 3;
const IDS: std::ops::RangeInclusive<i16> = -5..=5;
const CODES: u16 = 10;
const COLORS: u8 = 4;

fn item_keys() -> impl Iterator<Item = ItemKey> {
    (0..GROUPS).flat_map(|group| IDS.map(move |id| ItemKey { group, id }))
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Sync,
    Flush,
    Buffered,
}

/// What a case runs with; drawn once per case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Setup {
    mode: Mode,
    shards: usize,
    write_buffer: usize,
    value_cache: usize,
    keydir: bool,
}

impl Setup {
    fn config(self, sim: &SimFs) -> Config {
        Config {
            shards: self.shards,
            max_file_size: MAX_FILE_SIZE,
            write_buffer_size: self.write_buffer,
            durability: match self.mode {
                Mode::Sync => Durability::Sync,
                Mode::Flush => Durability::Flush,
                Mode::Buffered => Durability::Buffered { flush_every: Duration::from_millis(5) },
            },
            value_cache_bytes: self.value_cache,
            keydir: self.keydir,
            // Only `Db::compact` compacts: the runs stay deterministic.
            compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
            fs: Arc::new(sim.clone()),
            hints: Hints::Always,
            ..Config::default()
        }
    }
}

/// The reference state: what each tree must hold.
#[derive(Clone, Debug, PartialEq)]
struct Model {
    setup: Setup,
    consts: BTreeMap<u16, CVal>,
    vars: BTreeMap<VKey, VarVal>,
    items: BTreeMap<ItemKey, Item>,
}

/// What `cas` expects to find.
#[derive(Clone, Debug)]
enum Expect<T> {
    /// The current value (or absence): the cas writes.
    Current,
    /// Absence.
    Absent,
    /// This value.
    Value(T),
}

impl<T: Clone> Expect<T> {
    fn resolve(&self, current: Option<&T>) -> Option<T> {
        match self {
            Expect::Current => current.cloned(),
            Expect::Absent => None,
            Expect::Value(v) => Some(v.clone()),
        }
    }
}

/// One operation of a batch.
#[derive(Clone, Debug)]
enum BatchOp {
    CPut(u16, CVal),
    CDelete(u16),
    VPut(VKey, VarVal),
    VDelete(VKey),
    TPut(Item),
    TDelete(ItemKey),
}

/// Which key of which tree a batch operation is on: the last one per key wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum BatchKey {
    C(u16),
    V(VKey),
    T(ItemKey),
}

impl BatchOp {
    fn key(&self) -> BatchKey {
        match self {
            BatchOp::CPut(k, _) | BatchOp::CDelete(k) => BatchKey::C(*k),
            BatchOp::VPut(k, _) | BatchOp::VDelete(k) => BatchKey::V(*k),
            BatchOp::TPut(item) => BatchKey::T(item.key()),
            BatchOp::TDelete(k) => BatchKey::T(*k),
        }
    }
}

/// A transition.
#[derive(Clone, Debug)]
enum Op {
    CPut(u16, CVal),
    CInsert(u16, CVal),
    CDelete(u16),
    CCas {
        key: u16,
        expect: Expect<CVal>,
        new: Option<CVal>,
    },
    /// `update` as a counter: the new value's last byte is the old one's plus one.
    CUpdate {
        key: u16,
        new: Option<CVal>,
    },
    VPut(VKey, VarVal),
    VInsert(VKey, VarVal),
    VDelete(VKey),
    VCas {
        key: VKey,
        expect: Expect<VarVal>,
        new: Option<VarVal>,
    },
    VUpdate {
        key: VKey,
        new: Option<VarVal>,
    },
    TPut(Item),
    TInsert(Item),
    TDelete(ItemKey),
    TCas {
        key: ItemKey,
        expect: Expect<Item>,
        new: Option<Item>,
    },
    /// `update` that sets code and color of the current record (appending to
    /// its body), creates a record if there is none, or deletes (`None`).
    TUpdate {
        key: ItemKey,
        to: Option<(Option<u16>, u8)>,
    },
    CRange(Bound<u16>, Bound<u16>),
    CPrefix(Vec<u8>),
    VRange(Bound<VKey>, Bound<VKey>),
    VPrefix(Vec<u8>),
    TRange(Bound<ItemKey>, Bound<ItemKey>),
    TPrefix(u8),
    Batch(Vec<BatchOp>),
    Compact,
    Flush,
    Sync,
    /// `close`, then open again; with `retune`, with the keydir, the value
    /// cache and the write buffer switched, and another shard count asked for
    /// (the database keeps the one it was created with).
    Reopen {
        retune: bool,
    },
    /// Drop every handle without `close`, then open again.
    Abandon,
    /// `sync` first if asked (always, unless the mode is `Sync`); then either
    /// cut the power and drop the handles, or drop the handles and cut the
    /// power; restart keeping what was fsynced (and, with `pages`, a random
    /// part of the unsynced pages, drawn from that seed); open again.
    Crash {
        sync_first: bool,
        cut_first: bool,
        pages: Option<u64>,
    },
    /// `sync` first unless the mode is `Sync`; then arm a power cut at the
    /// `at_sync`-th fsync from now and run a compaction or a `close`, which the
    /// cut may interrupt; restart as for `Crash`; open again. The logical
    /// contents must not change.
    CutDuring {
        during: During,
        at_sync: u8,
        pages: Option<u64>,
    },
}

/// What a power cut interrupts.
#[derive(Clone, Copy, Debug)]
enum During {
    Compact,
    Close,
}

/// What a transition returns.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    /// Nothing to compare (queries compare in place; maintenance; a batch that committed).
    Done,
    /// A const tree's previous value (`put`, `delete`) or new value (`update`).
    Const(Option<CVal>),
    /// `insert`, `cas`, a var tree's `delete`.
    Flag(bool),
    /// A var tree's new value (`update`).
    Var(Option<Digest>),
    /// A typed tree's previous record (`put`, `delete`) or new record (`update`).
    Item(Option<Item>),
    /// `Error::UniqueViolation`: nothing written.
    Refused,
}

fn counter(new: Option<CVal>, current: Option<&CVal>) -> Option<CVal> {
    new.map(|mut v| {
        v[7] = current.map_or(0, |c| c[7].wrapping_add(1));
        v
    })
}

fn updated_item(key: ItemKey, current: Option<&Item>, to: Option<(Option<u16>, u8)>) -> Option<Item> {
    let (code, color) = to?;
    Some(match current {
        Some(cur) => {
            let mut body = cur.body.clone();
            body.truncate(60);
            body.push('u');
            Item { code, color, body, ..cur.clone() }
        }
        None => Item { group: key.group, id: key.id, code, color, body: "new".to_owned() },
    })
}

impl Model {
    /// Whether `code` is held by a record of another key than `key`.
    fn code_taken(&self, key: ItemKey, code: Option<u16>) -> bool {
        code.is_some() && self.items.iter().any(|(k, item)| *k != key && item.code == code)
    }

    /// Applies `op` and returns what the database must answer.
    fn step(&mut self, op: &Op) -> Outcome {
        match op {
            Op::CPut(k, v) => Outcome::Const(self.consts.insert(*k, *v)),
            Op::CInsert(k, v) => {
                let absent = !self.consts.contains_key(k);
                if absent {
                    self.consts.insert(*k, *v);
                }
                Outcome::Flag(absent)
            }
            Op::CDelete(k) => Outcome::Const(self.consts.remove(k)),
            Op::CCas { key, expect, new } => {
                let current = self.consts.get(key).copied();
                if expect.resolve(current.as_ref()) != current {
                    return Outcome::Flag(false);
                }
                set(&mut self.consts, *key, *new);
                Outcome::Flag(true)
            }
            Op::CUpdate { key, new } => {
                let new = counter(*new, self.consts.get(key));
                set(&mut self.consts, *key, new);
                Outcome::Const(new)
            }
            Op::VPut(k, v) => {
                self.vars.insert(*k, *v);
                Outcome::Done
            }
            Op::VInsert(k, v) => {
                let absent = !self.vars.contains_key(k);
                if absent {
                    self.vars.insert(*k, *v);
                }
                Outcome::Flag(absent)
            }
            Op::VDelete(k) => Outcome::Flag(self.vars.remove(k).is_some()),
            Op::VCas { key, expect, new } => {
                // The engine compares bytes: distinct `VarVal`s may be equal bytes.
                let current = self.vars.get(key).map(|v| v.bytes());
                if expect.resolve(self.vars.get(key)).map(VarVal::bytes) != current {
                    return Outcome::Flag(false);
                }
                set(&mut self.vars, *key, *new);
                Outcome::Flag(true)
            }
            Op::VUpdate { key, new } => {
                set(&mut self.vars, *key, *new);
                Outcome::Var(new.map(VarVal::digest))
            }
            Op::TPut(item) => {
                let key = item.key();
                if self.code_taken(key, item.code) {
                    return Outcome::Refused;
                }
                Outcome::Item(self.items.insert(key, item.clone()))
            }
            Op::TInsert(item) => {
                let key = item.key();
                if self.items.contains_key(&key) {
                    return Outcome::Flag(false);
                }
                if self.code_taken(key, item.code) {
                    return Outcome::Refused;
                }
                self.items.insert(key, item.clone());
                Outcome::Flag(true)
            }
            Op::TDelete(k) => Outcome::Item(self.items.remove(k)),
            Op::TCas { key, expect, new } => {
                let current = self.items.get(key).cloned();
                if expect.resolve(current.as_ref()) != current {
                    return Outcome::Flag(false);
                }
                if let Some(n) = new
                    && self.code_taken(*key, n.code)
                {
                    return Outcome::Refused;
                }
                set(&mut self.items, *key, new.clone());
                Outcome::Flag(true)
            }
            Op::TUpdate { key, to } => {
                let new = updated_item(*key, self.items.get(key), *to);
                if let Some(n) = &new
                    && self.code_taken(*key, n.code)
                {
                    return Outcome::Refused;
                }
                set(&mut self.items, *key, new.clone());
                Outcome::Item(new)
            }
            Op::Batch(ops) => self.batch(ops),
            Op::CRange(..)
            | Op::CPrefix(_)
            | Op::VRange(..)
            | Op::VPrefix(_)
            | Op::TRange(..)
            | Op::TPrefix(_)
            | Op::Compact
            | Op::Flush
            | Op::Sync
            | Op::Reopen { .. }
            | Op::Abandon
            | Op::Crash { .. }
            | Op::CutDuring { .. } => Outcome::Done,
        }
    }

    /// A batch keeps the last operation per key; each typed put claims the
    /// unique code its key does not hold yet, against the state before the
    /// batch (`docs/architecture.md` §3.2: every operation is prepared before
    /// any is applied). A code held by another key, or claimed by two puts,
    /// refuses the whole batch.
    fn batch(&mut self, ops: &[BatchOp]) -> Outcome {
        let mut last = BTreeMap::new();
        for (i, op) in ops.iter().enumerate() {
            last.insert(op.key(), i);
        }
        let kept: Vec<&BatchOp> =
            ops.iter().enumerate().filter(|(i, op)| last[&op.key()] == *i).map(|(_, op)| op).collect();
        let mut claimed = Vec::new();
        for op in &kept {
            if let BatchOp::TPut(item) = op {
                let key = item.key();
                let held = self.items.get(&key).and_then(|i| i.code);
                if item.code.is_some() && item.code != held {
                    if self.code_taken(key, item.code) || claimed.contains(&item.code) {
                        return Outcome::Refused;
                    }
                    claimed.push(item.code);
                }
            }
        }
        for op in kept {
            match op {
                BatchOp::CPut(k, v) => {
                    self.consts.insert(*k, *v);
                }
                BatchOp::CDelete(k) => {
                    self.consts.remove(k);
                }
                BatchOp::VPut(k, v) => {
                    self.vars.insert(*k, *v);
                }
                BatchOp::VDelete(k) => {
                    self.vars.remove(k);
                }
                BatchOp::TPut(item) => {
                    self.items.insert(item.key(), item.clone());
                }
                BatchOp::TDelete(k) => {
                    self.items.remove(k);
                }
            }
        }
        Outcome::Done
    }
}

fn set<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, value: Option<V>) {
    match value {
        Some(v) => map.insert(key, v),
        None => map.remove(&key),
    };
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn setup() -> impl Strategy<Value = Setup> {
    let mode = prop_oneof![2 => Just(Mode::Sync), 1 => Just(Mode::Flush), 1 => Just(Mode::Buffered)];
    (
        mode,
        1usize..=3,
        prop_oneof![Just(512usize), Just(64 << 10)],
        prop_oneof![Just(0usize), Just(64 << 10)],
        any::<bool>(),
    )
        .prop_map(|(mode, shards, write_buffer, value_cache, keydir)| Setup {
            mode,
            shards,
            write_buffer,
            value_cache,
            keydir,
        })
}

fn ckey() -> BoxedStrategy<u16> {
    (0..CONST_KEYS).prop_map(const_key).boxed()
}

/// A key anywhere in `u16`, mostly at or next to a key of the domain.
fn any_ckey() -> BoxedStrategy<u16> {
    prop_oneof![
        3 => ckey(),
        1 => ckey().prop_map(|k| k.wrapping_add(1)),
        1 => ckey().prop_map(|k| k.wrapping_sub(1)),
        1 => any::<u16>(),
    ]
    .boxed()
}

fn vkey() -> BoxedStrategy<VKey> {
    (0u8..48).prop_map(var_key).boxed()
}

fn any_vkey() -> BoxedStrategy<VKey> {
    prop_oneof![3 => vkey(), 1 => any::<VKey>()].boxed()
}

/// Mostly short values, some empty, some of a few hundred bytes, a few larger
/// than a whole data file.
fn var_val() -> BoxedStrategy<VarVal> {
    let len = prop_oneof![2 => Just(0u16), 60 => 1u16..200, 30 => 200u16..1500, 3 => 4000u16..6000];
    (len, any::<u32>()).prop_map(|(len, seed)| VarVal { len, seed }).boxed()
}

fn code() -> BoxedStrategy<Option<u16>> {
    prop_oneof![1 => Just(None), 3 => (0..CODES).prop_map(Some)].boxed()
}

fn item_key() -> BoxedStrategy<ItemKey> {
    (0..GROUPS, IDS).prop_map(|(group, id)| ItemKey { group, id }).boxed()
}

fn any_item_key() -> BoxedStrategy<ItemKey> {
    prop_oneof![3 => item_key(), 1 => (0u8..=GROUPS, -7i16..=7).prop_map(|(group, id)| ItemKey { group, id })]
        .boxed()
}

fn item_for(key: BoxedStrategy<ItemKey>) -> BoxedStrategy<Item> {
    let body = proptest::collection::vec(proptest::char::range('a', 'z'), 0..64);
    (key, code(), 0..COLORS, body)
        .prop_map(|(k, code, color, body)| Item {
            group: k.group,
            id: k.id,
            code,
            color,
            body: body.into_iter().collect(),
        })
        .boxed()
}

fn item() -> BoxedStrategy<Item> {
    item_for(item_key())
}

fn bound<K: Clone + fmt::Debug + 'static>(key: BoxedStrategy<K>) -> BoxedStrategy<Bound<K>> {
    prop_oneof![
        2 => key.clone().prop_map(Bound::Included),
        2 => key.prop_map(Bound::Excluded),
        1 => Just(Bound::Unbounded),
    ]
    .boxed()
}

fn expect<T: Clone + fmt::Debug + 'static>(value: BoxedStrategy<T>) -> BoxedStrategy<Expect<T>> {
    prop_oneof![6 => Just(Expect::Current), 1 => Just(Expect::Absent), 2 => value.prop_map(Expect::Value)]
        .boxed()
}

fn batch_op() -> BoxedStrategy<BatchOp> {
    prop_oneof![
        3 => (ckey(), any::<CVal>()).prop_map(|(k, v)| BatchOp::CPut(k, v)),
        1 => ckey().prop_map(BatchOp::CDelete),
        3 => (vkey(), var_val()).prop_map(|(k, v)| BatchOp::VPut(k, v)),
        1 => vkey().prop_map(BatchOp::VDelete),
        3 => item().prop_map(BatchOp::TPut),
        1 => item_key().prop_map(BatchOp::TDelete),
    ]
    .boxed()
}

fn op(mode: Mode) -> BoxedStrategy<Op> {
    let sync_mode = mode == Mode::Sync;
    prop_oneof![
        // The const tree.
        6 => (ckey(), any::<CVal>()).prop_map(|(k, v)| Op::CPut(k, v)),
        2 => (ckey(), any::<CVal>()).prop_map(|(k, v)| Op::CInsert(k, v)),
        3 => ckey().prop_map(Op::CDelete),
        2 => (ckey(), expect(any::<CVal>().boxed()), proptest::option::weighted(0.8, any::<CVal>()))
            .prop_map(|(key, expect, new)| Op::CCas { key, expect, new }),
        2 => (ckey(), proptest::option::weighted(0.8, any::<CVal>())).prop_map(|(key, new)| Op::CUpdate { key, new }),
        // The var tree.
        6 => (vkey(), var_val()).prop_map(|(k, v)| Op::VPut(k, v)),
        2 => (vkey(), var_val()).prop_map(|(k, v)| Op::VInsert(k, v)),
        3 => vkey().prop_map(Op::VDelete),
        2 => (vkey(), expect(var_val()), proptest::option::weighted(0.8, var_val()))
            .prop_map(|(key, expect, new)| Op::VCas { key, expect, new }),
        2 => (vkey(), proptest::option::weighted(0.8, var_val())).prop_map(|(key, new)| Op::VUpdate { key, new }),
        // The typed tree.
        6 => item().prop_map(Op::TPut),
        2 => item().prop_map(Op::TInsert),
        3 => item_key().prop_map(Op::TDelete),
        2 => (item_key(), expect(item()), proptest::option::weighted(0.8, (code(), 0..COLORS, "[a-z]{0,8}")))
            .prop_map(|(key, expect, new)| Op::TCas {
                key,
                expect,
                new: new.map(|(code, color, body)| Item { group: key.group, id: key.id, code, color, body }),
            }),
        3 => (item_key(), proptest::option::weighted(0.85, (code(), 0..COLORS)))
            .prop_map(|(key, to)| Op::TUpdate { key, to }),
        // Queries.
        2 => (bound(any_ckey()), bound(any_ckey())).prop_map(|(lo, hi)| Op::CRange(lo, hi)),
        1 => (any_ckey(), 0usize..=2).prop_map(|(k, n)| Op::CPrefix(k.to_be_bytes()[..n].to_vec())),
        2 => (bound(any_vkey()), bound(any_vkey())).prop_map(|(lo, hi)| Op::VRange(lo, hi)),
        1 => (any_vkey(), 0usize..=3).prop_map(|(k, n)| Op::VPrefix(k[..n].to_vec())),
        2 => (bound(any_item_key()), bound(any_item_key())).prop_map(|(lo, hi)| Op::TRange(lo, hi)),
        1 => (0..=GROUPS).prop_map(Op::TPrefix),
        // Batches and maintenance.
        5 => proptest::collection::vec(batch_op(), 1..8).prop_map(Op::Batch),
        3 => Just(Op::Compact),
        1 => Just(Op::Flush),
        1 => Just(Op::Sync),
        2 => any::<bool>().prop_map(|retune| Op::Reopen { retune }),
        2 => Just(Op::Abandon),
        3 => (any::<bool>(), any::<bool>(), proptest::option::of(any::<u64>())).prop_map(
            move |(s, cut_first, pages)| Op::Crash { sync_first: s || !sync_mode, cut_first, pages }
        ),
        2 => (prop_oneof![Just(During::Compact), Just(During::Close)], 1u8..=16, proptest::option::of(any::<u64>()))
            .prop_map(|(during, at_sync, pages)| Op::CutDuring { during, at_sync, pages }),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// The reference state machine
// ---------------------------------------------------------------------------

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        setup()
            .prop_map(|setup| Model {
                setup,
                consts: BTreeMap::new(),
                vars: BTreeMap::new(),
                items: BTreeMap::new(),
            })
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Op> {
        op(state.setup.mode)
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.step(op);
        state
    }

    /// Outside `Sync` mode a crash keeps the model exact only after a `sync`.
    fn preconditions(state: &Model, op: &Op) -> bool {
        match op {
            Op::Crash { sync_first, .. } => *sync_first || state.setup.mode == Mode::Sync,
            _ => true,
        }
    }
}

// ---------------------------------------------------------------------------
// The system under test
// ---------------------------------------------------------------------------

/// Totals over the whole run, to check that the transitions reached what they
/// are for.
#[derive(Debug)]
struct Coverage {
    cases: AtomicU64,
    transitions: AtomicU64,
    reopens: AtomicU64,
    abandons: AtomicU64,
    crashes: AtomicU64,
    crashes_without_sync: AtomicU64,
    /// Compactions and closes that a power cut interrupted.
    interrupted: AtomicU64,
    /// Compactions that rewrote at least one file.
    compactions: AtomicU64,
    entries_copied: AtomicU64,
    tombstones_dropped: AtomicU64,
    /// Hint files read at open.
    hints_read: AtomicU64,
    /// Cases in which a shard's files rotated (more data files than shards).
    rotated_cases: AtomicU64,
    /// Cases in which a compaction rewrote a file.
    compacted_cases: AtomicU64,
    /// Cases in which an open read a hint file.
    hinted_cases: AtomicU64,
    refused_writes: AtomicU64,
    batches: AtomicU64,
    refused_batches: AtomicU64,
}

static COVERAGE: Coverage = Coverage {
    cases: AtomicU64::new(0),
    transitions: AtomicU64::new(0),
    reopens: AtomicU64::new(0),
    abandons: AtomicU64::new(0),
    crashes: AtomicU64::new(0),
    crashes_without_sync: AtomicU64::new(0),
    interrupted: AtomicU64::new(0),
    compactions: AtomicU64::new(0),
    entries_copied: AtomicU64::new(0),
    tombstones_dropped: AtomicU64::new(0),
    hints_read: AtomicU64::new(0),
    rotated_cases: AtomicU64::new(0),
    compacted_cases: AtomicU64::new(0),
    hinted_cases: AtomicU64::new(0),
    refused_writes: AtomicU64::new(0),
    batches: AtomicU64::new(0),
    refused_batches: AtomicU64::new(0),
};

fn count(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// An open database and its three trees.
struct Handles {
    db: Db,
    consts: ConstTree<u16, 8>,
    vars: VarTree<VKey>,
    items: TypedTree<Item>,
}

/// How the previous session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    Created,
    Closed,
    Dropped,
    Crashed,
}

struct Sut {
    sim: SimFs,
    config: Config,
    handles: Option<Handles>,
    /// The model before the transition being applied.
    model: Model,
    step: usize,
    /// What this case reached (see [`Coverage`]).
    seen: Seen,
}

#[derive(Debug, Default)]
struct Seen {
    rotated: bool,
    compacted: bool,
    hinted: bool,
}

impl Sut {
    fn open(&mut self, ended: Ended) {
        let db = Db::open(ROOT, self.config.clone())
            .unwrap_or_else(|e| panic!("step {}: open after {ended:?}: {e}", self.step));
        let consts = db.const_tree::<u16, 8>(CONST_TREE).expect("open the const tree");
        let vars = db.var_tree::<VKey>(VAR_TREE).expect("open the var tree");
        let items = db.tree::<Item>().expect("open the typed tree");
        let stats = db.stats();
        assert_eq!(
            stats.shards, self.model.setup.shards,
            "the shard count is the one the database was created with"
        );
        let r = stats.recovery;
        let when = format!("step {}: open after {ended:?}", self.step);
        assert_eq!(r.corrupt_entries, 0, "{when}: corrupt entries: {:?}", r.corruptions);
        assert_eq!(r.incomplete_batches, 0, "{when}: every batch was acknowledged, none may be incomplete");
        if matches!(ended, Ended::Closed | Ended::Dropped) {
            assert_eq!(r.truncated_bytes, 0, "{when}: nothing was lost, nothing may be truncated");
        }
        count(&COVERAGE.hints_read, r.hint_files as u64);
        self.seen.hinted |= r.hint_files > 0;
        self.handles = Some(Handles { db, consts, vars, items });
    }

    fn h(&self) -> &Handles {
        self.handles.as_ref().expect("the database is open")
    }

    /// Ends the session: `close`, a drop, or a crash; then opens again.
    fn restart(&mut self, how: &Op) {
        let Handles { db, consts, vars, items } = self.handles.take().expect("the database is open");
        drop((consts, vars, items));
        let ended = match *how {
            Op::Reopen { retune } => {
                db.close().expect("close");
                count(&COVERAGE.reopens, 1);
                if retune {
                    let c = &mut self.config;
                    c.keydir = !c.keydir;
                    c.value_cache_bytes = if c.value_cache_bytes == 0 { 64 << 10 } else { 0 };
                    c.write_buffer_size = if c.write_buffer_size == 512 { 64 << 10 } else { 512 };
                    c.shards = c.shards % 3 + 1;
                }
                Ended::Closed
            }
            Op::Abandon => {
                drop(db);
                count(&COVERAGE.abandons, 1);
                Ended::Dropped
            }
            Op::Crash { sync_first, cut_first, pages } => {
                if sync_first {
                    db.sync().expect("sync before the crash");
                } else {
                    count(&COVERAGE.crashes_without_sync, 1);
                }
                if cut_first {
                    // Dropping the handles then flushes into a dead disk.
                    self.sim.cut_power();
                    drop(db);
                } else {
                    // Dropping the handles flushes, but nothing fsyncs.
                    drop(db);
                    self.sim.cut_power();
                }
                self.sim.restart(match pages {
                    None => Loss::DropUnsynced,
                    Some(seed) => Loss::KeepRandomPages { seed },
                });
                count(&COVERAGE.crashes, 1);
                Ended::Crashed
            }
            Op::CutDuring { during, at_sync, pages } => {
                if self.model.setup.mode != Mode::Sync {
                    db.sync().expect("sync before the power cut");
                }
                self.sim.cut_power_at_sync(u64::from(at_sync));
                let result = match during {
                    During::Compact => {
                        let r = db.compact().map(drop);
                        drop(db);
                        r
                    }
                    During::Close => db.close(),
                };
                let cut = self.sim.is_power_cut();
                if let Err(e) = result {
                    assert!(cut, "step {}: {during:?} failed without a power cut: {e}", self.step);
                }
                count(&COVERAGE.interrupted, u64::from(cut));
                self.sim.restart(match pages {
                    None => Loss::DropUnsynced,
                    Some(seed) => Loss::KeepRandomPages { seed },
                });
                count(&COVERAGE.crashes, 1);
                Ended::Crashed
            }
            _ => unreachable!("not a restart: {how:?}"),
        };
        self.open(ended);
    }

    /// Runs `op` on the database and returns its answer; queries compare with
    /// `self.model` in place.
    fn run(&mut self, op: &Op) -> Outcome {
        let step = self.step;
        let h = self.h();
        let seq_before = h.db.stats().next_seq;
        let outcome = match op {
            Op::CPut(k, v) => Outcome::Const(h.consts.put(k, v).expect("const put")),
            Op::CInsert(k, v) => Outcome::Flag(h.consts.insert(k, v).expect("const insert")),
            Op::CDelete(k) => Outcome::Const(h.consts.delete(k).expect("const delete")),
            Op::CCas { key, expect, new } => {
                let expected = expect.resolve(self.model.consts.get(key));
                Outcome::Flag(h.consts.cas(key, expected.as_ref(), new.as_ref()).expect("const cas"))
            }
            Op::CUpdate { key, new } => {
                let mut seen = None;
                let result = h
                    .consts
                    .update(key, |cur| {
                        seen = Some(cur.copied());
                        counter(*new, cur)
                    })
                    .expect("const update");
                assert_eq!(seen, Some(self.model.consts.get(key).copied()), "step {step}: update saw");
                Outcome::Const(result)
            }
            Op::VPut(k, v) => {
                h.vars.put(k, &v.bytes()).expect("var put");
                Outcome::Done
            }
            Op::VInsert(k, v) => Outcome::Flag(h.vars.insert(k, &v.bytes()).expect("var insert")),
            Op::VDelete(k) => Outcome::Flag(h.vars.delete(k).expect("var delete")),
            Op::VCas { key, expect, new } => {
                let expected = expect.resolve(self.model.vars.get(key)).map(VarVal::bytes);
                let new = new.map(VarVal::bytes);
                Outcome::Flag(h.vars.cas(key, expected.as_deref(), new.as_deref()).expect("var cas"))
            }
            Op::VUpdate { key, new } => {
                let mut seen = None;
                let result = h
                    .vars
                    .update(key, |cur| {
                        seen = Some(cur.map(Digest::of));
                        new.map(VarVal::bytes)
                    })
                    .expect("var update");
                let want = self.model.vars.get(key).map(|v| v.digest());
                assert_eq!(seen, Some(want), "step {step}: update saw");
                Outcome::Var(result.map(|b| Digest::of(&b)))
            }
            Op::TPut(item) => typed(h.items.put(item).map(|p| Outcome::Item(p.map(|p| (*p).clone())))),
            Op::TInsert(item) => typed(h.items.insert(item).map(Outcome::Flag)),
            Op::TDelete(k) => Outcome::Item(h.items.delete(k).expect("typed delete").map(|p| (*p).clone())),
            Op::TCas { key, expect, new } => {
                let expected = expect.resolve(self.model.items.get(key));
                typed(h.items.cas(key, expected.as_ref(), new.as_ref()).map(Outcome::Flag))
            }
            Op::TUpdate { key, to } => {
                let mut seen = None;
                let result = h.items.update(key, |cur| {
                    seen = Some(cur.cloned());
                    updated_item(*key, cur, *to)
                });
                assert_eq!(seen, Some(self.model.items.get(key).cloned()), "step {step}: update saw");
                typed(result.map(|n| Outcome::Item(n.map(|n| (*n).clone()))))
            }
            Op::CRange(lo, hi) => {
                if let Some(range) = support::ordered_bounds(*lo, *hi) {
                    let want: Vec<(u16, CVal)> =
                        self.model.consts.range(range).map(|(k, v)| (*k, *v)).collect();
                    let got: Vec<(u16, CVal)> = h.consts.range(range).collect();
                    let back: Vec<(u16, CVal)> = h.consts.range(range).rev().collect();
                    check_both_ways(&got, &back, &want, &format!("step {step}: const range {range:?}"));
                }
                Outcome::Done
            }
            Op::CPrefix(p) => {
                let prefix = Prefix::<u16>::from_bytes(p).expect("a const tree prefix");
                let want: Vec<(u16, CVal)> = self
                    .model
                    .consts
                    .iter()
                    .filter(|(k, _)| k.to_be_bytes().starts_with(p))
                    .map(|(k, v)| (*k, *v))
                    .collect();
                let got: Vec<(u16, CVal)> = h.consts.prefix(prefix).collect();
                let back: Vec<(u16, CVal)> = h.consts.prefix(prefix).rev().collect();
                check_both_ways(&got, &back, &want, &format!("step {step}: const prefix {p:?}"));
                Outcome::Done
            }
            Op::VRange(lo, hi) => {
                if let Some(range) = support::ordered_bounds(*lo, *hi) {
                    let want: Vec<(VKey, Digest)> =
                        self.model.vars.range(range).map(|(k, v)| (*k, v.digest())).collect();
                    let what = format!("step {step}: var range {range:?}");
                    let got = var_digests(h.vars.range(range), &what);
                    let back = var_digests(h.vars.range(range).rev(), &what);
                    check_both_ways(&got, &back, &want, &what);
                }
                Outcome::Done
            }
            Op::VPrefix(p) => {
                let prefix = Prefix::<VKey>::from_bytes(p).expect("a var tree prefix");
                let want: Vec<(VKey, Digest)> = self
                    .model
                    .vars
                    .iter()
                    .filter(|(k, _)| k.starts_with(p))
                    .map(|(k, v)| (*k, v.digest()))
                    .collect();
                let what = format!("step {step}: var prefix {p:?}");
                let got = var_digests(h.vars.prefix(prefix), &what);
                let back = var_digests(h.vars.prefix(prefix).rev(), &what);
                check_both_ways(&got, &back, &want, &what);
                Outcome::Done
            }
            Op::TRange(lo, hi) => {
                if let Some(range) = support::ordered_bounds(*lo, *hi) {
                    let want: Vec<Item> = self.model.items.range(range).map(|(_, v)| v.clone()).collect();
                    let got: Vec<Item> = h.items.range(range).map(|r| (*r).clone()).collect();
                    let back: Vec<Item> = h.items.range(range).rev().map(|r| (*r).clone()).collect();
                    check_both_ways(&got, &back, &want, &format!("step {step}: typed range {range:?}"));
                }
                Outcome::Done
            }
            Op::TPrefix(group) => {
                let want: Vec<Item> =
                    self.model.items.values().filter(|i| i.group == *group).cloned().collect();
                let got: Vec<Item> =
                    h.items.prefix(ItemKey::prefix_group(*group)).map(|r| (*r).clone()).collect();
                let back: Vec<Item> =
                    h.items.prefix(ItemKey::prefix_group(*group)).rev().map(|r| (*r).clone()).collect();
                check_both_ways(&got, &back, &want, &format!("step {step}: typed prefix group {group}"));
                Outcome::Done
            }
            Op::Batch(ops) => {
                let mut b = h.db.batch();
                for op in ops {
                    match op {
                        BatchOp::CPut(k, v) => b.put_const(&h.consts, k, v),
                        BatchOp::CDelete(k) => b.delete_const(&h.consts, k),
                        BatchOp::VPut(k, v) => b.put_var(&h.vars, k, &v.bytes()),
                        BatchOp::VDelete(k) => b.delete_var(&h.vars, k),
                        BatchOp::TPut(item) => b.put(&h.items, item),
                        BatchOp::TDelete(k) => b.delete(&h.items, k),
                    }
                }
                count(&COVERAGE.batches, 1);
                let outcome = typed(b.commit().map(|()| Outcome::Done));
                if outcome == Outcome::Refused {
                    count(&COVERAGE.refused_batches, 1);
                }
                outcome
            }
            Op::Compact => {
                let report = h.db.compact().expect("compact");
                if report.files_compacted > 0 {
                    count(&COVERAGE.compactions, 1);
                    self.seen.compacted = true;
                }
                count(&COVERAGE.entries_copied, report.entries_copied);
                count(&COVERAGE.tombstones_dropped, report.tombstones_dropped);
                Outcome::Done
            }
            Op::Flush => {
                h.db.flush().expect("flush");
                Outcome::Done
            }
            Op::Sync => {
                h.db.sync().expect("sync");
                Outcome::Done
            }
            Op::Reopen { .. } | Op::Abandon | Op::Crash { .. } | Op::CutDuring { .. } => {
                self.restart(op);
                Outcome::Done
            }
        };
        let stats = self.h().db.stats();
        if outcome == Outcome::Refused {
            count(&COVERAGE.refused_writes, 1);
            assert_eq!(stats.next_seq, seq_before, "step {step}: a refused write appended nothing");
        }
        self.seen.rotated |= stats.files > self.model.setup.shards;
        outcome
    }

    /// Compares everything the database holds with `model`.
    fn check(&self, model: &Model) {
        let h = self.h();
        let when = format!("after step {}", self.step);

        // The const tree.
        let want: Vec<(u16, CVal)> = model.consts.iter().map(|(k, v)| (*k, *v)).collect();
        let got: Vec<(u16, CVal)> = h.consts.iter().collect();
        let back: Vec<(u16, CVal)> = h.consts.iter().rev().collect();
        check_both_ways(&got, &back, &want, &format!("{when}: const tree"));
        assert_eq!(h.consts.len(), model.consts.len(), "{when}: const tree len");
        assert_eq!(h.consts.first(), want.first().copied(), "{when}: const tree first");
        assert_eq!(h.consts.last(), want.last().copied(), "{when}: const tree last");
        for k in (0..CONST_KEYS).map(const_key) {
            assert_eq!(h.consts.get(&k), model.consts.get(&k).copied(), "{when}: const get({k})");
            assert_eq!(h.consts.contains(&k), model.consts.contains_key(&k), "{when}: const contains({k})");
        }

        // The var tree.
        let want: Vec<(VKey, Digest)> = model.vars.iter().map(|(k, v)| (*k, v.digest())).collect();
        let what = format!("{when}: var tree");
        let got = var_digests(h.vars.iter(), &what);
        let back = var_digests(h.vars.iter().rev(), &what);
        check_both_ways(&got, &back, &want, &what);
        assert_eq!(h.vars.len(), model.vars.len(), "{when}: var tree len");
        assert_eq!(
            h.vars.keys().collect::<Vec<_>>(),
            model.vars.keys().copied().collect::<Vec<_>>(),
            "{when}: var keys"
        );
        let first = h.vars.first().expect("var first").map(|(k, v)| (k, Digest::of(&v)));
        let last = h.vars.last().expect("var last").map(|(k, v)| (k, Digest::of(&v)));
        assert_eq!(first.as_ref(), want.first(), "{when}: var tree first");
        assert_eq!(last.as_ref(), want.last(), "{when}: var tree last");
        for k in (0..48).map(var_key) {
            let got = h.vars.get(&k).expect("var get").map(|b| Digest::of(&b));
            assert_eq!(got, model.vars.get(&k).map(|v| v.digest()), "{when}: var get({k:?})");
            assert_eq!(h.vars.contains(&k), model.vars.contains_key(&k), "{when}: var contains({k:?})");
        }

        // The typed tree and its indexes.
        let want: Vec<Item> = model.items.values().cloned().collect();
        let got: Vec<Item> = h.items.iter().map(|r| (*r).clone()).collect();
        let back: Vec<Item> = h.items.iter().rev().map(|r| (*r).clone()).collect();
        check_both_ways(&got, &back, &want, &format!("{when}: typed tree"));
        assert_eq!(h.items.len(), model.items.len(), "{when}: typed tree len");
        assert_eq!(h.items.first().map(|r| (*r).clone()).as_ref(), want.first(), "{when}: typed first");
        assert_eq!(h.items.last().map(|r| (*r).clone()).as_ref(), want.last(), "{when}: typed last");
        for k in item_keys() {
            let got = h.items.get(&k).expect("typed get").map(|r| (*r).clone());
            assert_eq!(got.as_ref(), model.items.get(&k), "{when}: typed get({k:?})");
            assert_eq!(h.items.contains(&k), model.items.contains_key(&k), "{when}: typed contains({k:?})");
        }
        for color in 0..=COLORS {
            let want: Vec<Item> = model.items.values().filter(|i| i.color == color).cloned().collect();
            let got: Vec<Item> = h.items.find_by(Item::by_color(), &color).map(|r| (*r).clone()).collect();
            let back: Vec<Item> =
                h.items.find_by(Item::by_color(), &color).rev().map(|r| (*r).clone()).collect();
            check_both_ways(&got, &back, &want, &format!("{when}: find_by color {color}"));
        }
        for code in (0..=CODES).map(Some).chain([None]) {
            let want: Vec<Item> = model.items.values().filter(|i| i.code == code).cloned().collect();
            let got: Vec<Item> = h.items.find_by(Item::by_code(), &code).map(|r| (*r).clone()).collect();
            let back: Vec<Item> =
                h.items.find_by(Item::by_code(), &code).rev().map(|r| (*r).clone()).collect();
            check_both_ways(&got, &back, &want, &format!("{when}: find_by code {code:?}"));
            if code.is_some() {
                assert!(want.len() <= 1, "{when}: the model holds code {code:?} twice: {want:?}");
            }
            let holder = h.items.get_by(Item::by_code(), &code).expect("get_by").map(|r| (*r).clone());
            assert_eq!(holder.as_ref(), want.first(), "{when}: get_by code {code:?}");
        }

        let keys = (model.consts.len() + model.vars.len() + model.items.len()) as u64;
        assert_eq!(h.db.stats().keys, keys, "{when}: Stats::keys");
    }
}

/// A typed write's answer, with a unique-index conflict as `Outcome::Refused`.
fn typed(result: armdb::Result<Outcome>) -> Outcome {
    match result {
        Ok(outcome) => outcome,
        Err(Error::UniqueViolation { .. }) => Outcome::Refused,
        Err(e) => panic!("a typed write failed: {e}"),
    }
}

/// `got` (forward) and `back` (reverse) are both `want`.
#[track_caller]
fn check_both_ways<T: PartialEq + fmt::Debug>(got: &[T], back: &[T], want: &[T], what: &str) {
    assert_eq!(got, want, "{what}, forward");
    assert!(back.iter().eq(want.iter().rev()), "{what}, reverse: got {back:?}, want the reverse of {want:?}");
}

struct Machine;

impl StateMachineTest for Machine {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(model: &Model) -> Sut {
        count(&COVERAGE.cases, 1);
        let sim = SimFs::new();
        let config = model.setup.config(&sim);
        let mut sut =
            Sut { sim, config, handles: None, model: model.clone(), step: 0, seen: Seen::default() };
        sut.open(Ended::Created);
        sut
    }

    fn apply(mut sut: Sut, model: &Model, op: Op) -> Sut {
        sut.step += 1;
        count(&COVERAGE.transitions, 1);
        // The model before the transition gives the answer the database owes.
        let mut after = sut.model.clone();
        let want = after.step(&op);
        assert_eq!(after, *model, "the reference state machine and the model disagree");
        let got = sut.run(&op);
        assert_eq!(got, want, "step {}: {op:?}", sut.step);
        sut.model = after;
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        sut.check(model);
    }

    fn teardown(mut sut: Sut, _model: Model) {
        for (reached, cases) in [
            (sut.seen.rotated, &COVERAGE.rotated_cases),
            (sut.seen.compacted, &COVERAGE.compacted_cases),
            (sut.seen.hinted, &COVERAGE.hinted_cases),
        ] {
            count(cases, u64::from(reached));
        }
        let Handles { db, consts, vars, items } = sut.handles.take().expect("the database is open");
        drop((consts, vars, items));
        db.close().expect("close at the end of the case");
    }
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

fn env_u32(name: &str) -> Option<u32> {
    std::env::var(name)
        .ok()
        .map(|s| s.trim().parse().unwrap_or_else(|_| panic!("{name} must be a decimal u32")))
}

#[test]
fn trees_match_the_model_through_reopens_compactions_batches_and_crashes() {
    let seed = support::seed(DEFAULT_SEED);
    let cases = env_u32("PROPTEST_CASES").unwrap_or(if support::on_ci() { 64 } else { 128 });
    let transitions = support::op_count(100, 150);
    println!("cases={cases} transitions={transitions}");
    let config = RunnerConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // The printed minimal case and the seed reproduce a failure; no file is written.
        failure_persistence: None,
        // Shrinking replays whole cases; bound it so that a failure reports in minutes.
        max_shrink_time: 300_000,
        max_shrink_iters: 100_000,
        ..RunnerConfig::default()
    };
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config.clone());
    let result =
        runner.run(&Reference::sequential_strategy(transitions..=transitions), |(init, ops, seen)| {
            Machine::test_sequential(config.clone(), init, ops, seen);
            Ok(())
        });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, (init, ops, _))) => {
            let mut steps = String::new();
            for (i, op) in ops.iter().enumerate() {
                steps.push_str(&format!("\n  {:>3}: {op:?}", i + 1));
            }
            panic!(
                "{reason}\nminimal failing case ({} transitions), seed ARMDB_SEED={seed}:\n  setup: {:?}{steps}",
                ops.len(),
                init.setup
            );
        }
        Err(e) => panic!("ARMDB_SEED={seed}: {e}"),
    }

    let c = &COVERAGE;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!("{:.1?}: {c:?}", started.elapsed());
    // A run of a few cases proves nothing about coverage; a full one must show it.
    if cases >= 16 && transitions >= 50 {
        let share = |n: u64, percent: u64| n * 100 >= u64::from(cases) * percent;
        assert!(share(get(&c.rotated_cases), 90), "files rotated in fewer than 90 % of the cases");
        assert!(
            share(get(&c.compacted_cases), 75),
            "compaction rewrote files in fewer than 75 % of the cases"
        );
        assert!(share(get(&c.hinted_cases), 50), "an open read hints in fewer than 50 % of the cases");
        assert!(get(&c.compactions) > u64::from(cases / 2), "compaction rarely rewrote a file");
        assert!(get(&c.entries_copied) > 0, "compaction never copied a live entry");
        assert!(get(&c.tombstones_dropped) > 0, "compaction never dropped a tombstone");
        assert!(get(&c.hints_read) > 0, "no open read a hint file");
        assert!(get(&c.reopens) > 0 && get(&c.abandons) > 0, "no close or no drop was followed by a reopen");
        assert!(get(&c.crashes) > u64::from(cases / 2), "crashes were rare");
        assert!(get(&c.crashes_without_sync) > 0, "no crash in Sync mode came without a sync first");
        assert!(get(&c.interrupted) > 0, "a power cut never interrupted a compaction or a close");
        assert!(get(&c.refused_writes) > 0 && get(&c.refused_batches) > 0, "no unique conflict was refused");
        assert!(get(&c.batches) > get(&c.refused_batches), "no batch committed");
    }
}
