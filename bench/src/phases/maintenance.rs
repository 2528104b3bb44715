//! Removals, sizes, compaction, reopen, memory and overwrite.

use rand::Rng;

use super::Run;
use crate::Result;
use crate::data::value_for;
use crate::engines::{Commit, Engine};
use crate::fsutil::{delete_hints, disk_bytes};

/// Stream id of the overwrite phase's random choices.
const OVERWRITE: u64 = 0x0E;
/// Keys checked after a reopen and after the overwrites.
const SAMPLE: usize = 1_000;

/// Checks that a sample of the surviving keys is present with valid values and
/// that the engine counts the expected number of keys.
fn check_survivors(run: &Run<'_>, engine: &dyn Engine) -> Result<()> {
    let data = run.data;
    let mut reader = engine.reader()?;
    for i in data.survivors().step_by((data.len() / 2 / SAMPLE).max(1)) {
        if !reader.get(&data.keys[i])? {
            return Err(format!("{}: surviving key #{i} is missing", run.kind.name()).into());
        }
    }
    let n = engine.count()?;
    if n != run.live {
        return Err(format!("{}: {n} keys, expected {}", run.kind.name(), run.live).into());
    }
    Ok(())
}

/// Half the keys in one durable commit; then the size on disk.
pub(super) fn removals(run: &mut Run<'_>, engine: &mut dyn Engine) -> Result<()> {
    engine.set_commit(Commit::Sync)?;
    let data = run.data;
    let gone = &data.keys[..data.survivors().start];
    run.timed("removals", 1, gone.len() as u64, |p| {
        engine.remove(gone)?;
        p.inc(gone.len() as u64);
        Ok(())
    })?;
    run.live -= gone.len() as u64;
    if let Some(key) = gone.first()
        && engine.reader()?.get(key)?
    {
        return Err(format!("{}: a removed key is still there", run.kind.name()).into());
    }
    check_survivors(run, engine)?;
    let bytes = disk_bytes(&run.db_dir)?;
    run.size("size before compaction", bytes);
    Ok(())
}

/// The engine's own compaction, run to the end; then the size on disk.
pub(super) fn compaction(run: &mut Run<'_>, engine: &mut dyn Engine) -> Result<()> {
    if run.kind.has_compaction() {
        run.timed("compaction", 1, 1, |p| {
            engine.compact()?;
            p.inc(1);
            Ok(())
        })?;
    }
    check_survivors(run, engine)?;
    let bytes = disk_bytes(&run.db_dir)?;
    run.size("size after compaction", bytes);
    Ok(())
}

/// Opens the engine's database as `phase`, timed, and checks it.
fn timed_open(run: &mut Run<'_>, phase: &str) -> Result<Box<dyn Engine>> {
    let (kind, dir) = (run.kind, run.db_dir.clone());
    let mut opened = None;
    run.timed(phase, 1, 1, |p| {
        opened = Some(kind.open(&dir, Commit::Sync)?);
        p.inc(1);
        Ok(())
    })?;
    let engine = opened.ok_or("open returned nothing")?;
    check_survivors(run, &*engine)?;
    Ok(engine)
}

/// Time to open after a clean close and after a SIGKILL; for armdb also with
/// its hint files deleted. Returns the engine, open.
pub(super) fn reopen(run: &mut Run<'_>, engine: Box<dyn Engine>) -> Result<Box<dyn Engine>> {
    let kind = run.kind;
    engine.close()?;
    let mut engine = timed_open(run, "reopen")?;
    if kind.has_hints() {
        engine.close()?;
        delete_hints(&run.db_dir)?;
        engine = timed_open(run, "reopen without hints")?;
    }
    engine.close()?;
    run.launcher.kill_writer(kind, &run.db_dir)?;
    engine = timed_open(run, "reopen after kill")?;
    if kind.has_hints() {
        engine.close()?;
        run.launcher.kill_writer(kind, &run.db_dir)?;
        delete_hints(&run.db_dir)?;
        engine = timed_open(run, "reopen after kill without hints")?;
    }
    Ok(engine)
}

/// RSS growth per key of a fresh process that bulk-loads the data set; for
/// armdb also with `Config::keydir` off ("memory without keydir").
pub(super) fn memory(run: &mut Run<'_>) -> Result<()> {
    memory_of(run, "memory", true)?;
    if run.kind.is_armdb() {
        memory_of(run, "memory without keydir", false)?;
    }
    Ok(())
}

fn memory_of(run: &mut Run<'_>, phase: &str, keydir: bool) -> Result<()> {
    let dir = run.scratch.join("memory");
    std::fs::create_dir_all(&dir)?;
    let (growth, seconds) = run.launcher.memory(run.kind, &dir, keydir)?;
    std::fs::remove_dir_all(&dir)?;
    let pairs = run.data.len() as u64;
    let record =
        crate::report::Record::memory(run.kind.name(), phase, pairs, seconds, growth as f64 / pairs as f64);
    eprintln!("{}", record.line());
    run.records.push(record);
    Ok(())
}

/// Twice the data set in random overwrites of surviving keys, in non-durable
/// commits of `overwrite_batch_len`, then made durable; records the
/// throughput, the final size and the peak size seen after any commit.
pub(super) fn overwrite(run: &mut Run<'_>, engine: &mut dyn Engine) -> Result<()> {
    engine.set_commit(Commit::NoSync)?;
    let data = run.data;
    let (total, len) = (2 * data.len(), run.plan.overwrite_batch_len);
    let (dir, mut rng) = (run.db_dir.clone(), data.rng(OVERWRITE));
    let mut peak = disk_bytes(&dir)?;
    let engine_ref = &*engine;
    run.timed("overwrite", 1, total as u64, |p| {
        let mut keys = Vec::with_capacity(len);
        let mut values = Vec::with_capacity(len);
        let mut done = 0;
        while done < total {
            let n = len.min(total - done);
            keys.clear();
            keys.extend((0..n).map(|_| data.keys[rng.random_range(data.survivors())]));
            values.clear();
            values.extend(keys.iter().map(|k| value_for(k, 1 + (done / len) as u64)));
            engine_ref.write(&keys, &values)?;
            peak = peak.max(disk_bytes(&dir)?);
            done += n;
            p.inc(n as u64);
        }
        engine_ref.sync()?;
        Ok(())
    })?;
    let last = run.records.last_mut().ok_or("no overwrite record")?;
    let final_bytes = disk_bytes(&dir)?;
    last.bytes = Some(final_bytes as f64);
    peak = peak.max(final_bytes);
    check_survivors(run, engine)?;
    run.size("overwrite peak", peak);
    Ok(())
}
