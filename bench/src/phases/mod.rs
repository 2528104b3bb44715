//! The phases, in the order of `docs/benchmarks.md`, run against one engine.

mod maintenance;
mod reads;
mod writes;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::Result;
use crate::child::Launcher;
use crate::data::DataSet;
use crate::engines::{Commit, EngineKind};
use crate::progress::Progress;
use crate::report::Record;
use crate::scale::Plan;

/// One engine's run through the phases.
struct Run<'a> {
    kind: EngineKind,
    plan: &'a Plan,
    data: &'a DataSet,
    /// The engine's database directory.
    db_dir: PathBuf,
    /// A scratch directory beside it (the memory phase's fresh database).
    scratch: PathBuf,
    launcher: &'a Launcher,
    records: &'a mut Vec<Record>,
    /// Keys the engine should hold now.
    live: u64,
}

impl Run<'_> {
    /// Times `f` as `phase` with `threads` threads doing `ops` operations, and
    /// records it.
    fn timed(
        &mut self,
        phase: &str,
        threads: usize,
        ops: u64,
        f: impl FnOnce(&Progress) -> Result<()>,
    ) -> Result<f64> {
        let label = if threads > 1 { format!("{phase} ×{threads}") } else { phase.to_string() };
        let progress = Progress::start(self.kind.name(), &label, ops);
        let started = Instant::now();
        f(&progress).map_err(|e| format!("{} {label}: {e}", self.kind.name()))?;
        let seconds = started.elapsed().as_secs_f64();
        let record = Record::timed(self.kind.name(), phase, threads, ops, seconds);
        progress.finish(&record.line());
        self.records.push(record);
        Ok(seconds)
    }

    /// Records a measured size (`bytes`) with the live keys it holds.
    fn size(&mut self, phase: &str, bytes: u64) {
        let record = Record::size(self.kind.name(), phase, self.live, bytes as f64);
        eprintln!("{}", record.line());
        self.records.push(record);
    }
}

/// Runs every phase against a fresh `kind` database under `dir` and appends the
/// results to `records`. The engine is closed when this returns.
///
/// # Errors
/// The first engine error or failed check, naming the engine and the phase.
pub fn run(
    kind: EngineKind,
    plan: &Plan,
    data: &DataSet,
    dir: &Path,
    launcher: &Launcher,
    records: &mut Vec<Record>,
) -> Result<()> {
    let db_dir = dir.join("db");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&db_dir)?;
    std::fs::create_dir_all(&scratch)?;
    let mut run = Run { kind, plan, data, db_dir, scratch, launcher, records, live: 0 };
    let mut engine = kind.open(&run.db_dir, Commit::Sync)?;

    writes::bulk_load(&mut run, &mut *engine)?;
    writes::individual(&mut run, &mut *engine)?;
    writes::concurrent(&mut run, &mut *engine)?;
    writes::batches(&mut run, &mut *engine)?;
    if kind.has_nosync() {
        writes::nosync(&mut run, &mut *engine)?;
    }
    // The write phases are over: what they wrote is made durable, untimed.
    engine.sync()?;
    engine.set_commit(Commit::Sync)?;

    reads::len(&mut run, &*engine)?;
    reads::random(&mut run, &*engine)?;
    reads::ranges(&mut run, &*engine)?;
    reads::threaded(&mut run, &*engine)?;
    if kind.prefix_scans() {
        reads::prefixes(&mut run, &*engine)?;
    }

    maintenance::removals(&mut run, &mut *engine)?;
    maintenance::compaction(&mut run, &mut *engine)?;
    let mut engine = maintenance::reopen(&mut run, engine)?;
    maintenance::memory(&mut run)?;
    maintenance::overwrite(&mut run, &mut *engine)?;
    engine.close()
}
