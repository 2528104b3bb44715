//! Suite 7, the kill -9 supervisor: `Durability::Flush` loses no acknowledged
//! write, applies no batch in part and resurrects no deleted key, however often
//! and wherever a loaded process is killed with SIGKILL (PITFALLS 1, 7, 9, 11,
//! 13, 29).
//!
//! What it injects: the test binary re-executes itself as a child (the
//! `kill9_child` test, active only when `ARMDB_KILL9S_DIR` is set) that opens
//! one database directory, shared by every child of the run, with 3 shards and
//! 4 KiB files (the minimum, so files rotate every few writes), and runs
//! [`WRITERS`] writer threads plus a thread calling `Db::compact` after pauses
//! of 0–60 ms, next to the background worker (hint files, background
//! compaction). Each writer owns a disjoint key range of a const tree, a var
//! tree and a typed tree with a unique and a plain secondary index, and does
//! puts, overwrites, deletes and multi-tree atomic batches chosen by
//! [`plan`], a pure function of (seed, round, thread, op number); every value
//! encodes (round, thread, op, part, key) and a checksum. After an op returns
//! `Ok`, its thread prints one ack line (one locked `write(2)` + flush). The
//! parent reads the acks from the pipe and SIGKILLs the child (`Child::kill`)
//! after a random number of acks (0..=300) or after a random delay from spawn
//! (0..0.8 s, so kills land in `Db::open`, mid-compaction, mid-batch and during
//! hint writing). Then it opens the directory, or half the time a copy of it,
//! and checks what recovery gives. Checking in place, it compacts what
//! recovery left half the time (which must change nothing) and closes or
//! merely drops the database; checking a copy, it leaves the crashed directory
//! as the kill left it. The next child continues on the directory either way,
//! so it recovers a fresh crash itself (and may be killed while it does): the
//! next check covers that recovery of recovery too, since the copy's recovered
//! state is its model.
//!
//! Pass criterion, per child: for every writer thread, the recovered state of
//! its keys in all three trees is exactly the previous round's state with the
//! thread's acknowledged ops applied, or that plus its one next op (the only op
//! that may have been in flight), and nothing else — so acknowledged writes
//! survive, batches are all-or-nothing, deleted keys stay deleted, no value is
//! torn or mixed, and no key outside the writers' ranges exists. The typed
//! tree's indexes agree with its records: every record is found by its unique
//! stamp, no overwritten, deleted or unapplied stamp is found, and each group
//! of the plain index lists exactly its records in key order. The recovered
//! state becomes the next round's model. At least 200 children under CI,
//! 1,000 locally (`ARMDB_OPS` overrides); the seed (`ARMDB_SEED`) fixes the
//! plans and kill points, not the scheduling.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use armdb::{CompactionConfig, Config, Db, Durability, Hints, TypedTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

const DEFAULT_SEED: u64 = 0x0C0D_0007;
/// Writer threads per child.
const WRITERS: u8 = 3;
/// Keys each writer owns in each tree: few, so most puts overwrite.
const KEYS_PER_THREAD: u32 = 40;
/// Writer `t` owns keys `t * KEY_STRIDE ..` in every tree.
const KEY_STRIDE: u32 = 1_000;
/// A writer stops by itself after this many ops, should the parent never kill it.
const CHILD_MAX_OPS: u32 = 1 << 22;
/// Values of the typed tree's plain index.
const GROUPS: u8 = 5;
const CONST_TREE: &str = "kill9_consts";
const VAR_TREE: &str = "kill9_var";
/// Marks the child's lines on its stdout.
const MARK: &str = "armdb-kill9 ";
const ENV_DIR: &str = "ARMDB_KILL9S_DIR";
const ENV_ROUND: &str = "ARMDB_KILL9S_ROUND";
const ENV_SEED: &str = "ARMDB_KILL9S_SEED";

