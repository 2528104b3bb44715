//! The rows of the table and the bars of the charts: which record each reads,
//! which way is better, and which limit proxy bounds it.

use super::{Record, fmt_bytes, fmt_rate, fmt_secs};
use crate::data::PAIR_LEN;

/// What a row shows, and so which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Operations per second; higher is better.
    Rate,
    /// Seconds; lower is better.
    Seconds,
    /// Bytes on disk, shown with their ratio to the live key and value bytes; lower is better.
    Disk,
    /// RSS bytes per key; lower is better.
    PerKey,
}

/// The chart a row is drawn in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Writes,
    Reads,
    Maintenance,
    Space,
}

impl Group {
    /// Every group, in chart order.
    pub const ALL: [Group; 4] = [Self::Writes, Self::Reads, Self::Maintenance, Self::Space];

    /// File stem and title of the group's chart.
    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            Self::Writes => ("writes", "Writes (throughput)"),
            Self::Reads => ("reads", "Reads (throughput; len: time)"),
            Self::Maintenance => ("maintenance", "Removals, compaction and reopen"),
            Self::Space => ("space", "Disk and memory use"),
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// The label in the table and on the chart.
    pub label: String,
    /// The phase of the records it reads.
    pub phase: &'static str,
    /// Threads of the records it reads (`None`: the one record of the phase).
    pub threads: Option<usize>,
    pub metric: Metric,
    pub group: Group,
    /// The phase whose record holds the live keys of a `Disk` row, when not its own.
    pub live_from: Option<&'static str>,
    /// The limit proxies (engine, phase) that bound this row; the tightest is shown.
    pub limits: &'static [(&'static str, &'static str)],
}

const SEQWRITE: (&str, &str) = ("limit-seqwrite", "bulk load");
const SKIP_INSERT: (&str, &str) = ("limit-skiplist", "bulk load");
const FSYNC: (&str, &str) = ("limit-fsync", "individual writes");
const SEQREAD: (&str, &str) = ("limit-seqread", "reopen");

fn row(phase: &'static str, metric: Metric, group: Group) -> Row {
    Row { label: phase.into(), phase, threads: None, metric, group, live_from: None, limits: &[] }
}

/// Every row, in phase order; the threaded reads get one row per thread count in `threads`.
pub fn rows(threads: &[usize]) -> Vec<Row> {
    use Group::*;
    use Metric::*;
    let mut rows = vec![
        Row { limits: &[SEQWRITE, SKIP_INSERT], ..row("bulk load", Rate, Writes) },
        Row { limits: &[FSYNC], ..row("individual writes", Rate, Writes) },
        Row { limits: &[FSYNC], ..row("concurrent durable writes", Rate, Writes) },
        row("batch writes", Rate, Writes),
        Row { limits: &[SEQWRITE, SKIP_INSERT], ..row("nosync writes", Rate, Writes) },
        row("len", Seconds, Reads),
        Row { limits: &[("limit-hashmap", "random reads")], ..row("random reads", Rate, Reads) },
        Row { limits: &[("limit-skiplist", "random range reads")], ..row("random range reads", Rate, Reads) },
    ];
    for &t in threads {
        rows.push(Row {
            label: format!("threaded random reads ×{t}"),
            threads: Some(t),
            limits: &[("limit-hashmap", "threaded random reads")],
            ..row("threaded random reads", Rate, Reads)
        });
    }
    rows.extend([
        Row { limits: &[("limit-skiplist", "prefix scans")], ..row("prefix scans", Rate, Reads) },
        row("removals", Rate, Maintenance),
        row("size before compaction", Disk, Space),
        row("compaction", Seconds, Maintenance),
        row("size after compaction", Disk, Space),
        Row { limits: &[SEQREAD], ..row("reopen", Seconds, Maintenance) },
        Row { limits: &[SEQREAD], ..row("reopen without hints", Seconds, Maintenance) },
        Row { limits: &[SEQREAD], ..row("reopen after kill", Seconds, Maintenance) },
        Row { limits: &[SEQREAD], ..row("reopen after kill without hints", Seconds, Maintenance) },
        row("memory", PerKey, Space),
        row("memory without keydir", PerKey, Space),
        row("overwrite", Rate, Writes),
        Row {
            label: "overwrite final size".into(),
            live_from: Some("overwrite peak"),
            ..row("overwrite", Disk, Space)
        },
        row("overwrite peak", Disk, Space),
    ]);
    rows
}

impl Metric {
    /// Whether a higher value is better.
    pub fn higher_is_better(self) -> bool {
        self == Metric::Rate
    }

    /// How much better `a` is than `b`: above 1 when `a` is better.
    pub fn advantage(self, a: f64, b: f64) -> f64 {
        if self.higher_is_better() { a / b } else { b / a }
    }
}

impl Row {
    fn find<'r>(&self, records: &'r [Record], engine: &str, phase: &str) -> Option<&'r Record> {
        let threads = if phase == self.phase { self.threads } else { None };
        records
            .iter()
            .find(|r| r.engine == engine && r.phase == phase && threads.is_none_or(|t| r.threads == t))
    }

    /// The row's value for `engine`, if it was measured.
    pub fn value(&self, records: &[Record], engine: &str) -> Option<f64> {
        let r = self.find(records, engine, self.phase)?;
        let v = match self.metric {
            Metric::Rate => r.ops_per_sec,
            Metric::Seconds => r.seconds,
            Metric::Disk | Metric::PerKey => r.bytes?,
        };
        (v > 0.0 || self.metric == Metric::Disk).then_some(v)
    }

    /// Live key and value bytes behind a `Disk` value of `engine`.
    pub fn live_bytes(&self, records: &[Record], engine: &str) -> Option<f64> {
        let r = self.find(records, engine, self.live_from.unwrap_or(self.phase))?;
        Some((r.ops * PAIR_LEN) as f64)
    }

    /// The value as shown in a cell.
    pub fn show(&self, records: &[Record], engine: &str) -> Option<String> {
        let v = self.value(records, engine)?;
        Some(match self.metric {
            Metric::Rate => fmt_rate(v),
            Metric::Seconds => fmt_secs(v),
            Metric::Disk => match self.live_bytes(records, engine) {
                Some(live) if live > 0.0 => format!("{} ({:.2}×)", fmt_bytes(v), v / live),
                _ => fmt_bytes(v),
            },
            Metric::PerKey => format!("{v:.1} B/key"),
        })
    }

    /// The tightest limit proxy of the row: its name and value.
    pub fn limit(&self, records: &[Record]) -> Option<(&'static str, f64)> {
        self.limits
            .iter()
            .filter_map(|&(engine, phase)| {
                let r = self.find(records, engine, phase)?;
                let v = match self.metric {
                    Metric::Rate => r.ops_per_sec,
                    _ => r.seconds,
                };
                Some((engine, v))
            })
            // The tightest bound: the lowest rate, or the longest time.
            .min_by(
                |a, b| if self.metric.higher_is_better() { a.1.total_cmp(&b.1) } else { b.1.total_cmp(&a.1) },
            )
    }
}
