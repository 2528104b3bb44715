//! The three scales and how many operations each phase does at each.

/// How big a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// 10,000 pairs and proportionally fewer operations: proves the harness works (CI).
    Smoke,
    /// 1,000,000 pairs: the published table.
    Quick,
    /// 5,000,000 pairs.
    Full,
}

impl Scale {
    /// The name used on the command line and in results.json.
    pub fn name(self) -> &'static str {
        match self {
            Self::Smoke => "smoke",
            Self::Quick => "quick",
            Self::Full => "full",
        }
    }

    /// The operation counts of this scale.
    pub fn plan(self) -> Plan {
        let full_ops = Plan {
            pairs: 1_000_000,
            fsync_rounds: 1_000,
            individual_writes: 1_000,
            concurrent_threads: 4,
            concurrent_writes_per_thread: 250,
            batches: 100,
            batch_len: 1_000,
            nosync_writes: 100_000,
            reads: 1_000_000,
            read_passes: 2,
            ranges: 500_000,
            range_len: 10,
            read_threads: [1, 2, 4],
            prefix_scans: 100_000,
            prefix_len: 2,
            overwrite_batch_len: 1_000,
            kill_writes: 10_000,
        };
        match self {
            Self::Smoke => Plan {
                pairs: 10_000,
                fsync_rounds: 100,
                individual_writes: 50,
                concurrent_writes_per_thread: 25,
                batches: 10,
                batch_len: 100,
                nosync_writes: 2_000,
                reads: 10_000,
                ranges: 5_000,
                prefix_scans: 1_000,
                overwrite_batch_len: 100,
                kill_writes: 1_000,
                ..full_ops
            },
            Self::Quick => full_ops,
            Self::Full => Plan { pairs: 5_000_000, ..full_ops },
        }
    }
}

/// Operation counts of one run, in the order of the phases.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Pairs of the data set, all loaded by the bulk load.
    pub pairs: usize,
    /// Rounds of the fsync-latency proxy.
    pub fsync_rounds: usize,
    /// Single-insert durable commits, one after another.
    pub individual_writes: usize,
    /// Threads of the concurrent durable writes.
    pub concurrent_threads: usize,
    /// Durable single-insert commits per thread.
    pub concurrent_writes_per_thread: usize,
    /// Durable batches of the batch writes.
    pub batches: usize,
    /// Inserts per batch.
    pub batch_len: usize,
    /// Single inserts with no durability.
    pub nosync_writes: usize,
    /// Point gets per pass of the random reads.
    pub reads: usize,
    /// Passes of the random reads and the random range reads.
    pub read_passes: usize,
    /// Scans per pass of the random range reads.
    pub ranges: usize,
    /// Entries per range scan.
    pub range_len: usize,
    /// Thread counts of the threaded random reads.
    pub read_threads: [usize; 3],
    /// Prefix scans.
    pub prefix_scans: usize,
    /// Bytes of each scanned prefix.
    pub prefix_len: usize,
    /// Overwrites per commit in the overwrite phase (2 × pairs overwrites in all).
    pub overwrite_batch_len: usize,
    /// Non-durable overwrites a child makes before it is killed.
    pub kill_writes: usize,
}