fn config() -> Config {
    Config {
        shards: 3,
        max_file_size: 4096,
        durability: Durability::Flush,
        // The background worker runs a compaction pass on every tick (500 ms).
        compaction: CompactionConfig {
            interval: Some(Duration::from_millis(1)),
            ..CompactionConfig::default()
        },
        hints: Hints::Always,
        ..Config::default()
    }
}

/// The typed tree: keyed by `id`, indexed by its unique `stamp` and by `group`.
#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[tree(name = "kill9_records")]
struct Rec {
    #[key]
    id: u32,
    #[index(unique)]
    stamp: u64,
    #[index]
    group: u8,
    body: Vec<u8>,
    check: u64,
}

// ---------------------------------------------------------------------------
// Deterministic ops and values
// ---------------------------------------------------------------------------

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Who wrote a value: the child (round), its writer thread, the op number and
/// the position in the op (a batch has several parts). Unique over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    round: u32,
    thread: u8,
    op: u32,
    part: u8,
}

impl Stamp {
    fn id(self) -> u64 {
        assert!(self.op < 1 << 24 && self.round < 1 << 24, "stamp fields out of range: {self}");
        (u64::from(self.round) << 40)
            | (u64::from(self.thread) << 32)
            | (u64::from(self.op) << 8)
            | u64::from(self.part)
    }

    fn from_id(id: u64) -> Self {
        Self {
            round: (id >> 40) as u32,
            thread: (id >> 32) as u8,
            op: ((id >> 8) & 0xFF_FFFF) as u32,
            part: id as u8,
        }
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "round {} thread {} op {} part {}", self.round, self.thread, self.op, self.part)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TreeKind {
    Const,
    Var,
    Typed,
}

/// One put or delete of an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Write1 {
    tree: TreeKind,
    key: u32,
    put: bool,
}

/// One op of a writer: a single put or delete, or an atomic batch.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Op {
    batch: bool,
    writes: Vec<Write1>,
}

impl Op {
    /// The op as its ack line spells it, e.g. `b C12+ V13- T14+`.
    fn describe(&self) -> String {
        let mut s = String::from(if self.batch { "b" } else { "s" });
        for w in &self.writes {
            let t = match w.tree {
                TreeKind::Const => 'C',
                TreeKind::Var => 'V',
                TreeKind::Typed => 'T',
            };
            s.push_str(&format!(" {t}{}{}", w.key, if w.put { '+' } else { '-' }));
        }
        s
    }
}

fn thread_keys(thread: u8) -> Range<u32> {
    let base = u32::from(thread) * KEY_STRIDE;
    base..base + KEYS_PER_THREAD
}

/// Op `op` of writer `thread` in round `round`: the same in the child that runs
/// it and in the parent that checks it.
fn plan(seed: u64, round: u32, thread: u8, op: u32) -> Op {
    let stamp = Stamp { round, thread, op, part: 0 };
    let mut rng = SmallRng::seed_from_u64(splitmix64(seed ^ splitmix64(stamp.id())));
    let keys = thread_keys(thread);
    let write = |rng: &mut SmallRng, put_share: u32| Write1 {
        tree: match rng.random_range(0..3) {
            0 => TreeKind::Const,
            1 => TreeKind::Var,
            _ => TreeKind::Typed,
        },
        key: rng.random_range(keys.clone()),
        put: rng.random_range(0..100) < put_share,
    };
    match rng.random_range(0..100) {
        0..62 => Op { batch: false, writes: vec![write(&mut rng, 100)] },
        62..80 => Op { batch: false, writes: vec![write(&mut rng, 0)] },
        _ => {
            let n = rng.random_range(2..=6);
            Op { batch: true, writes: (0..n).map(|_| write(&mut rng, 75)).collect() }
        }
    }
}

