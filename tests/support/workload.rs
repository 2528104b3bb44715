//! The workload of the fault-injection suites (`fsync_failure`, `no_space`):
//! puts, deletes and atomic batches over a const tree (`u32` keys, 16-byte
//! values) and a var tree (`u64` keys) on the simulated file system, with
//! `flush()`, `sync()`, `compact()` and close-and-reopen steps where a suite's
//! schedule puts them; the model of acknowledged writes; the database the steps
//! run against; and the comparison of states for failure messages.
//!
//! Each suite keeps its own schedule (`random_steps`), configuration details
//! and pass criterion.

use std::collections::BTreeMap;
use std::sync::Arc;

use armdb::fs::SimFs;
use armdb::{CompactionConfig, Config, ConstTree, Db, Durability, Hints, VarTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::TreesModel;

/// The database directory on the simulated file system.
pub const ROOT: &str = "/db";
/// Keys of each tree are drawn from `0..KEYS`.
pub const KEYS: u32 = 60;

/// The state of both trees: the model of acknowledged writes, or what reads return.
pub type Model = TreesModel<u32, 16, u64>;

// ---------------------------------------------------------------------------
// The steps
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub enum Write {
    PutConst(u32, [u8; 16]),
    DelConst(u32),
    PutVar(u64, Vec<u8>),
    DelVar(u64),
}

#[derive(Clone, Debug)]
pub enum Step {
    One(Write),
    Batch(Vec<Write>),
    Flush,
    Sync,
    Compact,
    /// `close()`, then `Db::open` again (no power cut).
    Reopen,
}

/// The const value of `key` at `version`: key, version and their checksum.
pub fn const_value(key: u32, version: u32) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..4].copy_from_slice(&key.to_le_bytes());
    v[4..8].copy_from_slice(&version.to_le_bytes());
    let sum = super::fnv1a64(&v[..8]);
    v[8..].copy_from_slice(&sum.to_le_bytes());
    v
}

/// The var value of `key` at `version`: key and version, padded to a length
/// (12 to 511 bytes) drawn from their checksum.
pub fn var_value(key: u64, version: u32) -> Vec<u8> {
    let mut head = Vec::new();
    head.extend_from_slice(&key.to_le_bytes());
    head.extend_from_slice(&version.to_le_bytes());
    let sum = super::fnv1a64(&head);
    let len = 12 + (sum % 500) as usize;
    let mut v = head;
    v.resize(len, (sum >> 8) as u8 | 1);
    v
}

fn random_write(rng: &mut SmallRng, version: u32) -> Write {
    let key = rng.random_range(0..KEYS);
    match rng.random_range(0..100) {
        0..40 => Write::PutConst(key, const_value(key, version)),
        40..80 => Write::PutVar(u64::from(key), var_value(u64::from(key), version)),
        80..90 => Write::DelConst(key),
        _ => Write::DelVar(u64::from(key)),
    }
}

/// 300 steps: step `i` is `fixed(i)` where that gives one (drawing nothing from
/// the seeded generator), else a batch of 2 to 6 random writes (18 in 100) or a
/// single random write, every write of version `i`.
pub fn random_steps(seed: u64, fixed: impl Fn(u32) -> Option<Step>) -> Vec<Step> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..300u32)
        .map(|i| match fixed(i) {
            Some(step) => step,
            None if rng.random_range(0..100) < 18 => {
                let n = rng.random_range(2..=6);
                Step::Batch((0..n).map(|_| random_write(&mut rng, i)).collect())
            }
            None => Step::One(random_write(&mut rng, i)),
        })
        .collect()
}

fn apply(model: &mut Model, w: &Write) {
    match w {
        Write::PutConst(k, v) => {
            model.consts.insert(*k, *v);
        }
        Write::DelConst(k) => {
            model.consts.remove(k);
        }
        Write::PutVar(k, v) => {
            model.var.insert(*k, v.clone());
        }
        Write::DelVar(k) => {
            model.var.remove(k);
        }
    }
}

/// Applies a step that succeeded to the model (flush, sync, compaction and
/// reopen change nothing).
pub fn apply_step(model: &mut Model, step: &Step) {
    match step {
        Step::One(w) => apply(model, w),
        Step::Batch(ws) => ws.iter().for_each(|w| apply(model, w)),
        Step::Flush | Step::Sync | Step::Compact | Step::Reopen => {}
    }
}

pub fn step_name(step: &Step) -> &'static str {
    match step {
        Step::One(Write::PutConst(..)) => "const put",
        Step::One(Write::DelConst(..)) => "const delete",
        Step::One(Write::PutVar(..)) => "var put",
        Step::One(Write::DelVar(..)) => "var delete",
        Step::Batch(_) => "batch",
        Step::Flush => "flush",
        Step::Sync => "sync",
        Step::Compact => "compact",
        Step::Reopen => "close and reopen",
    }
}

