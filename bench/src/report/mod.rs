//! The results: one record per measurement, written as results.json (the shape
//! other tools read), a Markdown table and PNG charts.

mod chart;
mod rows;
mod table;

use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};

use crate::Result;
use crate::machine::Machine;
use crate::scale::Scale;

/// One measurement of one engine (or limit proxy) in one phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `armdb-var`, `armdb-const`, a peer, or `limit-*`.
    pub engine: String,
    /// The phase, lower case.
    pub phase: String,
    /// Threads doing the operations.
    pub threads: usize,
    /// Operations done; for a size, the live keys it holds.
    pub ops: u64,
    /// Wall time (0 for a size).
    pub seconds: f64,
    /// `ops / seconds` (0 for a size).
    pub ops_per_sec: f64,
    /// Bytes on disk for the size phases (and the final size of `overwrite`);
    /// bytes per key for `memory`; otherwise null.
    #[serde(serialize_with = "whole_when_integral")]
    pub bytes: Option<f64>,
}

/// Writes whole numbers without a fraction, so byte counts read as integers.
fn whole_when_integral<S: Serializer>(bytes: &Option<f64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match *bytes {
        None => s.serialize_none(),
        Some(b) if b.fract() == 0.0 && (0.0..9.0e15).contains(&b) => s.serialize_u64(b as u64),
        Some(b) => s.serialize_f64(b),
    }
}

impl Record {
    /// A timed measurement.
    pub fn timed(engine: &str, phase: &str, threads: usize, ops: u64, seconds: f64) -> Self {
        let ops_per_sec = if seconds > 0.0 { ops as f64 / seconds } else { 0.0 };
        Self { engine: engine.into(), phase: phase.into(), threads, ops, seconds, ops_per_sec, bytes: None }
    }

    /// A size on disk of a database holding `live` keys.
    pub fn size(engine: &str, phase: &str, live: u64, bytes: f64) -> Self {
        Self { bytes: Some(bytes), ..Self::timed(engine, phase, 1, live, 0.0) }
    }

    /// A memory phase: `pairs` loaded in `seconds`, `per_key` bytes of RSS each.
    pub fn memory(engine: &str, phase: &str, pairs: u64, seconds: f64, per_key: f64) -> Self {
        Self { bytes: Some((per_key * 10.0).round() / 10.0), ..Self::timed(engine, phase, 1, pairs, seconds) }
    }

    /// A one-line summary for the log.
    pub fn line(&self) -> String {
        let phase =
            if self.threads > 1 { format!("{} ×{}", self.phase, self.threads) } else { self.phase.clone() };
        let what = match (self.phase.as_str(), self.bytes) {
            ("memory" | "memory without keydir", Some(b)) => {
                format!("{b:.1} B/key (load of {} keys: {})", self.ops, fmt_secs(self.seconds))
            }
            (_, Some(b)) if self.seconds == 0.0 => format!("{} for {} keys", fmt_bytes(b), self.ops),
            _ if self.ops <= 1 => fmt_secs(self.seconds),
            _ => format!("{} ({} in {})", fmt_rate(self.ops_per_sec), self.ops, fmt_secs(self.seconds)),
        };
        format!("{:>14}  {phase:<34} {what}", self.engine)
    }
}

/// Everything one run measured, in the shape of results.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    /// `smoke`, `quick` or `full`.
    pub scale: String,
    /// Pairs of the data set.
    pub pairs: u64,
    /// When the run ended, UTC, RFC 3339.
    pub date: String,
    /// The commit the harness was built from.
    pub git: String,
    /// The machine.
    pub machine: Machine,
    /// Every measurement, in the order taken.
    pub results: Vec<Record>,
}

impl Results {
    /// The results of a run that just ended.
    pub fn new(scale: Scale, pairs: usize, machine: Machine, results: Vec<Record>) -> Self {
        Self {
            scale: scale.name().into(),
            pairs: pairs as u64,
            date: crate::machine::utc_now(),
            git: crate::machine::git_commit(),
            machine,
            results,
        }
    }
}

/// Writes `results.json`, `results.md` and the charts into `out`, and the
/// table to stdout.
///
/// # Errors
/// I/O and drawing errors.
pub fn write(results: &Results, out: &Path) -> Result<()> {
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(results)? + "\n")?;
    let table = table::render(&results.results);
    std::fs::write(out.join("results.md"), &table)?;
    println!("{table}");
    for path in chart::draw_all(&results.results, out)? {
        eprintln!("compare: chart {}", path.display());
    }
    Ok(())
}

/// Operations per second, short: `1.23 M/s`.
pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{r:.0} /s")
    }
}

/// Seconds, short: `1.23 s`, `45.6 ms`, `789 µs`.
pub fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

/// Bytes, short, in binary units: `123.4 MiB`.
pub fn fmt_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{v:.0} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_documented_shape() {
        let results = Results {
            scale: "quick".into(),
            pairs: 1_000_000,
            date: "2026-01-01T00:00:00Z".into(),
            git: "abc".into(),
            machine: Machine { cores: 2, fsync_ms: 1.9 },
            results: vec![
                Record::timed("armdb-var", "random reads", 1, 2_000_000, 1.25),
                Record::size("lmdb", "size after compaction", 500_000, 123_456.0),
            ],
        };
        let text = serde_json::to_string(&results).expect("json");
        let at: Vec<usize> = ["scale", "pairs", "date", "git", "machine", "results"]
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).expect("key present"))
            .collect();
        assert!(at.is_sorted(), "top-level keys in the documented order: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("parse");
        assert_eq!(v["machine"], serde_json::json!({ "cores": 2, "fsync_ms": 1.9 }));
        assert_eq!(
            v["results"][0],
            serde_json::json!({ "engine": "armdb-var", "phase": "random reads", "threads": 1,
                "ops": 2_000_000, "seconds": 1.25, "ops_per_sec": 1_600_000.0, "bytes": null })
        );
        assert_eq!(v["results"][1]["bytes"], serde_json::json!(123_456));
    }

    #[test]
    fn units() {
        assert_eq!(fmt_rate(1_626_016.0), "1.63 M/s");
        assert_eq!(fmt_rate(950.0), "950 /s");
        assert_eq!(fmt_secs(0.0123), "12.3 ms");
        assert_eq!(fmt_bytes(1536.0), "1.5 KiB");
    }
}