fn const_value(s: Stamp, key: u32) -> [u8; 32] {
    let mut v = [0u8; 32];
    v[..8].copy_from_slice(&s.id().to_le_bytes());
    v[8..12].copy_from_slice(&key.to_le_bytes());
    v[12..16].copy_from_slice(b"CNST");
    v[16..24].copy_from_slice(&splitmix64(s.id() ^ u64::from(key)).to_le_bytes());
    let check = support::fnv1a64(&v[..24]);
    v[24..].copy_from_slice(&check.to_le_bytes());
    v
}

fn var_value(s: Stamp, key: u32) -> Vec<u8> {
    let h = splitmix64(s.id() ^ (u64::from(key) << 1) ^ 0x5641_5200);
    // Mostly short; one in eight spans a good part of a 4 KiB file.
    let len = if h.is_multiple_of(8) { 600 + (h >> 8) % 1400 } else { (h >> 8) % 300 } as usize;
    let mut v = Vec::with_capacity(20 + len);
    v.extend_from_slice(&s.id().to_le_bytes());
    v.extend_from_slice(&key.to_le_bytes());
    let mut x = h;
    v.extend((0..len).map(|_| {
        x = splitmix64(x);
        x as u8
    }));
    let check = support::fnv1a64(&v);
    v.extend_from_slice(&check.to_le_bytes());
    v
}

fn record(s: Stamp, key: u32) -> Rec {
    let stamp = s.id();
    let h = splitmix64(stamp ^ (u64::from(key) << 2) ^ 0x5245_4300);
    let group = (h % u64::from(GROUPS)) as u8;
    let body: Vec<u8> = (0..(h >> 8) % 200).map(|i| (h >> (i % 56)) as u8 ^ i as u8).collect();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&key.to_le_bytes());
    bytes.extend_from_slice(&stamp.to_le_bytes());
    bytes.push(group);
    bytes.extend_from_slice(&body);
    Rec { id: key, stamp, group, body, check: support::fnv1a64(&bytes) }
}

/// Who wrote a recovered value, or why it is no value any writer wrote.
fn describe_const(key: u32, v: &[u8; 32]) -> String {
    let s = Stamp::from_id(u64::from_le_bytes(v[..8].try_into().expect("8 bytes")));
    if *v == const_value(s, key) { format!("[{s}]") } else { format!("[torn or foreign: {v:02x?}]") }
}

fn describe_var(key: u32, v: &[u8]) -> String {
    if v.len() >= 8 {
        let s = Stamp::from_id(u64::from_le_bytes(v[..8].try_into().expect("8 bytes")));
        if v == var_value(s, key).as_slice() {
            return format!("[{s}, {} bytes]", v.len());
        }
    }
    format!("[torn or foreign: {} bytes]", v.len())
}

fn describe_rec(r: &Rec) -> String {
    let s = Stamp::from_id(r.stamp);
    if *r == record(s, r.id) { format!("[{s}]") } else { format!("[torn or foreign: {r:?}]") }
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/// The three trees' contents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct State {
    trees: support::TreesModel<u32, 32>,
    typed: BTreeMap<u32, Rec>,
}

impl State {
    fn read(db: &Db, typed: &TypedTree<Rec>) -> Self {
        Self {
            trees: support::TreesModel::read(db, CONST_TREE, VAR_TREE),
            typed: typed.iter().map(|r| (r.id, (*r).clone())).collect(),
        }
    }

    fn apply(&mut self, op: &Op, round: u32, thread: u8, n: u32) {
        for (part, w) in op.writes.iter().enumerate() {
            let s = Stamp { round, thread, op: n, part: part as u8 };
            let key = w.key;
            match (w.tree, w.put) {
                (TreeKind::Const, true) => {
                    self.trees.consts.insert(key, const_value(s, key));
                }
                (TreeKind::Const, false) => {
                    self.trees.consts.remove(&key);
                }
                (TreeKind::Var, true) => {
                    self.trees.var.insert(key, var_value(s, key));
                }
                (TreeKind::Var, false) => {
                    self.trees.var.remove(&key);
                }
                (TreeKind::Typed, true) => {
                    self.typed.insert(key, record(s, key));
                }
                (TreeKind::Typed, false) => {
                    self.typed.remove(&key);
                }
            }
        }
    }

