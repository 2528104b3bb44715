//! Compaction: rewrites sealed files whose entries are mostly dead, so that
//! disk use stays bounded under overwrites and deletes.
//!
//! See `docs/compaction.md` for selection, the tombstone rule and how files are
//! retired.

mod output;
mod rewrite;
mod select;

use std::time::{Duration, Instant};

use crate::Result;
use crate::log::{FILE_HEADER_LEN, LogSet};
use crate::sync::lock;
use crate::tree::registry::Registry;

/// When and how much the background compactor rewrites.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactionConfig {
    /// How often the background compactor looks for work (`None`: never; only
    /// `Db::compact` compacts).
    pub interval: Option<Duration>,
    /// A sealed file is rewritten in the background once this share of its bytes is dead.
    pub min_dead_ratio: f64,
    /// Most bytes of files one background pass rewrites.
    pub max_bytes_per_pass: u64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self { interval: Some(Duration::from_secs(10)), min_dead_ratio: 0.5, max_bytes_per_pass: 1 << 30 }
    }
}

/// What one compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactionReport {
    /// Files rewritten and deleted.
    pub files_compacted: usize,
    /// Files written.
    pub files_written: usize,
    /// Bytes of the files rewritten.
    pub bytes_before: u64,
    /// Bytes of the files written.
    pub bytes_after: u64,
    /// Live entries moved into new files.
    pub entries_copied: u64,
    /// Dead entries left behind.
    pub entries_dropped: u64,
    /// Tombstones copied because an older version may still exist elsewhere.
    pub tombstones_kept: u64,
    /// Tombstones dropped.
    pub tombstones_dropped: u64,
    /// Wall time.
    pub duration: Duration,
}

impl CompactionReport {
    /// Bytes of disk given back.
    pub fn bytes_reclaimed(&self) -> u64 {
        self.bytes_before.saturating_sub(self.bytes_after)
    }
}

/// Which files a pass rewrites.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pass<'a> {
    /// Seal every active file, then rewrite every sealed file that holds any
    /// dead byte (`Db::compact`).
    Full,
    /// Files over the configured dead ratio, within the byte budget.
    Background(&'a CompactionConfig),
}

/// Runs one compaction pass over every shard.
pub(crate) fn run(
    log: &LogSet,
    registry: &Registry,
    pass: Pass<'_>,
    db_id: u64,
    max_file_size: u64,
) -> Result<CompactionReport> {
    let _one_at_a_time = lock(&log.maintenance);
    log.health.check()?;
    let started = Instant::now();
    let span = tracing::info_span!("compaction", ?pass);
    let _enter = span.enter();
    let mut budget = match pass {
        Pass::Full => u64::MAX,
        Pass::Background(c) => c.max_bytes_per_pass,
    };
    let mut plan = Vec::new();
    for shard in log.shards.iter() {
        if matches!(pass, Pass::Full) {
            // Everything written so far becomes eligible, not only sealed files.
            shard.seal_active(&log.health)?;
        }
        let stats: Vec<select::FileStat> = shard
            .sealed_files()
            .iter()
            .map(|f| select::FileStat {
                id: f.id,
                bytes: f.written().saturating_sub(FILE_HEADER_LEN as u64),
                dead: f.dead(),
            })
            .collect();
        let victims = match pass {
            Pass::Full => select::select(&stats, 0.0, u64::MAX),
            Pass::Background(c) => select::select(&stats, c.min_dead_ratio, budget),
        };
        let mut victims = victims;
        victims.truncate(crate::log::MAX_RETIRING);
        if victims.is_empty() || budget == 0 {
            continue;
        }
        let spent: u64 = stats.iter().filter(|s| victims.contains(&s.id)).map(|s| s.bytes).sum();
        budget = budget.saturating_sub(spent);
        plan.push((shard, victims));
    }
    let mut report = CompactionReport::default();
    if plan.is_empty() {
        return Ok(report);
    }
    // From here on every batch in a sealed file is whole, so batch markers need
    // not be copied and copies need no framing. Only compaction removes sealed
    // files, and it runs one pass at a time: the plan stays valid.
    log.advance_durable_seq()?;
    for (shard, victims) in plan {
        rewrite::ShardPass { log, shard, registry, db_id, max_file_size }.run(&victims, &mut report)?;
    }
    report.duration = started.elapsed();
    if report.files_compacted > 0 {
        tracing::info!(
            files = report.files_compacted,
            reclaimed = report.bytes_reclaimed(),
            copied = report.entries_copied,
            ms = report.duration.as_millis() as u64,
            "compacted"
        );
    }
    Ok(report)
}
