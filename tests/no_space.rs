//! Suite 3: the disk fills up (`ENOSPC`) at every write, file creation and
//! rename of a run.
//!
//! Injects, on the simulated file system (`armdb::fs::SimFs`), a persistent
//! `ENOSPC` (`Fault::from(op, k, FaultError::NoSpace)`: the disk stays full)
//! from the k-th positional write, file creation or rename on, for every k up
//! to the number of such calls a fault-free run of the workload makes, in each
//! durability mode (`Sync`, `Flush`, `Buffered`). The workload — puts, deletes
//! and atomic batches over a const tree and a var tree in two shards with 4 KiB
//! files, explicit `flush()` and `sync()`, three `compact()` calls and three
//! close-and-reopen cycles (close writes hint files and the MANIFEST) — so puts
//! the failure into appends, rotations, batch parts, hint writing, MANIFEST
//! replacement, compaction outputs and recovery. A few steps after the first
//! failure space returns (`sim.clear_faults()`) and the workload goes on in the
//! same process, without a restart.
//!
//! Pass criterion, for every k: every call that fails, fails with an error for
//! which `Error::is_no_space()` holds, and does not poison the database; no call
//! fails once space has returned; after each failure and at the end, point
//! reads, ranges (both directions) and iteration of both trees equal the model
//! of acknowledged calls exactly (a failed call is wholly absent, a failed
//! compaction changes nothing, no partial entry is visible); and after the
//! power is cut (`Loss::DropUnsynced`; in `Flush` and `Buffered` mode after a
//! clean close) and the database reopened, the state equals the model again.
//! A separate test runs the background worker (hint writing and compaction)
//! against a full disk, and the tests at the end reproduce, minimally, each
//! engine failure the sweeps found.
//!
//! Under `CI=true` a sweep of more than `CI_KS` (100) k values runs 100 of
//! them, evenly spaced from an offset drawn from the seed (the write sweeps;
//! creations and renames are swept whole); `ARMDB_OPS=<n>` caps the k values of
//! every sweep at `n`.
//! Reproduce a failure with `ARMDB_SEED=<seed> cargo test --test no_space`.

mod support;

use std::time::Duration;

use armdb::fs::{Fault, FaultError, Loss, OpKind, SimFs};
use armdb::{CompactionConfig, Config, Db, Durability, Error};

use support::workload::{
    self, KEYS, Model, Open, ROOT, Step, apply_step, assert_state, config, const_value, open, panic_message,
    step_name, var_value,
};

const DEFAULT_SEED: u64 = 0x00E0_05FC_0003;
/// Steps run with the disk still full after the first failed call.
const FULL_STEPS: usize = 4;
/// Under CI, each sweep runs at most this many k values.
const CI_KS: u64 = 100;

/// The three durability modes; `Buffered` never flushes by itself within a run
/// (the test flushes explicitly, so the calls a run makes are deterministic).
const MODES: [(&str, Durability); 3] = [
    ("Sync", Durability::Sync),
    ("Flush", Durability::Flush),
    ("Buffered", Durability::Buffered { flush_every: Duration::from_secs(3600) }),
];

// ---------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------