    /// The part of the state in `keys`.
    fn slice(&self, keys: &Range<u32>) -> Self {
        Self {
            trees: support::TreesModel {
                consts: self.trees.consts.range(keys.clone()).map(|(k, v)| (*k, *v)).collect(),
                var: self.trees.var.range(keys.clone()).map(|(k, v)| (*k, v.clone())).collect(),
            },
            typed: self.typed.range(keys.clone()).map(|(k, v)| (*k, v.clone())).collect(),
        }
    }

    fn len(&self) -> usize {
        self.trees.consts.len() + self.trees.var.len() + self.typed.len()
    }

    /// The value of `key` in `tree`, described.
    fn describe(&self, tree: TreeKind, key: u32) -> String {
        match tree {
            TreeKind::Const => {
                self.trees.consts.get(&key).map_or("absent".into(), |v| describe_const(key, v))
            }
            TreeKind::Var => self.trees.var.get(&key).map_or("absent".into(), |v| describe_var(key, v)),
            TreeKind::Typed => self.typed.get(&key).map_or("absent".into(), describe_rec),
        }
    }
}

/// Every key where the recovered state and the two allowed ones do not all agree, described.
fn diff(actual: &State, without: &State, with: &State, keys: &Range<u32>) -> String {
    let mut out = String::new();
    for tree in [TreeKind::Const, TreeKind::Var, TreeKind::Typed] {
        for key in keys.clone() {
            let (a, w0, w1) =
                (actual.describe(tree, key), without.describe(tree, key), with.describe(tree, key));
            if a != w0 || a != w1 {
                out.push_str(&format!(
                    "\n  {tree:?} key {key}: recovered {a}; acked-only {w0}; with in-flight op {w1}"
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------

/// Writes one line to stdout with one `write(2)` (a pipe write below
/// `PIPE_BUF` is atomic, so a kill never leaves half a line) and flushes it.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).expect("child: write a line");
    out.flush().expect("child: flush stdout");
}

struct Trees {
    consts: armdb::ConstTree<u32, 32>,
    var: armdb::VarTree<u32>,
    typed: TypedTree<Rec>,
}

impl Trees {
    fn open(db: &Db) -> Self {
        Self {
            consts: db.const_tree::<u32, 32>(CONST_TREE).expect("const tree"),
            var: db.var_tree::<u32>(VAR_TREE).expect("var tree"),
            typed: db.tree::<Rec>().expect("typed tree"),
        }
    }

    fn execute(&self, db: &Db, op: &Op, round: u32, thread: u8, n: u32) {
        let stamp = |part: usize| Stamp { round, thread, op: n, part: part as u8 };
        if op.batch {
            let mut b = db.batch();
            for (part, w) in op.writes.iter().enumerate() {
                let (s, k) = (stamp(part), &w.key);
                match (w.tree, w.put) {
                    (TreeKind::Const, true) => b.put_const(&self.consts, k, &const_value(s, *k)),
                    (TreeKind::Const, false) => b.delete_const(&self.consts, k),
                    (TreeKind::Var, true) => b.put_var(&self.var, k, &var_value(s, *k)),
                    (TreeKind::Var, false) => b.delete_var(&self.var, k),
                    (TreeKind::Typed, true) => b.put(&self.typed, &record(s, *k)),
                    (TreeKind::Typed, false) => b.delete(&self.typed, k),
                }
            }
            b.commit().expect("child: commit a batch");
            return;
        }
        let w = op.writes[0];
        let (s, k) = (stamp(0), &w.key);
        match (w.tree, w.put) {
            (TreeKind::Const, true) => {
                self.consts.put(k, &const_value(s, *k)).expect("child: const put");
            }
            (TreeKind::Const, false) => {
                self.consts.delete(k).expect("child: const delete");
            }
            (TreeKind::Var, true) => self.var.put(k, &var_value(s, *k)).expect("child: var put"),
            (TreeKind::Var, false) => {
                self.var.delete(k).expect("child: var delete");
            }
            (TreeKind::Typed, true) => {
                self.typed.put(&record(s, *k)).expect("child: typed put");
            }
            (TreeKind::Typed, false) => {
                self.typed.delete(k).expect("child: typed delete");
            }
        }
    }
}

fn env<T: std::str::FromStr>(name: &str) -> T {
    std::env::var(name).expect(name).parse().unwrap_or_else(|_| panic!("{name} must be a number"))
}

/// The child: writer threads and a compactor on the shared directory, until killed.
#[test]
fn kill9_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return; // Not a child: nothing to do in an ordinary test run.
    };
    let round: u32 = env(ENV_ROUND);
    let seed: u64 = env(ENV_SEED);
    let db = Db::open(&dir, config()).expect("child: open");
    let trees = Trees::open(&db);
    emit(&format!("{MARK}opened\n"));
    let writers_done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|thread| {
                let (db, trees) = (&db, &trees);
                scope.spawn(move || {
                    for n in 0..CHILD_MAX_OPS {
                        let op = plan(seed, round, thread, n);
                        trees.execute(db, &op, round, thread, n);
                        emit(&format!("{MARK}ack {thread} {n} {}\n", op.describe()));
                    }
                })
            })
            .collect();
        scope.spawn(|| {
            let mut rng = SmallRng::seed_from_u64(splitmix64(seed ^ u64::from(round) ^ 0xC0_C0));
            let mut n = 0u32;
            while !writers_done.load(Ordering::Relaxed) {
                // Pacing of the workload, not synchronization.
                std::thread::sleep(Duration::from_millis(rng.random_range(0..60)));
                emit(&format!("{MARK}compact-start {n}\n"));
                db.compact().expect("child: compact");
                emit(&format!("{MARK}compact-end {n}\n"));
                n += 1;
            }
        });
        for w in writers {
            w.join().expect("child: a writer panicked");
        }
        writers_done.store(true, Ordering::Relaxed);
    });
}

