//! Power loss at thousands of crash points over puts, deletes, batches,
//! rotation, hint writing, compaction and recovery itself, on the simulated
//! file system (`armdb::fs::SimFs`).
//!
//! Each scenario (durability mode × shard count × file size) runs one long
//! random workload on one simulated disk: a const tree, a var tree and a typed
//! tree with a secondary index; 4 KiB files, so a shard rotates every few
//! writes; puts, overwrites, deletes (of present and absent keys), atomic
//! batches over all trees, `sync`, `compact`, `close` + reopen and drop +
//! reopen. Every *cycle* arms `cut_power_at_sync(k)` for a small random `k`
//! (or cuts in the middle of `compact()`, `close()` or the `Db::open` after a
//! restart), runs until the power goes, restarts the disk (alternating
//! `Loss::DropUnsynced` and `Loss::KeepRandomPages`), reopens, checks, and
//! continues from the recovered state. Each cut is one crash point.
//!
//! Pass criteria after every recovery (values are unique per write, so a value
//! names the op that wrote it):
//! - `Db::open` succeeds (a refusal is a finding);
//! - `Sync`: every acknowledged op is present and the state equals the model
//!   after the last acknowledged op or after the one op in flight — a batch
//!   counts whole or not at all; so nothing deleted comes back;
//! - `Flush` / `Buffered`: every op acknowledged before the last successful
//!   `sync()`, `close()` or rewriting `compact()` survives; with one shard the
//!   state is exactly a prefix of the trace since then; with several shards
//!   every key holds its synced value or a value written since (nothing
//!   never-written, nothing synced-deleted comes back), and the state is what
//!   some per-shard prefix of the trace gives once every batch that lost a part
//!   is dropped whole. Whether it is also a prefix of the *global* trace is
//!   only observed and printed: a rotation fsyncs one shard while another
//!   shard's older writes are still unsynced, so it need not be;
//! - the typed tree's secondary index agrees with its records, `Stats::keys`
//!   with the model, no corrupt entry is reported; a close or drop followed by
//!   a reopen without a power cut loses nothing.
//!
//! `CI=true` runs ~2,000 crash points instead of ~11,000; `ARMDB_OPS` sets the
//! total; `ARMDB_SEED` reproduces a run (background hint writing every 500 ms
//! is the only timing-dependent part: a cycle rarely lives that long), and
//! `ARMDB_TRACE_FROM=<cycle>` prints every action and the files on the disk
//! around each cut from that cycle on.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use armdb::fs::{Loss, SimFs, SimStats};
use armdb::{CompactionConfig, Config, ConstTree, Db, Durability, Hints, TypedTree, VarTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

const DEFAULT_SEED: u64 = 0x0C0D_0101;
/// The database directory on the simulated disk.
const DB: &str = "/db";
/// Crash points of the whole suite: under CI and locally.
const CI_CRASH_POINTS: usize = 2_000;
const LOCAL_CRASH_POINTS: usize = 11_000;
const CONST_KEYS: u32 = 40;
const VAR_KEYS: u64 = 40;
const TYPED_KEYS: u16 = 16;
const TAGS: u8 = 4;
/// Actions of one cycle after which the test cuts the power itself.
const MAX_ACTIONS_PER_CYCLE: usize = 400;
/// Most per-shard cut vectors the multi-shard check tries before it settles
/// for the per-key check alone.
const MAX_CANDIDATES: u64 = 100_000;
/// Entry header and data file header sizes (`docs/format.md`).
const ENTRY_HEADER: u64 = 28;
const FILE_HEADER: u64 = 40;

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "typed")]
struct Rec {
    #[key]
    id: u16,
    #[index]
    tag: u8,
    body: String,
}

/// A key of one of the three trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Id {
    Const(u32),
    Var(u64),
    Typed(u16),
}

/// What the three trees hold: a typed record as `[tag] ++ body`.
type Model = BTreeMap<Id, Vec<u8>>;

fn typed_repr(r: &Rec) -> Vec<u8> {
    let mut v = vec![r.tag];
    v.extend_from_slice(r.body.as_bytes());
    v
}

fn universe() -> Vec<Id> {
    (0..CONST_KEYS)
        .map(Id::Const)
        .chain((0..VAR_KEYS).map(Id::Var))
        .chain((0..TYPED_KEYS).map(Id::Typed))
        .collect()
}

/// One write to one tree (`None`: delete).
#[derive(Clone, Debug)]
enum Write {
    Const(u32, Option<[u8; 16]>),
    Var(u64, Option<Vec<u8>>),
    Typed(u16, Option<Rec>),
}

impl Write {
    fn id(&self) -> Id {
        match self {
            Write::Const(k, _) => Id::Const(*k),
            Write::Var(k, _) => Id::Var(*k),
            Write::Typed(k, _) => Id::Typed(*k),
        }
    }

    fn value(&self) -> Option<Vec<u8>> {
        match self {
            Write::Const(_, v) => v.map(|v| v.to_vec()),
            Write::Var(_, v) => v.clone(),
            Write::Typed(_, r) => r.as_ref().map(typed_repr),
        }
    }

    /// Bytes of the entry this write appends (the typed record's encoding is
    /// estimated; only the rotation label uses this).
    fn entry_len(&self) -> u64 {
        let (key, value) = match self {
            Write::Const(_, v) => (4, v.map_or(0, |_| 16)),
            Write::Var(_, v) => (8, v.as_ref().map_or(0, Vec::len)),
            Write::Typed(_, r) => (2, r.as_ref().map_or(0, |r| r.body.len() + 4)),
        };
        (ENTRY_HEADER + key + value as u64).next_multiple_of(8)
    }
}

/// An operation of the trace since the last durable point, as the entries it
/// changes (a delete of an absent key changes nothing and writes nothing).
#[derive(Clone, Debug)]
struct Op {
    what: &'static str,
    entries: Vec<(Id, Option<Vec<u8>>)>,
    acked: bool,
}

