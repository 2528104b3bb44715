//! The Markdown table: one row per phase, one column per engine, the best
//! peer, armdb's ratio to it, and the tightest limit proxy with armdb's ratio to it.

use std::fmt::Write;

use super::Record;
use super::rows::{Row, rows};

/// The engines with results, in the order they ran, limit proxies excluded.
pub fn engines(records: &[Record]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for r in records {
        if !r.engine.starts_with("limit-") && !names.contains(&r.engine.as_str()) {
            names.push(&r.engine);
        }
    }
    names
}

/// The thread counts of the threaded reads that were measured.
pub fn thread_counts(records: &[Record]) -> Vec<usize> {
    let mut t: Vec<usize> =
        records.iter().filter(|r| r.phase == "threaded random reads").map(|r| r.threads).collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// The best peer of a row: its name and value.
fn best_peer<'e>(row: &Row, records: &[Record], peers: &[&'e str]) -> Option<(&'e str, f64)> {
    peers.iter().filter_map(|&p| Some((p, row.value(records, p)?))).max_by(|a, b| {
        let better = row.metric.advantage(a.1, b.1);
        better.total_cmp(&1.0)
    })
}

fn ratio(r: f64) -> String {
    format!("{r:.2}×")
}

/// Renders the table of `records`.
pub fn render(records: &[Record]) -> String {
    let engines = engines(records);
    let (armdb, peers): (Vec<&str>, Vec<&str>) = engines.iter().partition(|e| e.starts_with("armdb-"));
    let mut header = vec!["phase".to_string()];
    header.extend(engines.iter().map(|e| e.to_string()));
    header.push("best peer".into());
    header.extend(armdb.iter().map(|a| format!("{a} vs best peer")));
    header.push("limit".into());
    header.extend(armdb.iter().map(|a| format!("{a} vs limit")));

    let mut out = String::new();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    let dash = || "—".to_string();
    for row in rows(&thread_counts(records)) {
        if engines.iter().all(|e| row.value(records, e).is_none()) {
            continue;
        }
        let mut cells = vec![row.label.clone()];
        cells.extend(engines.iter().map(|e| row.show(records, e).unwrap_or_else(dash)));
        let best = best_peer(&row, records, &peers);
        cells.push(
            best.map_or_else(dash, |(p, _)| format!("{p}: {}", row.show(records, p).unwrap_or_else(dash))),
        );
        for a in &armdb {
            cells.push(match (row.value(records, a), best) {
                (Some(v), Some((_, b))) => ratio(row.metric.advantage(v, b)),
                _ => dash(),
            });
        }
        let limit = row.limit(records);
        cells.push(limit.map_or_else(dash, |(name, v)| {
            let shown = match row.metric {
                super::rows::Metric::Rate => super::fmt_rate(v),
                _ => super::fmt_secs(v),
            };
            format!("{}: {shown}", name.trim_start_matches("limit-"))
        }));
        for a in &armdb {
            cells.push(match (row.value(records, a), limit) {
                (Some(v), Some((_, l))) => ratio(row.metric.advantage(v, l)),
                _ => dash(),
            });
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(
        out,
        "\nRatios are armdb's advantage: above 1.00× armdb is faster (or smaller) than the best peer; \
         \"vs limit\" is the share of the limit proxy's bound that armdb reaches. \
         Sizes in parentheses are disk bytes ÷ live key and value bytes."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(engine: &str, phase: &str, ops_per_sec: f64) -> Record {
        Record::timed(engine, phase, 1, ops_per_sec as u64, 1.0)
    }

    #[test]
    fn ratios_to_best_peer_and_limit() {
        let records = vec![
            rec("limit-hashmap", "random reads", 4000.0),
            rec("armdb-var", "random reads", 2000.0),
            rec("redb", "random reads", 1000.0),
            rec("lmdb", "random reads", 1600.0),
            Record::size("armdb-var", "size after compaction", 1000, 348_000.0),
            Record::size("lmdb", "size after compaction", 1000, 174_000.0),
        ];
        let table = render(&records);
        let reads = table.lines().find(|l| l.starts_with("| random reads")).expect("row");
        assert!(reads.contains("| lmdb: 1.6 k/s | 1.25× | hashmap: 4.0 k/s | 0.50× |"), "{reads}");
        let size = table.lines().find(|l| l.starts_with("| size after")).expect("row");
        assert!(size.contains("339.8 KiB (2.00×)"), "{size}");
        assert!(size.contains("| 0.50× |"), "smaller is better: {size}");
        assert!(!table.contains("| len |"), "unmeasured rows are left out");
    }
}