// ---------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------

/// A line of the child's stdout.
#[derive(Debug)]
enum Event {
    Opened,
    Ack {
        thread: u8,
        op: u32,
        desc: String,
    },
    CompactStart,
    CompactEnd,
    /// A marked line without its newline: an ack write was not atomic.
    Partial(String),
}

fn parse(line: &str) -> Event {
    let body = line.trim_end_matches('\n');
    let mut words = body.splitn(4, ' ');
    match words.next() {
        Some("opened") => Event::Opened,
        Some("compact-start") => Event::CompactStart,
        Some("compact-end") => Event::CompactEnd,
        Some("ack") => {
            let thread =
                words.next().and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("ack thread: {line:?}"));
            let op = words.next().and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("ack op: {line:?}"));
            Event::Ack { thread, op, desc: words.next().unwrap_or_default().to_owned() }
        }
        _ => panic!("unknown line from the child: {line:?}"),
    }
}

/// When the parent kills a child.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// Once this many acks (of all writers) have arrived.
    AfterAcks(u32),
    /// This long after the spawn, whatever has arrived.
    After(Duration),
}

fn kill_plan(rng: &mut SmallRng) -> Kill {
    match rng.random_range(0..20) {
        0..10 => Kill::AfterAcks(rng.random_range(0..=300)),
        10..17 => Kill::After(Duration::from_millis(rng.random_range(0..=100))),
        17..19 => Kill::After(Duration::from_millis(rng.random_range(100..=250))),
        // Past the background worker's first tick (500 ms): hints and a background pass.
        _ => Kill::After(Duration::from_millis(rng.random_range(500..=800))),
    }
}