fn apply(model: &mut Model, entries: &[(Id, Option<Vec<u8>>)]) {
    for (id, v) in entries {
        match v {
            Some(v) => {
                model.insert(*id, v.clone());
            }
            None => {
                model.remove(id);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Write,
    Batch,
    Sync,
    Compact,
    Close,
    DropReopen,
}

#[derive(Clone, Copy, Debug)]
struct Scenario {
    name: &'static str,
    shards: usize,
    durability: Durability,
    max_file_size: u64,
    write_buffer_size: usize,
    /// The armed cut falls on one of the next `1..=max_k` fsyncs.
    max_k: u64,
    /// Percent of the suite's crash points.
    weight: usize,
}

impl Scenario {
    fn sync_mode(&self) -> bool {
        self.durability == Durability::Sync
    }

    fn config(&self, sim: &SimFs) -> Config {
        Config {
            fs: Arc::new(sim.clone()),
            shards: self.shards,
            max_file_size: self.max_file_size,
            write_buffer_size: self.write_buffer_size,
            durability: self.durability,
            value_cache_bytes: 1 << 20,
            compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
            hints: Hints::Always,
            ..Config::default()
        }
    }
}

/// Buffered writes wait for a full buffer, a rotation or a sync: the flusher
/// thread never runs within a test, so a run is reproducible.
const BUFFERED: Durability = Durability::Buffered { flush_every: Duration::from_secs(3600) };

/// An open database and its three trees.
struct Session {
    consts: ConstTree<u32, 16>,
    var: VarTree<u64>,
    typed: TypedTree<Rec>,
    db: Db,
}

impl Session {
    fn open(sim: &SimFs, scen: &Scenario) -> armdb::Result<Session> {
        let db = Db::open(DB, scen.config(sim))?;
        let consts = db.const_tree::<u32, 16>("consts")?;
        let var = db.var_tree::<u64>("var")?;
        let typed = db.tree::<Rec>()?;
        Ok(Session { consts, var, typed, db })
    }

    fn close(self) -> armdb::Result<()> {
        let Session { consts, var, typed, db } = self;
        drop((consts, var, typed));
        db.close()
    }

    /// Everything the three trees hold.
    fn read(&self, ctx: &str) -> Model {
        let mut m = Model::new();
        for (k, v) in self.consts.iter() {
            m.insert(Id::Const(k), v.to_vec());
        }
        for (k, v) in support::var_pairs(self.var.iter(), ctx) {
            m.insert(Id::Var(k), v);
        }
        for r in self.typed.iter() {
            m.insert(Id::Typed(r.id), typed_repr(&r));
        }
        m
    }

    /// Checks the typed tree's secondary index against its records, and the
    /// key count against `model`.
    fn check_derived(&self, model: &Model, ctx: &str) {
        for tag in 0..TAGS {
            let found: Vec<u16> = self.typed.find_by(Rec::by_tag(), &tag).map(|r| r.id).collect();
            let want: Vec<u16> = model
                .iter()
                .filter_map(|(id, v)| match id {
                    Id::Typed(k) if v.first() == Some(&tag) => Some(*k),
                    _ => None,
                })
                .collect();
            assert_eq!(found, want, "{ctx}: the secondary index on tag {tag} disagrees with the records");
        }
        assert_eq!(self.db.stats().keys, model.len() as u64, "{ctx}: Stats::keys");
    }

    /// Applies one write; checks what it returns against `model`.
    fn write(&self, w: &Write, model: &Model, ctx: &str) -> armdb::Result<()> {
        let old = model.get(&w.id());
        match w {
            Write::Const(k, Some(v)) => {
                let prev = self.consts.put(k, v)?;
                assert_eq!(
                    prev.map(|p| p.to_vec()).as_ref(),
                    old,
                    "{ctx}: const put returned another old value"
                );
            }
            Write::Const(k, None) => {
                let prev = self.consts.delete(k)?;
                assert_eq!(
                    prev.map(|p| p.to_vec()).as_ref(),
                    old,
                    "{ctx}: const delete returned another old value"
                );
            }
            Write::Var(k, Some(v)) => self.var.put(k, v)?,
            Write::Var(k, None) => {
                let existed = self.var.delete(k)?;
                assert_eq!(existed, old.is_some(), "{ctx}: var delete of {k}");
            }
            Write::Typed(_, Some(r)) => {
                let prev = self.typed.put(r)?;
                assert_eq!(
                    prev.map(|p| typed_repr(&p)).as_ref(),
                    old,
                    "{ctx}: typed put returned another old record"
                );
            }
            Write::Typed(k, None) => {
                let prev = self.typed.delete(k)?;
                assert_eq!(
                    prev.map(|p| typed_repr(&p)).as_ref(),
                    old,
                    "{ctx}: typed delete returned another old record"
                );
            }
        }
        Ok(())
    }

    fn batch(&self, writes: &[Write]) -> armdb::Result<()> {
        let mut b = self.db.batch();
        for w in writes {
            match w {
                Write::Const(k, Some(v)) => b.put_const(&self.consts, k, v),
                Write::Const(k, None) => b.delete_const(&self.consts, k),
                Write::Var(k, Some(v)) => b.put_var(&self.var, k, v),
                Write::Var(k, None) => b.delete_var(&self.var, k),
                Write::Typed(_, Some(r)) => b.put(&self.typed, r),
                Write::Typed(k, None) => b.delete(&self.typed, k),
            }
        }
        b.commit()
    }
}

/// The shard directory index of a path under `DB`, if it is in one.
fn shard_of_path(path: &Path) -> Option<usize> {
    let rel = path.strip_prefix(DB).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    first.strip_prefix("shard-")?.parse().ok()
}

fn is_log(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "log")
}

/// The written length of every shard's log files together.
fn shard_bytes(sim: &SimFs, shards: usize) -> Vec<usize> {
    let mut out = vec![0; shards];
    for f in sim.list_files() {
        if let Some(s) = shard_of_path(&f).filter(|_| is_log(&f)) {
            // Entries, not length: an active file is longer than its entries.
            out[s] += sim.read_file(&f).map_or(0, |b| support::entries_end(&b));
        }
    }
    out
}

/// The written length of every shard's active file: its newest file whose
/// header says "log" (compaction outputs may have higher ids).
fn active_lens(sim: &SimFs, shards: usize) -> Vec<u64> {
    let mut newest: Vec<Option<(PathBuf, u64)>> = vec![None; shards];
    for f in sim.list_files() {
        let Some(s) = shard_of_path(&f).filter(|_| is_log(&f)) else { continue };
        let Some(bytes) = sim.read_file(&f) else { continue };
        if bytes.len() > 12 && bytes[12] != 0 {
            continue;
        }
        if newest[s].as_ref().is_none_or(|(p, _)| *p < f) {
            newest[s] = Some((f, support::entries_end(&bytes) as u64));
        }
    }
    newest.into_iter().map(|n| n.map_or(FILE_HEADER, |(_, len)| len)).collect()
}

/// Which shard each key lives in, found by writing each key once on a scratch
/// disk (trees are created in the same order, so they get the same ids) and
/// seeing which shard's files grew.
fn discover_shards(scen: &Scenario) -> HashMap<Id, usize> {
    if scen.shards == 1 {
        return universe().into_iter().map(|id| (id, 0)).collect();
    }
    let sim = SimFs::new();
    let scratch = Scenario { durability: Durability::Flush, ..*scen };
    let s = Session::open(&sim, &scratch).expect("open the scratch database");
    let mut model = Model::new();
    let mut out = HashMap::new();
    for id in universe() {
        let w = match id {
            Id::Const(k) => Write::Const(k, Some([7; 16])),
            Id::Var(k) => Write::Var(k, Some(b"where".to_vec())),
            Id::Typed(k) => Write::Typed(k, Some(Rec { id: k, tag: 0, body: "where".into() })),
        };
        let before = shard_bytes(&sim, scen.shards);
        s.write(&w, &model, "scratch").expect("a write on the scratch database");
        apply(&mut model, &[(id, w.value())]);
        let after = shard_bytes(&sim, scen.shards);
        let grew: Vec<usize> = (0..scen.shards).filter(|&i| after[i] != before[i]).collect();
        assert_eq!(grew.len(), 1, "one write to {id:?} grew shards {grew:?}");
        out.insert(id, grew[0]);
    }
    out
}

/// What a scenario counted.
#[derive(Debug, Default)]
struct Counts {
    cycles: usize,
    crash_points: usize,
    phases: BTreeMap<&'static str, usize>,
    losses: BTreeMap<&'static str, usize>,
    actions: usize,
    acked_writes: usize,
    /// Ops acknowledged although the power was already cut.
    acked_after_cut: usize,
    in_flight_kept: usize,
    in_flight_lost: usize,
    /// Ops (with entries) since the last durable point that did not survive.
    unsynced_lost: usize,
    unsynced_kept: usize,
    global_prefix_violations: usize,
    first_global_violation: Option<String>,
    per_shard_matched: usize,
    per_shard_unchecked: usize,
    clean_reopens: usize,
    compactions: usize,
    files_compacted: usize,
    truncated_bytes: u64,
    incomplete_batches: u64,
}

struct Runner {
    scen: Scenario,
    seed: u64,
    rng: SmallRng,
    sim: SimFs,
    shard_of: HashMap<Id, usize>,
    /// The engine's state as acknowledged.
    model: Model,
    /// The state at the last durable point.
    base: Model,
    /// Ops since the last durable point; the last one may be unacknowledged.
    pending: Vec<Op>,
    uid: u64,
    cycle: usize,
    loss: Loss,
    counts: Counts,
    /// `ARMDB_TRACE_FROM=<cycle>`: print every action and the files on disk
    /// from that cycle on (to study a failure).
    trace_from: usize,
}

impl Runner {
    fn new(scen: Scenario, seed: u64) -> Self {
        Self {
            scen,
            seed,
            // Each scenario draws from its own stream of the one seed.
            rng: SmallRng::seed_from_u64(seed ^ support::fnv1a64(scen.name.as_bytes())),
            sim: SimFs::new(),
            shard_of: discover_shards(&scen),
            model: Model::new(),
            base: Model::new(),
            pending: Vec::new(),
            uid: 0,
            cycle: 0,
            loss: Loss::DropUnsynced,
            counts: Counts::default(),
            trace_from: std::env::var("ARMDB_TRACE_FROM")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX),
        }
    }

    fn ctx(&self) -> String {
        format!("[{}] ARMDB_SEED={} cycle {} ({:?})", self.scen.name, self.seed, self.cycle, self.loss)
    }

    fn tracing(&self) -> bool {
        self.cycle >= self.trace_from
    }

    /// Prints every file of the disk: data files with their kind and seqs.
    fn trace_files(&self, when: &str) {
        println!("  files {when}:");
        for f in self.sim.list_files() {
            let bytes = self.sim.read_file(&f).unwrap_or_default();
            let mut line = format!("    {} {} bytes", f.display(), bytes.len());
            if is_log(&f) && bytes.len() >= FILE_HEADER as usize {
                line += &format!(" kind {}", bytes[12]);
                let mut at = FILE_HEADER as usize;
                let mut seqs = Vec::new();
                while at + ENTRY_HEADER as usize <= bytes.len() {
                    let word = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
                    let key_len = u16::from_le_bytes([bytes[at + 12], bytes[at + 13]]) as usize;
                    let value_len =
                        u32::from_le_bytes(bytes[at + 16..at + 20].try_into().expect("4 bytes")) as usize;
                    if word == 0 {
                        seqs.push("0..".to_string());
                        break;
                    }
                    let tomb = if word >> 63 == 1 { "t" } else { "" };
                    seqs.push(format!("{}{tomb}", word & !(1 << 63)));
                    at += (ENTRY_HEADER as usize + key_len + value_len).next_multiple_of(8);
                }
                line += &format!(" seqs {seqs:?}");
            }
            println!("{line}");
        }
    }

    fn next_uid(&mut self) -> u64 {
        self.uid += 1;
        self.uid
    }

    fn const_value(&mut self, k: u32) -> [u8; 16] {
        let uid = self.next_uid();
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&uid.to_le_bytes());
        v[8..12].copy_from_slice(&k.to_le_bytes());
        let check = support::fnv1a64(&v[..12]) as u32;
        v[12..].copy_from_slice(&check.to_le_bytes());
        v
    }

    fn var_value(&mut self, k: u64) -> Vec<u8> {
        let uid = self.next_uid();
        let len = if self.rng.random_ratio(1, 40) {
            self.rng.random_range(4_500..9_000)
        } else {
            self.rng.random_range(0..700)
        };
        let mut v = format!("v{uid}k{k}:").into_bytes();
        v.extend((0..len).map(|i| b'a' + ((uid as usize + i) % 26) as u8));
        v
    }

    fn record(&mut self, k: u16) -> Rec {
        let uid = self.next_uid();
        let filler = self.rng.random_range(0..60);
        let body = format!("t{uid}k{k}:{}", "x".repeat(filler));
        Rec { id: k, tag: (uid % u64::from(TAGS)) as u8, body }
    }

    fn random_write(&mut self) -> Write {
        match self.rng.random_range(0..100) {
            0..40 => {
                let k = self.rng.random_range(0..CONST_KEYS);
                Write::Const(k, Some(self.const_value(k)))
            }
            40..52 => Write::Const(self.rng.random_range(0..CONST_KEYS), None),
            52..78 => {
                let k = self.rng.random_range(0..VAR_KEYS);
                Write::Var(k, Some(self.var_value(k)))
            }
            78..88 => Write::Var(self.rng.random_range(0..VAR_KEYS), None),
            88..96 => {
                let k = self.rng.random_range(0..TYPED_KEYS);
                Write::Typed(k, Some(self.record(k)))
            }
            _ => Write::Typed(self.rng.random_range(0..TYPED_KEYS), None),
        }
    }

    fn random_action(&mut self) -> Action {
        match self.rng.random_range(0..1000) {
            0..860 => Action::Write,
            860..950 => Action::Batch,
            950..980 => Action::Sync,
            980..992 => Action::Compact,
            992..997 => Action::Close,
            _ => Action::DropReopen,
        }
    }

    /// The entries `writes` change, applied as one batch to the current state:
    /// the last write per key wins; a delete of an absent key writes nothing.
    fn effective(&self, writes: &[Write]) -> Vec<(Id, Option<Vec<u8>>)> {
        let mut last: BTreeMap<Id, Option<Vec<u8>>> = BTreeMap::new();
        for w in writes {
            last.insert(w.id(), w.value());
        }
        last.into_iter().filter(|(id, v)| v.is_some() || self.model.contains_key(id)).collect()
    }

    /// Whether `writes` (a batch if `batch`) rotate some shard's active file.
    fn would_rotate(&self, writes: &[Write], batch: bool) -> bool {
        let lens = active_lens(&self.sim, self.scen.shards);
        let mut need = vec![0u64; self.scen.shards];
        for w in writes {
            if w.value().is_some() || self.model.contains_key(&w.id()) {
                need[self.shard_of[&w.id()]] += w.entry_len();
            }
        }
        (0..self.scen.shards).any(|s| {
            let marker = if batch { (ENTRY_HEADER + 16).next_multiple_of(8) } else { 0 };
            need[s] > 0 && lens[s] > FILE_HEADER && lens[s] + need[s] + marker > self.scen.max_file_size
        })
    }

    fn durable_point(&mut self) {
        self.base.clone_from(&self.model);
        self.pending.clear();
    }

    fn note_cut(&mut self, phase: &'static str) {
        self.counts.crash_points += 1;
        *self.counts.phases.entry(phase).or_default() += 1;
    }

    /// Names the phase a cut during `action` fell in.
    fn phase(
        &self,
        action: Action,
        what: &'static str,
        before: SimStats,
        tmp_before: &BTreeSet<PathBuf>,
        rotating: bool,
    ) -> &'static str {
        let now = self.sim.stats();
        let during = (now.syncs + now.dir_syncs) - (before.syncs + before.dir_syncs);
        if during == 0 {
            return "background";
        }
        let new_tmp: Vec<String> = self
            .sim
            .list_files()
            .into_iter()
            .filter(|f| !tmp_before.contains(f))
            .map(|f| f.to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".tmp"))
            .collect();
        let sub = if new_tmp.iter().any(|f| f.ends_with(".hint.tmp")) {
            "hint"
        } else if new_tmp.iter().any(|f| f.ends_with(".log.tmp")) {
            "output"
        } else if new_tmp.iter().any(|f| f.ends_with("MANIFEST.tmp")) {
            "manifest"
        } else {
            "fsync"
        };
        match action {
            Action::Write | Action::Batch => {
                // Outside `Sync` mode the only fsync inside a write is a rotation's.
                if !self.scen.sync_mode() || (rotating && during == 1) { "rotation" } else { what }
            }
            Action::Sync => "sync",
            Action::Compact => match sub {
                "hint" => "compact: hint writing",
                "output" => "compact: output files",
                "manifest" => "compact: manifest",
                _ => "compact: fsync",
            },
            Action::Close => match sub {
                "hint" => "close: hint writing",
                "manifest" => "close: manifest",
                _ => "close: fsync",
            },
            Action::DropReopen => "reopen",
        }
    }

    /// Runs one action. Returns the session to go on with, or `None` once the
    /// power is cut (the session is gone).
    fn step(&mut self, s: Session, action: Action) -> Option<Session> {
        self.counts.actions += 1;
        if self.tracing() && !matches!(action, Action::Write | Action::Batch) {
            println!("  {action:?} (sim {:?})", self.sim.stats());
        }
        let ctx = self.ctx();
        let before = self.sim.stats();
        let tmp_before: BTreeSet<PathBuf> = match action {
            Action::Compact | Action::Close => self.sim.list_files().into_iter().collect(),
            _ => BTreeSet::new(),
        };
        match action {
            Action::Write | Action::Batch => {
                let (writes, what) = if action == Action::Batch {
                    let n = self.rng.random_range(2..=8);
                    ((0..n).map(|_| self.random_write()).collect::<Vec<_>>(), "batch")
                } else {
                    let w = self.random_write();
                    let what = if w.value().is_some() { "put" } else { "delete" };
                    (vec![w], what)
                };
                let rotating = self.scen.sync_mode() && self.would_rotate(&writes, action == Action::Batch);
                let entries = self.effective(&writes);
                if self.tracing() {
                    println!(
                        "  {what} {:?}",
                        entries.iter().map(|(id, v)| (id, show(v.as_ref()))).collect::<Vec<_>>()
                    );
                }
                let result = if action == Action::Batch {
                    s.batch(&writes)
                } else {
                    s.write(&writes[0], &self.model, &ctx)
                };
                let cut = self.sim.is_power_cut();
                match result {
                    Ok(()) => {
                        apply(&mut self.model, &entries);
                        self.pending.push(Op { what, entries, acked: true });
                        self.counts.acked_writes += 1;
                        if cut {
                            self.counts.acked_after_cut += 1;
                        }
                        if self.scen.sync_mode() {
                            // Acknowledged in `Sync` mode: durable.
                            self.durable_point();
                        }
                    }
                    Err(e) => {
                        assert!(cut, "{ctx}: a {what} failed without a power cut: {e}");
                        self.pending.push(Op { what, entries, acked: false });
                    }
                }
                if cut {
                    let phase = self.phase(action, what, before, &tmp_before, rotating);
                    self.note_cut(phase);
                    return None;
                }
                Some(s)
            }
            Action::Sync => match s.db.sync() {
                Ok(()) => {
                    self.durable_point();
                    if self.sim.is_power_cut() {
                        self.note_cut("background");
                        return None;
                    }
                    Some(s)
                }
                Err(e) => {
                    assert!(self.sim.is_power_cut(), "{ctx}: sync failed without a power cut: {e}");
                    let phase = self.phase(action, "sync", before, &tmp_before, false);
                    self.note_cut(phase);
                    None
                }
            },
            Action::Compact => match s.db.compact() {
                Ok(report) => {
                    self.counts.compactions += 1;
                    self.counts.files_compacted += report.files_compacted;
                    if report.files_compacted > 0 {
                        // The pass fsynced every shard and recorded the durable seq.
                        self.durable_point();
                    }
                    if self.sim.is_power_cut() {
                        self.note_cut("background");
                        return None;
                    }
                    assert_eq!(s.read(&ctx), self.model, "{ctx}: the state after compact()");
                    Some(s)
                }
                Err(e) => {
                    assert!(self.sim.is_power_cut(), "{ctx}: compact failed without a power cut: {e}");
                    let phase = self.phase(action, "compact", before, &tmp_before, false);
                    self.note_cut(phase);
                    None
                }
            },
            Action::Close => match s.close() {
                Ok(()) => {
                    self.durable_point();
                    self.reopen_clean("close")
                }
                Err(e) => {
                    assert!(self.sim.is_power_cut(), "{ctx}: close failed without a power cut: {e}");
                    let phase = self.phase(action, "close", before, &tmp_before, false);
                    self.note_cut(phase);
                    None
                }
            },
            Action::DropReopen => {
                // A process exit: the last handle flushes, nothing is fsynced.
                drop(s);
                self.reopen_clean("drop")
            }
        }
    }

    /// Reopens after a close or drop without a power cut: nothing may be lost.
    fn reopen_clean(&mut self, after: &str) -> Option<Session> {
        let ctx = self.ctx();
        match Session::open(&self.sim, &self.scen) {
            Ok(s) if !self.sim.is_power_cut() => {
                let got = s.read(&ctx);
                assert_eq!(
                    got, self.model,
                    "{ctx}: reopen after {after} without a power cut lost or changed data"
                );
                s.check_derived(&self.model, &ctx);
                self.counts.clean_reopens += 1;
                Some(s)
            }
            Ok(s) => {
                drop(s);
                self.note_cut("reopen");
                None
            }
            Err(e) => {
                assert!(
                    self.sim.is_power_cut(),
                    "{ctx}: reopen after {after} failed without a power cut: {e}"
                );
                self.note_cut("reopen");
                None
            }
        }
    }

    /// Runs actions until the power is cut (by the armed fsync or, after
    /// `MAX_ACTIONS_PER_CYCLE`, by the test).
    fn run_until_cut(&mut self, mut s: Session) {
        for _ in 0..MAX_ACTIONS_PER_CYCLE {
            let action = self.random_action();
            match self.step(s, action) {
                Some(next) => s = next,
                None => return,
            }
        }
        self.sim.cut_power();
        self.note_cut("forced");
        drop(s);
    }

    /// Runs `n` actions with the power safe; `None` if one of them lost it anyway
    /// (background work cannot: nothing is armed).
    fn warm_up(&mut self, mut s: Session, n: usize) -> Session {
        self.sim.cut_power_at_sync(u64::MAX);
        for _ in 0..n {
            let action = self.random_action();
            s = self
                .step(s, action)
                .unwrap_or_else(|| panic!("{}: the power went while disarmed", self.ctx()));
        }
        s
    }

    fn next_loss(&mut self) -> Loss {
        self.loss = if self.counts.crash_points.is_multiple_of(2) {
            Loss::DropUnsynced
        } else {
            Loss::KeepRandomPages { seed: self.rng.random() }
        };
        let name = match self.loss {
            Loss::DropUnsynced => "DropUnsynced",
            Loss::KeepRandomPages { .. } => "KeepRandomPages",
        };
        *self.counts.losses.entry(name).or_default() += 1;
        self.loss
    }

    /// One cycle: from an open session to a power cut and a checked recovery.
    fn cycle(&mut self, s: Session) -> Session {
        self.cycle += 1;
        self.counts.cycles += 1;
        let plan = self.rng.random_range(0..100);
        if self.tracing() {
            println!("cycle {} plan {plan}", self.cycle);
        }
        match plan {
            0..12 => {
                // A cut somewhere inside compact().
                let n = self.rng.random_range(0..8);
                let s = self.warm_up(s, n);
                self.sim.cut_power_at_sync(self.rng.random_range(1..=40));
                if let Some(s) = self.step(s, Action::Compact) {
                    self.run_until_cut(s);
                }
            }
            12..20 => {
                // A cut somewhere inside close() (hints, durable seq, final fsyncs).
                let n = self.rng.random_range(0..8);
                let s = self.warm_up(s, n);
                self.sim.cut_power_at_sync(self.rng.random_range(1..=16));
                if let Some(s) = self.step(s, Action::Close) {
                    self.run_until_cut(s);
                }
            }
            _ => {
                self.sim.cut_power_at_sync(self.rng.random_range(1..=self.scen.max_k));
                self.run_until_cut(s);
            }
        }
        // One cycle in ten also cuts the power during the recovery that follows.
        let cut_recovery = plan >= 90;
        self.recover(cut_recovery)
    }

    /// Restarts the disk, reopens (cutting the power once more during the open
    /// if `cut_recovery`) and checks what recovery kept.
    fn recover(&mut self, cut_recovery: bool) -> Session {
        let loss = self.next_loss();
        if self.tracing() {
            println!("cycle {} cut; restart with {loss:?}", self.cycle);
            self.trace_files("before the restart");
        }
        self.sim.restart(loss);
        if self.tracing() {
            self.trace_files("after the restart");
        }
        if cut_recovery {
            self.sim.cut_power_at_sync(self.rng.random_range(1..=3));
            let opened = Session::open(&self.sim, &self.scen);
            let cut = self.sim.is_power_cut();
            self.sim.cut_power_at_sync(u64::MAX);
            match opened {
                Ok(s) if !cut => return self.verify_recovered(s),
                Ok(s) => drop(s),
                Err(e) => assert!(cut, "{}: Db::open failed without a power cut: {e}", self.ctx()),
            }
            self.note_cut("recovery");
            let loss = self.next_loss();
            self.sim.restart(loss);
        }
        let s = Session::open(&self.sim, &self.scen).unwrap_or_else(|e| {
            panic!("{}: Db::open after a power cut failed (finding: keep this seed): {e}", self.ctx())
        });
        self.verify_recovered(s)
    }

    fn verify_recovered(&mut self, s: Session) -> Session {
        let ctx = self.ctx();
        let got = s.read(&ctx);
        let report = s.db.stats().recovery;
        assert_eq!(report.corrupt_entries, 0, "{ctx}: a power cut left corruption: {report:?}");
        self.counts.truncated_bytes += report.truncated_bytes;
        self.counts.incomplete_batches += report.incomplete_batches;
        self.check(&got, &ctx);
        s.check_derived(&got, &ctx);
        self.model.clone_from(&got);
        self.base = got;
        self.pending.clear();
        s
    }

    /// The states `base + pending[..j]` for every `j`.
    fn prefix_states(&self) -> Vec<Model> {
        let mut states = vec![self.base.clone()];
        let mut m = self.base.clone();
        for op in &self.pending {
            apply(&mut m, &op.entries);
            states.push(m.clone());
        }
        states
    }

    fn check(&mut self, got: &Model, ctx: &str) {
        let states = self.prefix_states();
        let matching: Vec<usize> = (0..states.len()).filter(|&j| states[j] == *got).collect();
        let with_entries = |ops: &[Op]| ops.iter().filter(|o| !o.entries.is_empty()).count();
        if self.scen.sync_mode() {
            assert!(self.pending.len() <= 1, "{ctx}: in Sync mode only the op in flight is not durable");
            if matching.is_empty() {
                panic!(
                    "{ctx}: the recovered state is neither the state after the last acknowledged op nor \
                     the one after the op in flight ({:?}):\n{}",
                    self.pending.first().map(|o| (o.what, o.acked)),
                    self.diagnose(got, &states)
                );
            }
            if with_entries(&self.pending) == 1 {
                if matching.contains(&1) {
                    self.counts.in_flight_kept += 1;
                } else {
                    self.counts.in_flight_lost += 1;
                }
            }
        } else if self.scen.shards == 1 {
            let Some(&j) = matching.last() else {
                panic!(
                    "{ctx}: the recovered state is no prefix of the trace since the last sync point \
                     ({} ops since):\n{}",
                    self.pending.len(),
                    self.diagnose(got, &states)
                );
            };
            self.counts.unsynced_kept += with_entries(&self.pending[..j]);
            self.counts.unsynced_lost += with_entries(&self.pending[j..]);
        } else {
            self.check_per_key(got, ctx);
            match self.per_shard(got) {
                Ok(Some(kept)) => {
                    self.counts.per_shard_matched += 1;
                    self.counts.unsynced_kept += kept;
                    self.counts.unsynced_lost += with_entries(&self.pending) - kept;
                }
                Ok(None) => self.counts.per_shard_unchecked += 1,
                Err(why) => panic!(
                    "{ctx}: the recovered state is no per-shard prefix of the trace since the last sync \
                     point with incomplete batches dropped ({why}):\n{}",
                    self.diagnose(got, &states)
                ),
            }
            if matching.is_empty() {
                self.counts.global_prefix_violations += 1;
                if self.counts.first_global_violation.is_none() {
                    self.counts.first_global_violation = Some(format!(
                        "{ctx}: not a prefix of the global trace ({} ops since the sync point):\n{}",
                        self.pending.len(),
                        self.diagnose(got, &states)
                    ));
                }
            }
        }
    }

    /// Every key holds its value at the last durable point or a value written
    /// since (absent: deleted since): no synced write lost unless overwritten,
    /// nothing synced-deleted back, no value that was never written.
    fn check_per_key(&self, got: &Model, ctx: &str) {
        let mut ids: BTreeSet<Id> = self.base.keys().chain(got.keys()).copied().collect();
        ids.extend(self.pending.iter().flat_map(|o| o.entries.iter().map(|(id, _)| *id)));
        for id in ids {
            let have = got.get(&id);
            let base = self.base.get(&id);
            let since: Vec<Option<&Vec<u8>>> = self
                .pending
                .iter()
                .flat_map(|o| o.entries.iter().filter(|(i, _)| *i == id).map(|(_, v)| v.as_ref()))
                .collect();
            if have == base || since.contains(&have) {
                continue;
            }
            let what = match (have, base) {
                (Some(_), None) => "a key deleted (or never written) before the sync point came back",
                (None, Some(_)) => "a synced value is gone although nothing deleted it since",
                _ => "a key holds a value that was never written or was overwritten before the sync point",
            };
            panic!(
                "{ctx}: {what}: {id:?} holds {}, synced {}, written since: {:?}",
                show(have),
                show(base),
                since.iter().map(|v| show(*v)).collect::<Vec<_>>()
            );
        }
    }

    /// Searches for per-shard prefixes of the pending ops (each shard keeps the
    /// first `m[shard]` ops that wrote to it; a batch counts only if every shard
    /// it wrote to kept it) that give `got`. `Ok(Some(ops kept))` on a match,
    /// `Ok(None)` if there were too many candidates to try, `Err` if none fits.
    fn per_shard(&self, got: &Model) -> Result<Option<usize>, String> {
        let shards = self.scen.shards;
        let ops: Vec<&Op> = self.pending.iter().filter(|o| !o.entries.is_empty()).collect();
        let op_shards: Vec<BTreeSet<usize>> =
            ops.iter().map(|o| o.entries.iter().map(|(id, _)| self.shard_of[id]).collect()).collect();
        // rank[i][shard]: the position of op i among the ops that wrote to shard.
        let mut count = vec![0usize; shards];
        let mut rank: Vec<BTreeMap<usize, usize>> = Vec::with_capacity(ops.len());
        for set in &op_shards {
            let mut r = BTreeMap::new();
            for &s in set {
                r.insert(s, count[s]);
                count[s] += 1;
            }
            rank.push(r);
        }
        // Bounds from the unique values: the op that wrote a value that survived
        // was kept; a later single-shard op on the same key was not.
        let mut lo = vec![0usize; shards];
        let mut hi = count.clone();
        let mut ids: BTreeSet<Id> = got.keys().copied().collect();
        ids.extend(ops.iter().flat_map(|o| o.entries.iter().map(|(id, _)| *id)));
        for id in ids {
            let shard = self.shard_of[&id];
            let writers: Vec<(usize, Option<&Vec<u8>>)> = ops
                .iter()
                .enumerate()
                .flat_map(|(i, o)| {
                    o.entries.iter().filter(|(e, _)| *e == id).map(move |(_, v)| (i, v.as_ref()))
                })
                .collect();
            let Some(v) = got.get(&id) else { continue };
            let after = match writers.iter().position(|(_, w)| *w == Some(v)) {
                Some(p) => {
                    lo[shard] = lo[shard].max(rank[writers[p].0][&shard] + 1);
                    p + 1
                }
                None if self.base.get(&id) == Some(v) => 0,
                None => return Err(format!("{id:?} holds {} which no op wrote", show(Some(v)))),
            };
            if let Some(&(i, _)) = writers[after..].iter().find(|(i, _)| op_shards[*i].len() == 1) {
                hi[shard] = hi[shard].min(rank[i][&shard]);
            }
        }
        if let Some(s) = (0..shards).find(|&s| lo[s] > hi[s]) {
            return Err(format!("shard {s} must keep at least {} and at most {} of its ops", lo[s], hi[s]));
        }
        let candidates: u64 = (0..shards).map(|s| (hi[s] - lo[s] + 1) as u64).product();
        if candidates > MAX_CANDIDATES {
            return Ok(None);
        }
        let mut m = lo.clone();
        loop {
            let mut state = self.base.clone();
            let mut kept = 0;
            for (i, op) in ops.iter().enumerate() {
                if rank[i].iter().all(|(&s, &r)| r < m[s]) {
                    apply(&mut state, &op.entries);
                    kept += 1;
                }
            }
            if state == *got {
                return Ok(Some(kept));
            }
            // The next vector in [lo, hi].
            let mut s = 0;
            loop {
                if s == shards {
                    return Err(format!(
                        "none of {candidates} per-shard cuts between {lo:?} and {hi:?} ops gives the state"
                    ));
                }
                if m[s] < hi[s] {
                    m[s] += 1;
                    break;
                }
                m[s] = lo[s];
                s += 1;
            }
        }
    }

    /// The keys where `got` differs from the closest candidate state, with
    /// each key's history since the durable point.
    fn diagnose(&self, got: &Model, states: &[Model]) -> String {
        let diff = |m: &Model| -> Vec<Id> {
            let ids: BTreeSet<Id> = m.keys().chain(got.keys()).copied().collect();
            ids.into_iter().filter(|id| m.get(id) != got.get(id)).collect()
        };
        let (j, keys) = states
            .iter()
            .enumerate()
            .map(|(j, m)| (j, diff(m)))
            .min_by_key(|(_, d)| d.len())
            .expect("at least the durable state");
        let mut out = format!(
            "closest: the first {j} of {} ops since the durable point ({} differing keys)\n",
            self.pending.len(),
            keys.len()
        );
        for op in &self.pending {
            out += &format!("  op {} acked={} entries={}\n", op.what, op.acked, op.entries.len());
        }
        for id in keys.iter().take(12) {
            let history: Vec<String> = self
                .pending
                .iter()
                .enumerate()
                .flat_map(|(i, o)| {
                    o.entries
                        .iter()
                        .filter(|(e, _)| e == id)
                        .map(move |(_, v)| format!("op {i} {}: {}", o.what, show(v.as_ref())))
                })
                .collect();
            out += &format!(
                "  {id:?} (shard {}): got {}, expected {}, durable {}, since {history:?}\n",
                self.shard_of[id],
                show(got.get(id)),
                show(states[j].get(id)),
                show(self.base.get(id))
            );
        }
        out
    }

    fn run(&mut self, cycles: usize) {
        let started = Instant::now();
        let mut s = Session::open(&self.sim, &self.scen).expect("create the database");
        for _ in 0..cycles {
            s = self.cycle(s);
        }
        s.close().expect("a final close");
        let s = Session::open(&self.sim, &self.scen).expect("a final reopen");
        assert_eq!(s.read("final"), self.model, "{}: the final clean reopen", self.ctx());
        drop(s);
        let c = &self.counts;
        println!(
            "[{}] {} crash points in {} cycles ({:.1} s); losses {:?}",
            self.scen.name,
            c.crash_points,
            c.cycles,
            started.elapsed().as_secs_f64(),
            c.losses
        );
        println!("[{}] phases: {:?}", self.scen.name, c.phases);
        println!(
            "[{}] {} actions, {} writes acknowledged ({} after the cut), {} clean reopens, {} compactions \
             rewriting {} files; recovery truncated {} bytes and dropped {} incomplete batches",
            self.scen.name,
            c.actions,
            c.acked_writes,
            c.acked_after_cut,
            c.clean_reopens,
            c.compactions,
            c.files_compacted,
            c.truncated_bytes,
            c.incomplete_batches
        );
        if self.scen.sync_mode() {
            println!(
                "[{}] op in flight at the cut: kept {}, lost {}",
                self.scen.name, c.in_flight_kept, c.in_flight_lost
            );
        } else {
            println!(
                "[{}] unsynced ops at the cut: kept {}, lost {}",
                self.scen.name, c.unsynced_kept, c.unsynced_lost
            );
        }
        if self.scen.shards > 1 && !self.scen.sync_mode() {
            println!(
                "[{}] per-shard prefix matched {} times ({} too ambiguous to search); not a global prefix \
                 {} times",
                self.scen.name, c.per_shard_matched, c.per_shard_unchecked, c.global_prefix_violations
            );
            if let Some(first) = &c.first_global_violation {
                println!("[{}] first global-prefix violation: {first}", self.scen.name);
            }
        }
        println!("[{}] sim: {:?}", self.scen.name, self.sim.stats());
        assert!(c.crash_points >= cycles, "every cycle cuts the power");
        assert!(
            c.phases.get("forced").copied().unwrap_or(0) * 20 <= c.crash_points,
            "too few armed cuts landed"
        );
    }
}

