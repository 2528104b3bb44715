//! Suite 2: an fsync that fails, at every fsync of a run.
//!
//! Injects, on the simulated file system (`armdb::fs::SimFs`), an `EIO` into the
//! k-th file fsync (`OpKind::Sync`) of a deterministic `Durability::Sync`
//! workload — puts, deletes and atomic batches over a const tree and a var tree
//! in two shards with 4 KiB files, three `compact()` calls and two
//! close-and-reopen cycles — for every k from 1 to the last fsync the workload makes (at least
//! 200); then the same for every directory fsync (`OpKind::SyncDir`), and for
//! every fsync and directory fsync inside a `compact()` and inside a `close()`
//! with the fault armed just before that call. A failed fsync drops the file's
//! unsynced bytes, as Linux may.
//!
//! Pass criterion, for every k: the call that hit the failure returns an error
//! (an fsync error is never swallowed); a put, delete or batch that failed has
//! poisoned the database: every later write, batch, sync and compaction returns
//! `Error::Poisoned` and `close` fails, so nothing after the failure is
//! acknowledged (a failed `compact()` may leave the database writable: later
//! calls must then simply work; after a failed `close()` the reopened database
//! holds exactly the model); reads of acknowledged data keep
//! returning exactly their acknowledged values (only the keys of the failed
//! call may read as old, new or a clear error); and after the last handle is
//! dropped and the power is cut (`Loss::DropUnsynced`), reopening yields exactly
//! the model of acknowledged calls, except that the one failed call may be
//! present or absent — wholly, for a batch.
//!
//! The last test reproduces, minimally, the engine failure the sweeps found.
//! `ARMDB_OPS=<n>` caps the k values of the two whole-run sweeps at `n`.
//! Reproduce a failure with `ARMDB_SEED=<seed> cargo test --test fsync_failure`.

mod support;

use armdb::fs::{Fault, FaultError, Loss, OpKind, SimFs};
use armdb::{Config, Db, Durability, Error};

use support::workload::{
    self, KEYS, Model, Open, ROOT, Step, apply_step, assert_state, const_value, diff, panic_message,
    step_name,
};

const DEFAULT_SEED: u64 = 0x00F5_7C00_0002;
/// The workload must make at least this many file fsyncs (the brief's k range).
const MIN_SYNCS: u64 = 200;

// ---------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------

/// 300 steps (`workload::random_steps`): single writes and batches,
/// `compact()` at steps 80, 130 and 200, a close and reopen at steps 160 and 260.
fn workload(seed: u64) -> Vec<Step> {
    workload::random_steps(seed, |i| match i {
        80 | 130 | 200 => Some(Step::Compact),
        160 | 260 => Some(Step::Reopen),
        _ => None,
    })
}

/// The model after a step (unchanged for compaction and reopen).
fn applied(model: &Model, step: &Step) -> Model {
    let mut next = model.clone();
    apply_step(&mut next, step);
    next
}

// ---------------------------------------------------------------------------
// The database
// ---------------------------------------------------------------------------

/// `workload::config` in `Durability::Sync` mode: two shards, 4 KiB files, no
/// value cache, no background compaction.
fn config(sim: &SimFs) -> Config {
    workload::config(sim, Durability::Sync)
}

/// Opens the database and its trees with [`config`].
fn open(sim: &SimFs) -> armdb::Result<Open> {
    workload::open(sim, Durability::Sync)
}