/// One child and what the parent does around it.
#[derive(Clone, Copy, Debug)]
struct Round {
    seed: u64,
    index: u32,
    kill: Kill,
    /// Whether the parent checks the directory itself, or a copy (and the next
    /// child recovers the crash itself).
    in_place: bool,
    /// Whether the parent compacts after checking the recovered state (in place only).
    compact: bool,
    /// Whether the parent closes the database (else it just drops it; in place only).
    close: bool,
}

/// What a child printed before it was killed.
struct ChildRun {
    events: Vec<Event>,
    wall: Duration,
}

/// Runs round `round`'s child and SIGKILLs it as `kill` says.
fn run_child(dir: &Path, seed: u64, round: u32, kill: Kill) -> ChildRun {
    let started = Instant::now();
    let exe = std::env::current_exe().expect("current test binary");
    let child = Command::new(exe)
        .args(["kill9_child", "--exact", "--nocapture", "--test-threads", "1"])
        .env(ENV_DIR, dir)
        .env(ENV_ROUND, round.to_string())
        .env(ENV_SEED, seed.to_string())
        .env_remove("ARMDB_SEED")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let mut child = support::KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf).expect("read the child's stdout") == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf);
            // libtest prints its own text before the first line of the child.
            let Some(at) = line.find(MARK) else { continue };
            let line = &line[at + MARK.len()..];
            let event = if line.ends_with('\n') { parse(line) } else { Event::Partial(line.to_owned()) };
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    let mut events = Vec::new();
    let exited = |child: &mut support::KillOnDrop| {
        let status = child.0.wait().expect("reap the child");
        panic!("round {round}: the child exited before it was killed ({status}); see its stderr above")
    };
    match kill {
        Kill::AfterAcks(n) => {
            let mut acks = 0;
            while acks < n {
                match rx.recv() {
                    Ok(e) => {
                        acks += u32::from(matches!(e, Event::Ack { .. }));
                        events.push(e);
                    }
                    Err(_) => exited(&mut child),
                }
            }
        }
        Kill::After(delay) => loop {
            let left = (started + delay).saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(e) => events.push(e),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => exited(&mut child),
            }
        },
    }
    child.0.kill().expect("SIGKILL the child");
    let status = child.0.wait().expect("reap the child");
    // Everything the child wrote before it died is still in the pipe.
    events.extend(rx.iter());
    reader.join().expect("the stdout reader panicked");
    assert!(!status.success(), "round {round}: the child was killed, not finished: {status}");
    ChildRun { events, wall: started.elapsed() }
}

#[derive(Debug, Default)]
struct Totals {
    children: u32,
    checked_on_copy: u32,
    acks: u64,
    batches_acked: u64,
    inflight_applied: u32,
    inflight_not_applied: u32,
    killed_before_open: u32,
    killed_mid_compaction: u32,
    compactions: u64,
    parent_compactions: u32,
    parent_files_compacted: usize,
    hint_files: usize,
    truncated_bytes: u64,
    incomplete_batches: u64,
    max_files: usize,
    max_keys: usize,
    parent_copy: Duration,
    parent_open: Duration,
    parent_compact: Duration,
    parent_close: Duration,
}

/// Checks the typed tree's secondary indexes against its records: each record is
/// found by its stamp, each of `probes` that no record holds finds nothing, and
/// each group lists exactly its records in key order.
fn check_indexes(typed: &TypedTree<Rec>, records: &BTreeMap<u32, Rec>, probes: &BTreeSet<u64>, round: u32) {
    let held: BTreeMap<u64, u32> = records.values().map(|r| (r.stamp, r.id)).collect();
    assert_eq!(held.len(), records.len(), "round {round}: two records share a stamp");
    for stamp in probes.iter().chain(held.keys()) {
        let found = typed.get_by(Rec::by_stamp(), stamp).expect("get_by stamp").map(|r| (*r).clone());
        let want = held.get(stamp).map(|id| records[id].clone());
        assert_eq!(
            found,
            want,
            "round {round}: the unique index finds the wrong record for [{}]",
            Stamp::from_id(*stamp)
        );
    }
    for g in 0..GROUPS {
        let found: Vec<u32> = typed.find_by(Rec::by_group(), &g).map(|r| r.id).collect();
        let want: Vec<u32> = records.values().filter(|r| r.group == g).map(|r| r.id).collect();
        assert_eq!(found, want, "round {round}: the index on group {g} disagrees with the records");
    }
}