/// A value, short: its length and first bytes.
fn show(v: Option<&Vec<u8>>) -> String {
    match v {
        None => "absent".into(),
        Some(v) => {
            let head = String::from_utf8_lossy(&v[..v.len().min(20)]).into_owned();
            format!("{head:?}.. ({} bytes)", v.len())
        }
    }
}

fn run_scenario(scen: Scenario) {
    let seed = support::seed(DEFAULT_SEED);
    let total = support::op_count(CI_CRASH_POINTS, LOCAL_CRASH_POINTS);
    let cycles = (total * scen.weight).div_ceil(100);
    Runner::new(scen, seed).run(cycles);
}

const BASE: Scenario = Scenario {
    name: "",
    shards: 1,
    durability: Durability::Sync,
    max_file_size: 4096,
    write_buffer_size: 1 << 20,
    max_k: 10,
    weight: 0,
};

#[test]
fn sync_one_shard() {
    run_scenario(Scenario { name: "sync-1", weight: 18, ..BASE });
}

#[test]
fn sync_three_shards() {
    run_scenario(Scenario { name: "sync-3", shards: 3, weight: 18, ..BASE });
}

#[test]
fn flush_one_shard() {
    run_scenario(Scenario { name: "flush-1", durability: Durability::Flush, max_k: 3, weight: 18, ..BASE });
}

