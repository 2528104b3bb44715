//! Batches recovery has seen but not yet proven whole.
//!
//! A batch is applied only when every shard it names holds its part: a marker
//! whose entry count matches the part's entries, and as many parts as the
//! markers name. Otherwise (a crash cut some part) all of it is dropped.

use std::collections::HashMap;

use super::{Found, Staged};
use crate::log::BatchMarker;

/// One shard's part of one batch.
#[derive(Debug, Default)]
pub(super) struct Part {
    pub staged: HashMap<u32, Staged>,
    pub entries: u32,
    pub marker: Option<BatchMarker>,
}

/// A shard's unproven batch parts by seq.
#[derive(Debug, Default)]
pub(super) struct Pending {
    parts: HashMap<u64, Part>,
}

impl Pending {
    pub(super) fn part(&mut self, seq: u64) -> &mut Part {
        self.parts.entry(seq).or_default()
    }
}

/// Moves the entries of every whole batch into their shard's staging and drops
/// the rest. Returns the seqs of the batches dropped.
pub(super) fn settle(found: &mut [Found]) -> Vec<u64> {
    let mut by_seq: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, f) in found.iter().enumerate() {
        for &seq in f.batches.parts.keys() {
            by_seq.entry(seq).or_default().push(i);
        }
    }
    let mut dropped = Vec::new();
    for (seq, shards) in by_seq {
        let whole = shards.iter().all(|&i| {
            found[i].batches.parts.get(&seq).is_some_and(|p| {
                p.marker.is_some_and(|m| m.entries == p.entries && usize::from(m.shards) == shards.len())
            })
        });
        if !whole {
            dropped.push(seq);
            tracing::warn!(seq, shards = shards.len(), "dropping a batch that a crash cut short");
        }
        for &i in &shards {
            let Some(part) = found[i].batches.parts.remove(&seq) else { continue };
            if whole {
                for (tree, staged) in part.staged {
                    match found[i].staged.get_mut(&tree) {
                        Some(existing) => existing.append(staged),
                        None => {
                            found[i].staged.insert(tree, staged);
                        }
                    }
                }
            }
        }
    }
    dropped.sort_unstable();
    dropped
}