/// Reopens after round `round`'s child, checks the recovered state against
/// `model` and the acks, and returns it.
fn check_round(dir: &Path, r: &Round, run: &ChildRun, model: &State, totals: &mut Totals) -> State {
    let (seed, round) = (r.seed, r.index);
    let ctx = format!("round {round} ({:?}, ARMDB_SEED={seed})", r.kill);
    // The acks of each writer: 0, 1, 2, ... in order, as `plan` says.
    let mut acked = [0u32; WRITERS as usize];
    let mut opened = false;
    let mut compacting = false;
    for e in &run.events {
        match e {
            Event::Opened => opened = true,
            Event::CompactStart => compacting = true,
            Event::CompactEnd => {
                compacting = false;
                totals.compactions += 1;
            }
            Event::Ack { thread, op, desc } => {
                let t = usize::from(*thread);
                assert!(t < acked.len(), "{ctx}: ack from unknown thread {thread}");
                assert_eq!(*op, acked[t], "{ctx}: thread {thread} acks out of order");
                let want = plan(seed, round, *thread, *op);
                assert_eq!(*desc, want.describe(), "{ctx}: thread {thread} op {op} is not the planned op");
                totals.batches_acked += u64::from(want.batch);
                acked[t] += 1;
            }
            Event::Partial(line) => panic!("{ctx}: the child left half a line: {line:?}"),
        }
    }
    totals.killed_before_open += u32::from(!opened);
    totals.killed_mid_compaction += u32::from(compacting);
    totals.acks += acked.iter().map(|&n| u64::from(n)).sum::<u64>();

    // Either the directory itself, or a copy of it so that the next child
    // recovers the crash by itself.
    let dir = if r.in_place {
        dir.to_path_buf()
    } else {
        let copying = Instant::now();
        let copy = dir.with_file_name("checked-copy");
        let files = if dir.exists() { support::snapshot_dir(dir) } else { support::DirSnapshot::new() };
        support::restore_dir(&copy, &files);
        totals.checked_on_copy += 1;
        totals.parent_copy += copying.elapsed();
        copy
    };
    let opening = Instant::now();
    let db = Db::open(&dir, config()).unwrap_or_else(|e| panic!("{ctx}: open after the kill: {e}"));
    totals.parent_open += opening.elapsed();
    let typed = db.tree::<Rec>().expect("typed tree");
    let actual = State::read(&db, &typed);
    let stats = db.stats();
    totals.hint_files += stats.recovery.hint_files;
    totals.truncated_bytes += stats.recovery.truncated_bytes;
    totals.incomplete_batches += stats.recovery.incomplete_batches;
    totals.max_files = totals.max_files.max(stats.files);
    totals.max_keys = totals.max_keys.max(actual.len());

    // Stamps the unique index must answer for: the previous records, and every
    // typed put of this round that may have landed.
    let mut probes: BTreeSet<u64> = model.typed.values().map(|r| r.stamp).collect();
    let mut expected = model.clone();
    let mut owned = 0;
    for thread in 0..WRITERS {
        let keys = thread_keys(thread);
        for n in 0..acked[usize::from(thread)] {
            let op = plan(seed, round, thread, n);
            expected.apply(&op, round, thread, n);
        }
        let next = acked[usize::from(thread)];
        let in_flight = plan(seed, round, thread, next);
        let mut with_in_flight = expected.clone();
        with_in_flight.apply(&in_flight, round, thread, next);
        for (n, op) in (0..=next).map(|n| (n, plan(seed, round, thread, n))) {
            for (part, w) in op.writes.iter().enumerate() {
                if w.tree == TreeKind::Typed && w.put {
                    probes.insert(Stamp { round, thread, op: n, part: part as u8 }.id());
                }
            }
        }
        let (got, without, with) = (actual.slice(&keys), expected.slice(&keys), with_in_flight.slice(&keys));
        owned += got.len();
        if got == without {
            totals.inflight_not_applied += u32::from(with != without);
        } else if got == with {
            totals.inflight_applied += 1;
            expected = with_in_flight;
        } else {
            panic!(
                "{ctx}: thread {thread} acked {next} ops; its keys match neither the acked state nor the acked \
                 state plus its in-flight op {next} ({}):{}",
                in_flight.describe(),
                diff(&got, &without, &with, &keys)
            );
        }
    }
    assert_eq!(owned, actual.len(), "{ctx}: keys outside every writer's range exist");
    assert_eq!(actual, expected, "{ctx}: the recovered state is not the model");
    check_indexes(&typed, &actual.typed, &probes, round);
    if r.compact {
        // Compacting what recovery left keeps the directory small (the children's
        // compactions rarely finish before the kill) and must change nothing.
        let compacting = Instant::now();
        let report = db.compact().unwrap_or_else(|e| panic!("{ctx}: compact after recovery: {e}"));
        totals.parent_compactions += 1;
        totals.parent_compact += compacting.elapsed();
        totals.parent_files_compacted += report.files_compacted;
        assert_eq!(State::read(&db, &typed), actual, "{ctx}: compacting the recovered state changed it");
        check_indexes(&typed, &actual.typed, &probes, round);
    }
    drop(typed);
    // Close (hints for every sealed file) or just drop (none): the next child
    // recovers from either.
    let closing = Instant::now();
    if r.close {
        db.close().unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
    } else {
        drop(db);
    }
    totals.parent_close += closing.elapsed();
    actual
}

