//! Child processes of the harness: the writer that is killed with SIGKILL before
//! the "reopen after kill" measurements, and the fresh process in which the
//! memory phase measures RSS growth. The binary re-executes itself with the
//! hidden `--child` flag; the data set is regenerated from the same seed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::Result;
use crate::data::{DataSet, value_for};
use crate::engines::{Commit, EngineKind};
use crate::fsutil::rss_bytes;
use crate::scale::Scale;

/// What a child process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Opens the database, makes non-durable writes, says `ready` and waits to be killed.
    Kill,
    /// Loads the data set into a fresh database (commits of 10,000 pairs, then a
    /// sync) and reports the RSS growth.
    Memory,
    /// `Memory` for an armdb engine with `Config::keydir` off.
    MemoryWithoutKeydir,
}

/// The line a kill child prints once its writes are done.
const READY: &str = "ready";
/// The line a memory child prints: `memory <rss growth bytes> <load seconds>`.
const MEMORY: &str = "memory";
/// A kill child that is never killed exits after this long.
const KILL_CHILD_MAX_WAIT: Duration = Duration::from_secs(120);
/// Pairs per commit of the memory child's load.
const MEMORY_COMMIT_LEN: usize = 10_000;
/// Stream id of the random choices of the kill child.
const KILL_STREAM: u64 = 0x4B11;

/// Starts children with the parent's scale and seed.
#[derive(Clone, Copy, Debug)]
pub struct Launcher {
    /// The parent's scale.
    pub scale: Scale,
    /// The parent's seed.
    pub seed: u64,
}

impl Launcher {
    fn command(&self, role: &str, kind: EngineKind, dir: &Path) -> Result<Command> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["--child", role, "--engines", kind.name(), "--scale", self.scale.name()])
            .arg("--seed")
            .arg(self.seed.to_string())
            .arg("--child-dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        Ok(cmd)
    }

    /// Runs a kill child on the closed database in `dir`, and SIGKILLs it once
    /// its non-durable writes are done.
    ///
    /// # Errors
    /// When the child cannot start or exits before it is ready.
    pub fn kill_writer(&self, kind: EngineKind, dir: &Path) -> Result<()> {
        let mut child = self.command("kill", kind, dir)?.spawn()?;
        let stdout = child.stdout.take().ok_or("kill child has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        // `Child::kill` sends SIGKILL on Unix: no destructor, no flush, no close.
        child.kill()?;
        child.wait()?;
        if line.trim() != READY {
            return Err(format!("{} kill child ended before it was ready", kind.name()).into());
        }
        Ok(())
    }

    /// Loads the data set into a fresh database in `dir` in a new process;
    /// returns its RSS growth in bytes and the load time in seconds.
    ///
    /// # Errors
    /// When the child fails or prints no result.
    pub fn memory(&self, kind: EngineKind, dir: &Path, keydir: bool) -> Result<(u64, f64)> {
        let role = if keydir { "memory" } else { "memory-without-keydir" };
        let out = self.command(role, kind, dir)?.output()?;
        if !out.status.success() {
            return Err(format!("{} memory child failed: {}", kind.name(), out.status).into());
        }
        let text = String::from_utf8(out.stdout)?;
        let line = text.lines().find(|l| l.starts_with(MEMORY)).ok_or("memory child printed no result")?;
        let mut words = line.split_whitespace().skip(1);
        let growth = words.next().ok_or("no growth")?.parse()?;
        let seconds = words.next().ok_or("no seconds")?.parse()?;
        Ok((growth, seconds))
    }
}

/// The child side: does what `role` says with `kind` in `dir`.
///
/// # Errors
/// Any engine error; the parent reports it.
pub fn run(role: Role, kind: EngineKind, dir: &Path, scale: Scale, seed: u64) -> Result<()> {
    let plan = scale.plan();
    let data = DataSet::generate(plan.pairs, seed);
    let mut out = std::io::stdout().lock();
    match role {
        Role::Kill => {
            let mut engine = kind.open(dir, Commit::NoSync)?;
            engine.set_commit(Commit::NoSync)?;
            let mut rng = data.rng(KILL_STREAM);
            let survivors = data.survivors();
            for chunk in 0..plan.kill_writes.div_ceil(100) {
                let n = 100.min(plan.kill_writes - chunk * 100);
                let keys: Vec<_> = (0..n).map(|_| data.keys[rng.random_range(survivors.clone())]).collect();
                let values: Vec<_> = keys.iter().map(|k| value_for(k, u64::MAX - chunk as u64)).collect();
                engine.write(&keys, &values)?;
            }
            // Let background flushers hand their buffers to the OS, as they would
            // in a process that keeps running: the kill then loses only what the
            // engine itself still held.
            std::thread::sleep(Duration::from_millis(200));
            writeln!(out, "{READY}")?;
            out.flush()?;
            std::thread::sleep(KILL_CHILD_MAX_WAIT);
            Err("kill child was never killed".into())
        }
        Role::Memory | Role::MemoryWithoutKeydir => {
            let before = rss_bytes()?;
            let started = Instant::now();
            let mut engine = if role == Role::Memory {
                kind.open(dir, Commit::NoSync)?
            } else {
                kind.open_without_keydir(dir, Commit::NoSync)?
                    .ok_or_else(|| format!("{} has no keydir to turn off", kind.name()))?
            };
            engine.set_commit(Commit::NoSync)?;
            // Commits of `MEMORY_COMMIT_LEN`, not one: what stays resident is the
            // engine's, not the heap a giant transaction left to the allocator.
            for (keys, values) in
                data.keys.chunks(MEMORY_COMMIT_LEN).zip(data.values.chunks(MEMORY_COMMIT_LEN))
            {
                engine.write(keys, values)?;
            }
            engine.sync()?;
            let seconds = started.elapsed().as_secs_f64();
            let growth = rss_bytes()?.saturating_sub(before);
            engine.close()?;
            writeln!(out, "{MEMORY} {growth} {seconds}")?;
            Ok(())
        }
    }
}