/// Checks point reads of every key against the acknowledged state `model`:
/// keys the failed step touched (`alt` differs from `model` there) may read as
/// either version (a var value also as an error); every other key must read
/// exactly as `model` says.
fn check_reads(h: &Open, model: &Model, alt: &Model, what: &str) {
    for k in 0..KEYS {
        let got = h.consts.get(&k);
        let (m, a) = (model.consts.get(&k).copied(), alt.consts.get(&k).copied());
        assert!(
            got == m || got == a,
            "{what}: const key {k} reads {got:?}; acknowledged {m:?}, failed write {a:?}"
        );
        let key = u64::from(k);
        let (m, a) = (model.var.get(&key), alt.var.get(&key));
        match h.var.get(&key) {
            Ok(got) => {
                let got = got.map(|b| b.to_vec());
                assert!(
                    got.as_ref() == m || got.as_ref() == a,
                    "{what}: var key {k} reads {got:?}; acknowledged {m:?}, failed write {a:?}"
                );
            }
            Err(e) => assert!(m != a, "{what}: var key {k} (acknowledged {m:?}) cannot be read: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------

/// Where to arm the fault: before step `at` of the workload.
#[derive(Clone, Debug)]
struct Arm {
    at: usize,
    fault: Fault,
}

/// What one run saw.
#[derive(Debug, Default)]
struct RunReport {
    /// The step whose call failed first.
    failed_step: Option<usize>,
    /// The failure poisoned the database.
    poisoned: bool,
    /// After the power cut the failed step was present (it differed from absent).
    failed_present: bool,
    /// The injected fault was consumed by the background worker's hint writing.
    worker_took_fault: bool,
}

/// Per-step counts of a run without faults: file fsyncs and directory fsyncs.
fn dry_run(steps: &[Step]) -> Vec<(u64, u64)> {
    let sim = SimFs::new();
    let mut h = Some(open(&sim).expect("open the database (dry run)"));
    let mut model = Model::default();
    let mut counts = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let before = sim.stats();
        if let Step::Reopen = step {
            h.take().expect("open").close().unwrap_or_else(|e| panic!("dry run step {i}: close: {e}"));
            h = Some(open(&sim).unwrap_or_else(|e| panic!("dry run step {i}: reopen: {e}")));
        } else {
            h.as_ref().expect("open").run(step).unwrap_or_else(|e| panic!("dry run step {i} {step:?}: {e}"));
        }
        let after = sim.stats();
        counts.push((after.syncs - before.syncs, after.dir_syncs - before.dir_syncs));
        model = applied(&model, step);
    }
    let h = h.expect("open");
    assert_state(&h.state(), &model, "dry run, live");
    drop(h);
    sim.restart(Loss::DropUnsynced);
    let h = open(&sim).expect("reopen after the power cut (dry run)");
    assert_state(&h.state(), &model, "dry run, after a power cut");
    counts
}

/// Runs the workload with `arm`, then cuts the power and reopens; asserts the
/// pass criterion of the module documentation.
fn run(steps: &[Step], arm: &Arm, label: &str) -> RunReport {
    let sim = SimFs::new();
    let mut h = Some(open(&sim).expect("open the database"));
    let mut model = Model::default();
    // The model with the failed step applied, once a step failed.
    let mut alt: Option<Model> = None;
    let mut report = RunReport::default();
    for (i, step) in steps.iter().enumerate() {
        if i == arm.at {
            sim.inject(arm.fault.clone());
        }
        let what = format!("{label}, step {i} ({})", step_name(step));
        if report.poisoned {
            // Nothing after the failure may be acknowledged.
            let Some(open) = h.take() else { break };
            match step {
                Step::Reopen => {
                    let e = open.close().expect_err(&format!("{what}: close of a poisoned Db"));
                    assert!(matches!(e, Error::Poisoned(_)), "{what}: close of a poisoned Db: {e}");
                    break;
                }
                _ => match open.run(step) {
                    Ok(()) => panic!("{what}: acknowledged after the database was poisoned"),
                    Err(Error::Poisoned(_)) => {}
                    Err(e) => panic!("{what}: a poisoned Db must refuse with Error::Poisoned, got: {e}"),
                },
            }
            h = Some(open);
            continue;
        }
        let result = match step {
            Step::Reopen => {
                let closed = h.take().expect("open").close();
                match open(&sim) {
                    Ok(reopened) => {
                        if let Err(e) = &closed {
                            assert!(!matches!(e, Error::Poisoned(_)), "{what}: close: {e}");
                            report.failed_step.get_or_insert(i);
                            // A failed close loses nothing acknowledged: Sync mode
                            // had every write durable before it.
                            assert_state(
                                &reopened.state(),
                                &model,
                                &format!("{what}: after a failed close ({e}) and reopen"),
                            );
                        } else {
                            assert_state(
                                &reopened.state(),
                                &model,
                                &format!("{what}: after close and reopen"),
                            );
                        }
                        h = Some(reopened);
                        continue;
                    }
                    Err(e) => {
                        // The fsync failed in recovery: stop, and check what the power cut leaves.
                        report.failed_step.get_or_insert(i);
                        assert!(!matches!(e, Error::Poisoned(_)), "{what}: reopen: {e}");
                        break;
                    }
                }
            }
            _ => h.as_ref().expect("open").run(step),
        };
        match result {
            Ok(()) => model = applied(&model, step),
            Err(e) => {
                assert!(report.failed_step.is_none(), "{what}: a second failure after a single fault: {e}");
                assert!(
                    !matches!(e, Error::Poisoned(_)),
                    "{what}: the call that hit the fault must report it, not Poisoned: {e}"
                );
                report.failed_step = Some(i);
                let next = applied(&model, step);
                let open = h.as_ref().expect("open");
                check_reads(open, &model, &next, &format!("{what} failed with `{e}`; reads"));
                // Opening an open tree does no I/O, but refuses in a poisoned database.
                match open.db.const_tree::<u32, 16>("consts").map(drop) {
                    Err(Error::Poisoned(_)) => {
                        report.poisoned = true;
                        for (call, r) in [("flush", open.db.flush()), ("sync", open.db.sync())] {
                            assert!(
                                matches!(r, Err(Error::Poisoned(_))),
                                "{what}: {call} of a poisoned Db: {r:?}"
                            );
                        }
                    }
                    Ok(()) => {
                        assert!(
                            matches!(step, Step::Compact),
                            "{what}: a write whose fsync failed (`{e}`) left the database writable"
                        );
                        // Compaction changes nothing logical: reads are exact.
                        assert_state(
                            &open.state(),
                            &model,
                            &format!("{what}: after a failed compaction ({e})"),
                        );
                    }
                    Err(other) => panic!("{what}: opening a tree after the failure `{e}`: {other}"),
                }
                if !matches!(step, Step::Compact) {
                    alt = Some(next);
                }
            }
        }
    }
    let faults = sim.stats().faults;
    assert_eq!(faults, 1, "{label}: the fault must fire exactly once (the workload must reach it)");
    if report.failed_step.is_none() {
        // Only the background worker's hint writing may swallow an fsync error
        // (a hint is derived data): its temporary file stays behind.
        let hint_tmp = sim.list_files().iter().any(|p| p.to_string_lossy().ends_with(".hint.tmp"));
        assert!(hint_tmp, "{label}: an fsync failed and no call returned an error");
        report.worker_took_fault = true;
    }
    if let Some(open) = h.as_ref() {
        check_reads(open, &model, alt.as_ref().unwrap_or(&model), &format!("{label}, before the power cut"));
    }
    drop(h);
    sim.restart(Loss::DropUnsynced);
    let h = open(&sim).unwrap_or_else(|e| panic!("{label}: reopen after the power cut: {e}"));
    let state = h.state();
    if state != model {
        let alt = alt.as_ref().unwrap_or_else(|| {
            panic!(
                "{label}: state after the power cut differs from the acknowledged model\n{}",
                diff(&model, &state)
            )
        });
        assert!(
            &state == alt,
            "{label}: state after the power cut is neither the acknowledged model nor it plus the failed step \
             (step {:?})\nvs acknowledged: {}\nvs with the failed step: {}",
            report.failed_step,
            diff(&model, &state),
            diff(alt, &state)
        );
        report.failed_present = true;
    }
    check_reads(&h, &state, &state, &format!("{label}, after the power cut"));
    // The reopened database takes writes again.
    h.consts
        .put(&(KEYS + 1), &const_value(KEYS + 1, 0))
        .unwrap_or_else(|e| panic!("{label}: write after reopen: {e}"));
    h.close().unwrap_or_else(|e| panic!("{label}: close after reopen: {e}"));
    report
}

/// Totals over a sweep, printed at its end.
#[derive(Debug, Default)]
struct Tally {
    /// Runs that passed.
    runs: u64,
    poisoned: u64,
    not_poisoned: u64,
    failed_present: u64,
    worker: u64,
    /// The failure message of each run that failed.
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, r: &RunReport) {
        self.runs += 1;
        self.poisoned += u64::from(r.poisoned);
        self.not_poisoned += u64::from(r.failed_step.is_some() && !r.poisoned);
        self.failed_present += u64::from(r.failed_present);
        self.worker += u64::from(r.worker_took_fault);
    }

    fn merge(&mut self, other: Tally) {
        self.runs += other.runs;
        self.poisoned += other.poisoned;
        self.not_poisoned += other.not_poisoned;
        self.failed_present += other.failed_present;
        self.worker += other.worker;
        self.failures.extend(other.failures);
    }

    /// Fails listing every run that failed.
    fn assert_passed(&self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} runs failed:\n{}",
            self.failures.len(),
            self.runs as usize + self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// Runs one fault per k in `ks`, armed before step `at`. Every k runs even
/// when an earlier one fails; the tally lists the failures.
fn sweep(steps: &[Step], at: usize, op: OpKind, ks: impl Iterator<Item = u64>, name: &str) -> Tally {
    let mut tally = Tally::default();
    for k in ks {
        let arm = Arm { at, fault: Fault::once(op, k, FaultError::Eio) };
        let label = format!("{name}: {op:?} fault k={k} armed before step {at}");
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(steps, &arm, &label))) {
            Ok(report) => tally.add(&report),
            Err(panic) => tally.failures.push(panic_message(&*panic)),
        }
    }
    println!(
        "{name}: {} runs, {} poisoned, {} failed without poisoning, {} with the failed call present after the cut, \
         {} faults taken by the background worker, {} failed",
        tally.runs + tally.failures.len() as u64,
        tally.poisoned,
        tally.not_poisoned,
        tally.failed_present,
        tally.worker,
        tally.failures.len()
    );
    tally
}

/// The number of k values to sweep out of `total`: all of them unless `ARMDB_OPS` says fewer.
fn ks(total: u64) -> impl Iterator<Item = u64> {
    let n = support::op_count(total as usize, total as usize) as u64;
    1..=n.min(total)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn every_fsync_of_a_run_fails_once() {
    let steps = workload(support::seed(DEFAULT_SEED));
    let counts = dry_run(&steps);
    let syncs: u64 = counts.iter().map(|c| c.0).sum();
    assert!(syncs >= MIN_SYNCS, "the workload makes {syncs} fsyncs, fewer than {MIN_SYNCS}");
    let tally = sweep(&steps, 0, OpKind::Sync, ks(syncs), "file fsync");
    tally.assert_passed();
    assert!(tally.poisoned > 0, "no run poisoned the database");
}

#[test]
fn every_directory_fsync_of_a_run_fails_once() {
    let steps = workload(support::seed(DEFAULT_SEED));
    let counts = dry_run(&steps);
    let dir_syncs: u64 = counts.iter().map(|c| c.1).sum();
    assert!(dir_syncs >= 10, "the workload makes only {dir_syncs} directory fsyncs");
    let tally = sweep(&steps, 0, OpKind::SyncDir, ks(dir_syncs), "directory fsync");
    tally.assert_passed();
    assert!(tally.poisoned > 0, "no run poisoned the database");
}

/// Every fsync and directory fsync of each `compact()` call, armed just before it.
#[test]
fn every_fsync_inside_compaction_fails_once() {
    let steps = workload(support::seed(DEFAULT_SEED));
    let counts = dry_run(&steps);
    let mut tally = Tally::default();
    for (at, step) in steps.iter().enumerate() {
        if matches!(step, Step::Compact) {
            let (syncs, dir_syncs) = counts[at];
            assert!(syncs > 0 && dir_syncs > 0, "compaction at step {at} made no fsync");
            tally.merge(sweep(
                &steps,
                at,
                OpKind::Sync,
                1..=syncs,
                &format!("compaction at step {at}, file fsync"),
            ));
            let name = format!("compaction at step {at}, directory fsync");
            tally.merge(sweep(&steps, at, OpKind::SyncDir, 1..=dir_syncs, &name));
        }
    }
    tally.assert_passed();
}

/// Every fsync and directory fsync of each close (and the reopen after it), armed just before it.
#[test]
fn every_fsync_inside_close_fails_once() {
    let steps = workload(support::seed(DEFAULT_SEED));
    let counts = dry_run(&steps);
    let mut tally = Tally::default();
    for (at, step) in steps.iter().enumerate() {
        if matches!(step, Step::Reopen) {
            let (syncs, dir_syncs) = counts[at];
            assert!(syncs > 0, "close at step {at} made no fsync");
            tally.merge(sweep(
                &steps,
                at,
                OpKind::Sync,
                1..=syncs,
                &format!("close at step {at}, file fsync"),
            ));
            tally.merge(sweep(
                &steps,
                at,
                OpKind::SyncDir,
                1..=dir_syncs,
                &format!("close at step {at}, directory fsync"),
            ));
        }
    }
    tally.assert_passed();
}

/// Minimal reproduction of the failures the sweeps above found (compaction at
/// step 80, file fsync k=13; whole run, file fsync k=95 and directory fsync
/// k=7, k=11): one shard, a full `compact()` that writes three output files,
/// and an fsync failure on the second output. The first output has already been
/// renamed to its final `*.log` name, but the failed pass neither removes it
/// nor publishes it, and the database is not poisoned. Every key is then
/// deleted and compacted away (no file the database knows of is older than the
/// tombstones, so they are dropped); a clean close and reopen must leave the
/// tree empty, but recovery finds the orphaned output and brings its keys back.
#[test]
fn failed_compaction_output_never_resurrects_deleted_keys() {
    let sim = SimFs::new();
    let config = Config { shards: 1, ..config(&sim) };
    let db = Db::open(ROOT, config.clone()).expect("open");
    let var = db.var_tree::<u64>("var").expect("var tree");
    // Two versions of every key: each sealed file holds dead and live entries,
    // and the live ones (~9 KiB) fill three 4 KiB compaction outputs.
    for key in 0..30u64 {
        var.put(&key, &[1; 300]).expect("put");
        var.put(&key, &[2; 300]).expect("overwrite");
    }
    sim.inject(Fault::once(OpKind::Sync, 2, FaultError::Eio).on_paths(".log.tmp"));
    let e = db.compact().expect_err("the second compaction output fails its fsync");
    assert!(!matches!(e, Error::Poisoned(_)), "compaction: {e}");
    for key in 0..30u64 {
        assert!(var.delete(&key).expect("delete after the failed compaction"), "key {key} was present");
    }
    db.compact().expect("compaction after the deletes");
    assert!(var.is_empty(), "keys left after deleting all");
    drop(var);
    db.close().expect("close");
    let db = Db::open(ROOT, config).expect("reopen");
    let var = db.var_tree::<u64>("var").expect("var tree");
    let back: Vec<u64> = var.keys().collect();
    assert!(back.is_empty(), "deleted keys came back after a clean close and reopen: {back:?}");
}