#[test]
fn acknowledged_state_survives_sigkill_under_load() {
    let seed = support::seed(DEFAULT_SEED);
    let children = support::op_count(200, 1_000);
    let mut rng = SmallRng::seed_from_u64(seed);
    let base = tempfile::tempdir().expect("tempdir");
    let dir = base.path().join("db");
    let started = Instant::now();
    let mut model = State::default();
    let mut totals = Totals::default();
    let mut child_wall = Duration::ZERO;
    for index in 0..children as u32 {
        let in_place = rng.random_bool(0.5);
        let round = Round {
            seed,
            index,
            kill: kill_plan(&mut rng),
            in_place,
            compact: in_place && rng.random_ratio(1, 2),
            close: in_place && rng.random_ratio(1, 2),
        };
        let run = run_child(&dir, seed, index, round.kill);
        child_wall += run.wall;
        model = check_round(&dir, &round, &run, &model, &mut totals);
        totals.children += 1;
        if (index + 1) % 100 == 0 {
            println!("{} children in {:.1?}: {totals:?}", index + 1, started.elapsed());
        }
    }
    println!(
        "{} children killed in {:.1?} (children ran {:.1?}); {} keys live at the end; {totals:?}",
        totals.children,
        started.elapsed(),
        child_wall,
        model.len()
    );
    // The run exercised what it claims to (a short run, `ARMDB_OPS` < 100, may not).
    if totals.children >= 100 {
        assert!(totals.acks >= u64::from(totals.children) * 20, "too few acks: {totals:?}");
        assert!(totals.batches_acked > 0, "no batch was acknowledged: {totals:?}");
        assert!(totals.killed_mid_compaction > 0, "no kill landed in a compaction: {totals:?}");
        assert!(totals.incomplete_batches > 0, "no kill cut a batch between its shards: {totals:?}");
        assert!(totals.hint_files > 0, "no reopen used a hint file: {totals:?}");
        assert!(totals.inflight_applied > 0 && totals.inflight_not_applied > 0, "in-flight ops: {totals:?}");
    }
}