// ---------------------------------------------------------------------------
// The database
// ---------------------------------------------------------------------------

/// Two shards with 4 KiB files on `sim`, in `durability` mode.
pub fn config(sim: &SimFs, durability: Durability) -> Config {
    Config {
        fs: Arc::new(sim.clone()),
        shards: 2,
        max_file_size: 4096,
        durability,
        // Reads go to the (simulated) disk, so a lost or torn value cannot hide in a cache.
        value_cache_bytes: 0,
        // Only `compact()` compacts: the calls (and fsyncs) a run makes are deterministic.
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        hints: Hints::Always,
        ..Config::default()
    }
}

/// An open database and its two trees.
pub struct Open {
    pub db: Db,
    pub consts: ConstTree<u32, 16>,
    pub var: VarTree<u64>,
}

/// Opens the database at `ROOT` on `sim` with [`config`], and its trees.
pub fn open(sim: &SimFs, durability: Durability) -> armdb::Result<Open> {
    let db = Db::open(ROOT, config(sim, durability))?;
    let consts = db.const_tree::<u32, 16>("consts")?;
    let var = db.var_tree::<u64>("var")?;
    Ok(Open { db, consts, var })
}

impl Open {
    fn write(&self, w: &Write) -> armdb::Result<()> {
        match w {
            Write::PutConst(k, v) => self.consts.put(k, v).map(drop),
            Write::DelConst(k) => self.consts.delete(k).map(drop),
            Write::PutVar(k, v) => self.var.put(k, v),
            Write::DelVar(k) => self.var.delete(k).map(drop),
        }
    }

    fn batch(&self, ws: &[Write]) -> armdb::Result<()> {
        let mut b = self.db.batch();
        for w in ws {
            match w {
                Write::PutConst(k, v) => b.put_const(&self.consts, k, v),
                Write::DelConst(k) => b.delete_const(&self.consts, k),
                Write::PutVar(k, v) => b.put_var(&self.var, k, v),
                Write::DelVar(k) => b.delete_var(&self.var, k),
            }
        }
        b.commit()
    }

    /// Runs a step other than `Reopen`.
    pub fn run(&self, step: &Step) -> armdb::Result<()> {
        match step {
            Step::One(w) => self.write(w),
            Step::Batch(ws) => self.batch(ws),
            Step::Flush => self.db.flush(),
            Step::Sync => self.db.sync(),
            Step::Compact => self.db.compact().map(drop),
            Step::Reopen => unreachable!("the caller reopens"),
        }
    }

    /// Both trees as iteration returns them; panics on a read error.
    pub fn state(&self) -> Model {
        Model {
            consts: self.consts.iter().collect(),
            var: super::var_pairs(self.var.iter(), "iterate the var tree").into_iter().collect(),
        }
    }

    /// Closes the database, dropping every handle.
    pub fn close(self) -> armdb::Result<()> {
        let Open { db, consts, var } = self;
        drop((consts, var));
        db.close()
    }
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// Panics with `what` and the keys on which `got` differs from `want`.
pub fn assert_state(got: &Model, want: &Model, what: &str) {
    assert!(got == want, "{what}: the state differs from the model on {}", diff(want, got));
}

/// The keys on which two states differ, each with (wanted, found), for failure
/// messages; a var value shows as its version and length.
pub fn diff(want: &Model, got: &Model) -> String {
    fn keys<K: Ord + Copy, V: PartialEq>(a: &BTreeMap<K, V>, b: &BTreeMap<K, V>) -> Vec<K> {
        let mut ks: Vec<K> = a.keys().chain(b.keys()).copied().filter(|k| a.get(k) != b.get(k)).collect();
        ks.sort_unstable();
        ks.dedup();
        ks
    }
    let c = |v: Option<&[u8; 16]>| v.map(|v| u32::from_le_bytes([v[4], v[5], v[6], v[7]]));
    let v = |v: Option<&Vec<u8>>| {
        v.map(|v| (v.get(8..12).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])), v.len()))
    };
    let consts: Vec<String> = keys(&want.consts, &got.consts)
        .into_iter()
        .map(|k| format!("{k}: want version {:?}, found {:?}", c(want.consts.get(&k)), c(got.consts.get(&k))))
        .collect();
    let var: Vec<String> = keys(&want.var, &got.var)
        .into_iter()
        .map(|k| {
            format!("{k}: want (version, len) {:?}, found {:?}", v(want.var.get(&k)), v(got.var.get(&k)))
        })
        .collect();
    format!("const keys [{}]; var keys [{}]", consts.join("; "), var.join("; "))
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