/// 300 steps (`workload::random_steps`): single writes and batches, a `flush()`
/// every 25 steps and a `sync()` every 40, `compact()` at steps 60, 120 and 230,
/// a close and reopen at steps 150, 190 and 270.
fn workload(seed: u64) -> Vec<Step> {
    workload::random_steps(seed, |i| match i {
        60 | 120 | 230 => Some(Step::Compact),
        150 | 190 | 270 => Some(Step::Reopen),
        _ if i % 25 == 24 => Some(Step::Flush),
        _ if i % 40 == 39 => Some(Step::Sync),
        _ => None,
    })
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// Asserts that point reads, ranges in both directions and iteration of both
/// trees show exactly `model`.
fn check_live(h: &Open, model: &Model, what: &str) {
    assert_state(&h.state(), model, what);
    for k in 0..KEYS {
        assert_eq!(h.consts.get(&k), model.consts.get(&k).copied(), "{what}: get of const key {k}");
        let key = u64::from(k);
        let got = h.var.get(&key).unwrap_or_else(|e| panic!("{what}: get of var key {k}: {e}"));
        assert_eq!(got.map(|b| b.to_vec()).as_ref(), model.var.get(&key), "{what}: get of var key {k}");
    }
    let (lo, hi) = (KEYS / 4, 3 * KEYS / 4);
    let want: Vec<(u32, [u8; 16])> = model.consts.range(lo..hi).map(|(k, v)| (*k, *v)).collect();
    assert_eq!(h.consts.range(lo..hi).collect::<Vec<_>>(), want, "{what}: const range");
    let rev: Vec<(u32, [u8; 16])> = want.into_iter().rev().collect();
    assert_eq!(h.consts.range(lo..hi).rev().collect::<Vec<_>>(), rev, "{what}: const range reversed");
    let (lo, hi) = (u64::from(lo), u64::from(hi));
    let want: Vec<(u64, Vec<u8>)> = model.var.range(lo..=hi).map(|(k, v)| (*k, v.clone())).collect();
    assert!(support::var_pairs(h.var.range(lo..=hi), what) == want, "{what}: var range");
    let rev: Vec<(u64, Vec<u8>)> = want.into_iter().rev().collect();
    assert!(support::var_pairs(h.var.range(lo..=hi).rev(), what) == rev, "{what}: var range reversed");
}

// ---------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------

/// Counts of the calls a fault can hit.
#[derive(Clone, Copy, Debug, Default)]
struct Calls {
    writes: u64,
    creates: u64,
    renames: u64,
}

impl Calls {
    fn of(sim: &SimFs) -> Self {
        let s = sim.stats();
        Self { writes: s.writes, creates: s.creates, renames: s.renames }
    }

    fn since(self, before: Self) -> Self {
        Self {
            writes: self.writes - before.writes,
            creates: self.creates - before.creates,
            renames: self.renames - before.renames,
        }
    }

    fn get(self, op: OpKind) -> u64 {
        match op {
            OpKind::Write => self.writes,
            OpKind::Create => self.creates,
            OpKind::Rename => self.renames,
            other => unreachable!("{other:?} is not swept"),
        }
    }
}

/// The calls a fault-free run of the workload makes (after the database and
/// its trees are open), checking the run against the model as it goes.
fn dry_run(steps: &[Step], durability: Durability) -> Calls {
    let sim = SimFs::new();
    let mut h = Some(open(&sim, durability).expect("open the database (dry run)"));
    let start = Calls::of(&sim);
    let mut model = Model::default();
    for (i, step) in steps.iter().enumerate() {
        if let Step::Reopen = step {
            h.take().expect("open").close().unwrap_or_else(|e| panic!("dry run step {i}: close: {e}"));
            h = Some(open(&sim, durability).unwrap_or_else(|e| panic!("dry run step {i}: reopen: {e}")));
        } else {
            h.as_ref().expect("open").run(step).unwrap_or_else(|e| panic!("dry run step {i} {step:?}: {e}"));
        }
        apply_step(&mut model, step);
    }
    let calls = Calls::of(&sim).since(start);
    let h = h.expect("open");
    check_live(&h, &model, "dry run");
    h.close().expect("close (dry run)");
    sim.restart(Loss::DropUnsynced);
    let h = open(&sim, durability).expect("reopen after the power cut (dry run)");
    assert_state(&h.state(), &model, "dry run, after a power cut");
    calls
}

/// What one run saw.
#[derive(Debug, Default)]
struct RunReport {
    /// Calls that failed with ENOSPC.
    failed_calls: u64,
    /// The calls that failed and their errors, with numbers masked: what a full disk looks like.
    errors: std::collections::BTreeSet<String>,
    /// Calls that succeeded while the disk was full.
    succeeded_while_full: u64,
}

impl RunReport {
    fn note(&mut self, call: &str, e: &Error) {
        self.failed_calls += 1;
        let masked: String =
            e.to_string().chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
        self.errors.insert(format!("{call}: {masked}"));
    }
}

/// Asserts that `e`, the failure of a call while the disk is full, is a plain
/// ENOSPC that leaves the database open.
fn check_no_space(e: &Error, cleared: bool, what: &str) {
    assert!(!cleared, "{what}: failed after space had returned: {e}");
    assert!(e.is_no_space(), "{what}: failed with an error that is not ENOSPC (is_no_space() is false): {e}");
}

/// Runs the workload with `fault` armed after the database is open, clears the
/// fault `FULL_STEPS` steps after the first failure, then checks the live state,
/// cuts the power and checks the reopened state.
fn run(steps: &[Step], durability: Durability, fault: Fault, label: &str) -> RunReport {
    let buffered = matches!(durability, Durability::Buffered { .. });
    let sim = SimFs::new();
    let mut h = Some(open(&sim, durability).expect("open the database"));
    sim.inject(fault);
    let mut model = Model::default();
    let mut report = RunReport::default();
    let mut first_failure: Option<usize> = None;
    let mut cleared = false;
    for (i, step) in steps.iter().enumerate() {
        if !cleared && first_failure.is_some_and(|f| i >= f + FULL_STEPS) {
            sim.clear_faults();
            cleared = true;
        }
        let what = format!("{label}, step {i} ({})", step_name(step));
        let result = match step {
            Step::Reopen => {
                let old = h.take().expect("open");
                // In Buffered mode a close that fails also drops the buffers
                // (`buffered_close_on_a_full_disk_keeps_acknowledged_writes`), so
                // the buffers are flushed first and the close only runs once they are out.
                let flushed = if buffered { old.db.flush() } else { Ok(()) };
                match flushed {
                    Err(e) => {
                        h = Some(old);
                        Err(e)
                    }
                    Ok(()) => {
                        if let Err(e) = old.close() {
                            check_no_space(&e, cleared, &format!("{what}: close"));
                            report.note("close", &e);
                            first_failure.get_or_insert(i);
                        }
                        let reopened = match open(&sim, durability) {
                            Ok(reopened) => reopened,
                            Err(e) => {
                                // Recovery itself may need to write: it fails as a full disk, and
                                // succeeds once space returns.
                                check_no_space(&e, cleared, &format!("{what}: reopen"));
                                report.note("open", &e);
                                first_failure.get_or_insert(i);
                                sim.clear_faults();
                                cleared = true;
                                open(&sim, durability)
                                    .unwrap_or_else(|e| panic!("{what}: reopen once space returned: {e}"))
                            }
                        };
                        check_live(&reopened, &model, &format!("{what}: after reopen"));
                        h = Some(reopened);
                        continue;
                    }
                }
            }
            _ => h.as_ref().expect("open").run(step),
        };
        match result {
            Ok(()) => {
                apply_step(&mut model, step);
                report.succeeded_while_full += u64::from(first_failure.is_some() && !cleared);
            }
            Err(e) => {
                check_no_space(&e, cleared, &what);
                report.note(step_name(step), &e);
                first_failure.get_or_insert(i);
                let open = h.as_ref().expect("open");
                let after = format!("{what}: after it failed with `{e}`");
                // Opening an open tree does no I/O, but refuses in a poisoned database.
                if let Err(poisoned) = open.db.const_tree::<u32, 16>("consts") {
                    panic!("{after}: the database is poisoned: {poisoned}");
                }
                check_live(open, &model, &after);
            }
        }
    }
    if !cleared {
        sim.clear_faults();
    }
    assert!(
        first_failure.is_some(),
        "{label}: no call failed, yet the fault is within the calls the workload makes"
    );
    let h = h.expect("open");
    check_live(&h, &model, &format!("{label}: at the end of the workload"));
    // The database takes writes again, without a restart.
    let fresh = KEYS + 1;
    h.consts
        .put(&fresh, &const_value(fresh, 0))
        .unwrap_or_else(|e| panic!("{label}: write once space returned: {e}"));
    model.consts.insert(fresh, const_value(fresh, 0));
    if let Durability::Sync = durability {
        drop(h);
    } else {
        h.close().unwrap_or_else(|e| panic!("{label}: close once space returned: {e}"));
    }
    sim.restart(Loss::DropUnsynced);
    let h = open(&sim, durability).unwrap_or_else(|e| panic!("{label}: reopen after the power cut: {e}"));
    check_live(&h, &model, &format!("{label}: after the power cut"));
    h.close().unwrap_or_else(|e| panic!("{label}: close after the power cut: {e}"));
    report
}

/// The k values of a sweep over `total` calls: every one locally; under CI at
/// most `CI_KS`, evenly spaced from an offset drawn from the seed; at most
/// `ARMDB_OPS` of them if set.
fn ks(total: u64, seed: u64) -> Vec<u64> {
    let stride = if support::on_ci() { total.div_ceil(CI_KS).max(1) } else { 1 };
    let offset = seed % stride;
    let all: Vec<u64> = (1..=total).filter(|k| k % stride == offset).collect();
    let cap = support::op_count(all.len(), all.len());
    all.into_iter().take(cap).collect()
}

/// Sweeps k over every call of each kind in `ops` in one durability mode; every
/// k runs even when an earlier one fails, and the test then fails listing each.
fn sweep_mode(mode: &str, durability: Durability, ops: &[OpKind]) {
    let seed = support::seed(DEFAULT_SEED);
    let steps = workload(seed);
    let calls = dry_run(&steps, durability);
    let mut failures = Vec::new();
    let mut runs = 0;
    for &op in ops {
        let total = calls.get(op);
        assert!(total > 0, "{mode}: the workload makes no {op:?} call");
        let ks = ks(total, seed);
        let (mut failed_calls, mut succeeded_while_full, mut failed_runs) = (0, 0, 0);
        let mut errors = std::collections::BTreeSet::new();
        for &k in &ks {
            let label = format!("{mode} mode: ENOSPC from {op:?} k={k} on");
            let fault = Fault::from(op, k, FaultError::NoSpace);
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&steps, durability, fault, &label)
            })) {
                Ok(r) => {
                    failed_calls += r.failed_calls;
                    errors.extend(r.errors);
                    succeeded_while_full += r.succeeded_while_full;
                }
                Err(panic) => {
                    failed_runs += 1;
                    failures.push(panic_message(&*panic));
                }
            }
        }
        runs += ks.len();
        println!(
            "{mode} mode, {op:?}: {} of {total} k values swept, {failed_calls} calls failed with ENOSPC, \
             {succeeded_while_full} succeeded while the disk was full, {failed_runs} runs failed",
            ks.len(),
        );
        for e in &errors {
            println!("    {e}");
        }
    }
    assert!(failures.is_empty(), "{} of {runs} runs failed:\n{}", failures.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn sync_mode_enospc_at_every_write() {
    sweep_mode(MODES[0].0, MODES[0].1, &[OpKind::Write]);
}

#[test]
fn sync_mode_enospc_at_every_create_and_rename() {
    sweep_mode(MODES[0].0, MODES[0].1, &[OpKind::Create, OpKind::Rename]);
}

#[test]
fn flush_mode_enospc_at_every_write() {
    sweep_mode(MODES[1].0, MODES[1].1, &[OpKind::Write]);
}

#[test]
fn flush_mode_enospc_at_every_create_and_rename() {
    sweep_mode(MODES[1].0, MODES[1].1, &[OpKind::Create, OpKind::Rename]);
}

#[test]
fn buffered_mode_enospc_at_every_write() {
    sweep_mode(MODES[2].0, MODES[2].1, &[OpKind::Write]);
}

#[test]
fn buffered_mode_enospc_at_every_create_and_rename() {
    sweep_mode(MODES[2].0, MODES[2].1, &[OpKind::Create, OpKind::Rename]);
}

// ---------------------------------------------------------------------------
// Minimal reproductions of what the sweeps found, and the background worker
// ---------------------------------------------------------------------------

/// A database with one or two shards, 4 KiB files, no background compaction.
fn small_db(sim: &SimFs, shards: usize, durability: Durability) -> Config {
    Config { shards, ..config(sim, durability) }
}

/// The live state must be `model`, and the database not poisoned.
fn assert_open_and(h: &Open, model: &Model, what: &str) {
    if let Err(e) = h.db.const_tree::<u32, 16>("consts") {
        panic!("{what}: the database is poisoned: {e}");
    }
    check_live(h, model, what);
}

fn open_small(sim: &SimFs, shards: usize, durability: Durability) -> Open {
    let db = Db::open(ROOT, small_db(sim, shards, durability)).unwrap_or_else(|e| panic!("open: {e}"));
    let consts = db.const_tree::<u32, 16>("consts").expect("const tree");
    let var = db.var_tree::<u64>("var").expect("var tree");
    Open { db, consts, var }
}

/// The sweeps' most frequent failure (e.g. `Buffered mode: ENOSPC from Write
/// k=1 on`, step 19, or `Create k=1 on` in every mode): a batch with parts in two shards whose second part finds the
/// disk full (its write, or the rotation it needs) returns the ENOSPC error but
/// poisons the database, so every later write fails with `Error::Poisoned`
/// although space has returned.
#[test]
fn enospc_in_a_later_batch_part_does_not_poison() {
    // The first write to shard 1's file grows it ahead of the appends
    // (`Config::preallocate`); the second writes the part, half of it.
    for nth in [1, 2] {
        let sim = SimFs::new();
        let h = open_small(&sim, 2, Durability::Flush);
        let mut model = Model::default();
        // Eight keys land in both shards; the part of shard 0 is appended first.
        sim.inject(Fault::once(OpKind::Write, nth, FaultError::NoSpace).on_paths("shard-001"));
        let mut b = h.db.batch();
        for k in 0..8 {
            b.put_const(&h.consts, &k, &const_value(k, 1));
        }
        let e = b.commit().expect_err("the part of shard 1 finds the disk full");
        assert!(e.is_no_space(), "write {nth}: batch: {e}");
        assert_eq!(sim.stats().faults, 1, "write {nth}: the fault was hit");
        sim.clear_faults();
        assert_open_and(&h, &model, &format!("write {nth}: after the batch failed with ENOSPC"));
        h.consts.put(&100, &const_value(100, 2)).expect("a write once space returned");
        model.consts.insert(100, const_value(100, 2));
        h.close().expect("close");
        let h = open_small(&sim, 2, Durability::Flush);
        assert_open_and(&h, &model, &format!("write {nth}: after reopen"));
    }
}

/// The sweeps' `Corruption` on reopen (e.g. `Flush mode: ENOSPC from Write
/// k=195 on`, step 190, and `k=346 on`, after the power cut): a write refused for want of space leaves the first half of its
/// bytes past the end of the active file; a shorter write then overwrites only
/// part of them, and when the file is sealed the remainder stays behind as a
/// torn entry at the end of a sealed file, which recovery refuses as corruption.
#[test]
fn enospc_never_leaves_a_torn_entry_in_a_sealed_file() {
    let sim = SimFs::new();
    let h = open_small(&sim, 1, Durability::Flush);
    let mut model = Model::default();
    h.var.put(&1, &[1; 1000]).expect("put");
    model.var.insert(1, vec![1; 1000]);
    sim.inject(Fault::once(OpKind::Write, 1, FaultError::NoSpace));
    let e = h.var.put(&2, &[2; 1000]).expect_err("the disk is full");
    assert!(e.is_no_space(), "put: {e}");
    // Space is back: a short entry, then one that does not fit seals the file.
    h.consts.put(&7, &const_value(7, 1)).expect("put once space returned");
    model.consts.insert(7, const_value(7, 1));
    h.var.put(&3, &[3; 3000]).expect("put that seals the file");
    model.var.insert(3, vec![3; 3000]);
    assert_open_and(&h, &model, "live");
    h.close().expect("close");
    let h = open_small(&sim, 1, Durability::Flush);
    assert_open_and(&h, &model, "after reopen");
}

/// A failed batch that reappears (found by an earlier layout of the sweeps'
/// workload, with `compact()` at steps 70, 150, 230 and reopens at 110, 190,
/// 270: `Flush` and `Sync` mode, ENOSPC from Write k=232 on, step 189): a batch
/// refused for want of space leaves the first half of its part's bytes past the
/// end of the active file — whole entries among them, without the part's
/// marker. `close` then records a durable seq that covers the batch's seq, so
/// recovery no longer checks its framing, and the entries of the refused batch
/// come back.
#[test]
fn batch_refused_for_want_of_space_never_reappears() {
    let sim = SimFs::new();
    let h = open_small(&sim, 1, Durability::Flush);
    let mut model = Model::default();
    h.consts.put(&100, &const_value(100, 1)).expect("put");
    model.consts.insert(100, const_value(100, 1));
    sim.inject(Fault::once(OpKind::Write, 1, FaultError::NoSpace));
    let mut b = h.db.batch();
    b.put_const(&h.consts, &1, &const_value(1, 2));
    b.put_const(&h.consts, &2, &const_value(2, 2));
    b.put_var(&h.var, &3, &[3; 600]);
    let e = b.commit().expect_err("the disk is full");
    assert!(e.is_no_space(), "batch: {e}");
    assert_open_and(&h, &model, "after the batch failed");
    h.close().expect("close");
    let h = open_small(&sim, 1, Durability::Flush);
    assert_open_and(&h, &model, "after close and reopen");
}

/// The sweeps' resurrection (`ENOSPC from Rename k=6 on`, every mode): a
/// compaction whose second output cannot be renamed into place (the disk is
/// full) has already renamed the first, and leaves it behind unpublished. Every
/// key is deleted and compacted away once space returns; a clean close and
/// reopen must leave the tree empty, but recovery finds the orphaned output.
#[test]
fn compaction_refused_for_want_of_space_never_resurrects_deleted_keys() {
    let sim = SimFs::new();
    let h = open_small(&sim, 1, Durability::Flush);
    for key in 0..30u64 {
        h.var.put(&key, &[1; 300]).expect("put");
        h.var.put(&key, &[2; 300]).expect("overwrite");
    }
    // Renames of compaction outputs target `*.log`; the second one fails.
    sim.inject(Fault::from(OpKind::Rename, 2, FaultError::NoSpace).on_paths(".log"));
    let e = h.db.compact().expect_err("the second output cannot be renamed");
    assert!(e.is_no_space(), "compact: {e}");
    sim.clear_faults();
    for key in 0..30u64 {
        assert!(h.var.delete(&key).expect("delete once space returned"), "key {key} was present");
    }
    h.db.compact().expect("compaction once space returned");
    assert_open_and(&h, &Model::default(), "after deleting every key");
    h.close().expect("close");
    let h = open_small(&sim, 1, Durability::Flush);
    let back: Vec<u64> = h.var.keys().collect();
    assert!(back.is_empty(), "deleted keys came back after a clean close and reopen: {back:?}");
}

/// In `Buffered` mode a `close` that finds the disk full marks the database
/// closed before its flush fails, and nothing flushes the buffers afterwards,
/// not even once space has returned and the last handle goes: writes that were
/// acknowledged (and never lost to a crash) are gone after a reopen. (The
/// sweeps flush before they close, so that they can keep an exact model.)
#[test]
fn buffered_close_on_a_full_disk_keeps_acknowledged_writes() {
    let sim = SimFs::new();
    let durability = Durability::Buffered { flush_every: Duration::from_secs(3600) };
    let h = open_small(&sim, 1, durability);
    let mut model = Model::default();
    for k in 0..10 {
        h.consts.put(&k, &const_value(k, 1)).expect("put");
        model.consts.insert(k, const_value(k, 1));
    }
    let Open { db, consts, var } = h;
    let spare = db.clone();
    sim.inject(Fault::from(OpKind::Write, 1, FaultError::NoSpace));
    let e = db.close().expect_err("the disk is full");
    assert!(e.is_no_space(), "close: {e}");
    sim.clear_faults();
    drop((consts, var, spare));
    let h = open_small(&sim, 1, durability);
    assert_open_and(&h, &model, "after a close that found the disk full, and a reopen once space returned");
}

/// The background worker writes hints for sealed files and compacts while the
/// disk is full: its failures (ENOSPC) neither poison the database nor change
/// what reads return, and once space returns writes work again and a close,
/// power cut and reopen keep every acknowledged write.
#[test]
fn background_worker_on_a_full_disk() {
    let sim = SimFs::new();
    let cfg = Config {
        compaction: CompactionConfig {
            interval: Some(Duration::from_millis(1)),
            min_dead_ratio: 0.1,
            ..CompactionConfig::default()
        },
        ..small_db(&sim, 2, Durability::Flush)
    };
    let db = Db::open(ROOT, cfg.clone()).expect("open");
    let h = Open {
        consts: db.const_tree::<u32, 16>("consts").expect("const tree"),
        var: db.var_tree::<u64>("var").expect("var tree"),
        db,
    };
    let mut model = Model::default();
    // Sealed files with dead entries: work for both hint writing and compaction.
    sim.inject(Fault::from(OpKind::Write, 1, FaultError::NoSpace).on_paths(".hint"));
    for version in 0..3 {
        for k in 0..KEYS {
            h.var.put(&u64::from(k), &var_value(u64::from(k), version)).expect("put");
            model.var.insert(u64::from(k), var_value(u64::from(k), version));
        }
    }
    // The worker ticks every 500 ms. Wait (bounded) until it has met the full
    // disk: the test makes no call meanwhile, so every fault counted is the worker's.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sim.stats().faults == 0 {
        assert!(std::time::Instant::now() < deadline, "the background worker never wrote a hint");
        std::thread::yield_now();
    }
    // Now the whole disk is full, for the worker's compaction as well.
    sim.inject(Fault::from(OpKind::Write, 1, FaultError::NoSpace));
    let faults = sim.stats().faults;
    while sim.stats().faults == faults {
        assert!(std::time::Instant::now() < deadline, "the background worker never wrote again");
        std::thread::yield_now();
    }
    assert_open_and(&h, &model, "while the background worker meets a full disk");
    let e = h.consts.put(&1, &const_value(1, 1)).expect_err("a write on a full disk");
    assert!(e.is_no_space(), "put on a full disk: {e}");
    sim.clear_faults();
    h.consts.put(&1, &const_value(1, 2)).expect("a write once space returned");
    model.consts.insert(1, const_value(1, 2));
    assert_open_and(&h, &model, "once space returned");
    h.close().expect("close once space returned");
    sim.restart(Loss::DropUnsynced);
    let db = Db::open(ROOT, cfg).expect("reopen after the power cut");
    let h = Open {
        consts: db.const_tree::<u32, 16>("consts").expect("const tree"),
        var: db.var_tree::<u64>("var").expect("var tree"),
        db,
    };
    assert_open_and(&h, &model, "after the power cut");
}