#[test]
fn flush_three_shards() {
    run_scenario(Scenario {
        name: "flush-3",
        shards: 3,
        durability: Durability::Flush,
        max_k: 3,
        weight: 18,
        ..BASE
    });
}

#[test]
fn buffered_one_shard() {
    run_scenario(Scenario {
        name: "buffered-1",
        durability: BUFFERED,
        write_buffer_size: 700,
        max_k: 3,
        weight: 9,
        ..BASE
    });
}

#[test]
fn buffered_two_shards() {
    run_scenario(Scenario {
        name: "buffered-2",
        shards: 2,
        durability: BUFFERED,
        write_buffer_size: 700,
        max_k: 3,
        weight: 9,
        ..BASE
    });
}

/// 16 KiB files: the active file spans four pages, so `KeepRandomPages` leaves
/// holes of zeros with whole entries after them, which recovery must end the
/// log at.
#[test]
fn flush_one_shard_multi_page_files() {
    run_scenario(Scenario {
        name: "flush-1-16k",
        durability: Durability::Flush,
        max_file_size: 16 << 10,
        max_k: 2,
        weight: 10,
        ..BASE
    });
}
/// Engine finding (power_loss, ARMDB_SEED=202178817, flush-1 cycle 97): a
/// file created by a rotation in an earlier process lifetime whose directory
/// entry was never fsynced (the process exited without `close`) is not made
/// durable by `sync()` after the reopen: the new process does not know the
/// shard directory is dirty. A power cut then loses the whole file — writes
/// acknowledged before a successful `sync()` — and brings back keys deleted
/// in it. The same engine bug as `tests/regression_reopen_dir_sync.rs`
/// (found independently by `model_state_machine`); this is its `Flush`-mode
/// form, minimal.
#[test]
fn sync_after_a_reopen_makes_a_file_of_the_previous_run_durable() {
    let sim = SimFs::new();
    let scen = Scenario { name: "repro", durability: Durability::Flush, ..BASE };
    let s = Session::open(&sim, &scen).expect("open");
    // Rotate once: the second data file is created, its name not yet durable.
    let mut n = 0u64;
    while s.db.stats().files < 2 {
        s.var.put(&n, &[b'a'; 200]).expect("put");
        n += 1;
    }
    s.var.put(&1000, b"written in the second file by the first run").expect("put");
    // A process exit after the rotation: the last handle flushes, nothing is fsynced...
    drop(s);
    let s = Session::open(&sim, &scen).expect("reopen");
    s.var.delete(&0).expect("delete");
    s.var.put(&1001, b"written after the reopen").expect("put");
    // ...and the next run syncs: everything written before this survives a power cut.
    s.db.sync().expect("sync after the reopen");
    drop(s);
    sim.restart(Loss::DropUnsynced);
    let s = Session::open(&sim, &scen).expect("open after the power cut");
    let get = |k: u64| s.var.get(&k).expect("get").map(|v| v.to_vec());
    assert_eq!(get(1001).as_deref(), Some(&b"written after the reopen"[..]), "a synced write was lost");
    assert_eq!(get(1000).as_deref(), Some(&b"written in the second file by the first run"[..]));
    assert_eq!(get(0), None, "a synced delete was undone");
}
