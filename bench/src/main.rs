//! `compare`: armdb measured side by side with redb, fjall and LMDB (heed) in one
//! process, one engine after another, each in a fresh temp directory, with the
//! limit proxies measured in the same run. `docs/benchmarks.md` describes the
//! workload, the phases and the output.
//!
//! ```text
//! cargo run --release -p armdb-bench --bin compare -- --scale quick --out bench-results
//! ```

mod child;
mod data;
mod engines;
mod fsutil;
mod limits;
mod machine;
mod phases;
mod progress;
mod report;
mod scale;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;

use crate::engines::EngineKind;
use crate::scale::Scale;

/// Any error of the harness, with its message; the run stops on the first one.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// The harness's result.
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Parser)]
#[command(about = "Compare armdb with redb, fjall and LMDB on one workload")]
struct Args {
    /// Data set size: smoke (10,000 pairs, for CI), quick (1,000,000) or full (5,000,000).
    #[arg(long, value_enum, default_value_t = Scale::Quick)]
    scale: Scale,
    /// Directory for results.json, results.md and the charts.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Directory under which each engine gets a fresh temp directory (default: the system one).
    #[arg(long)]
    tmp: Option<PathBuf>,
    /// Only these engines, comma-separated, run in this order (default: all
    /// that are built, armdb first).
    #[arg(long, value_delimiter = ',')]
    engines: Vec<String>,
    /// Seed of the data set and of every random choice.
    #[arg(long, default_value_t = data::DEFAULT_SEED)]
    seed: u64,
    /// Run nothing: write the table and the charts of this saved results.json to `--out`.
    #[arg(long, value_name = "RESULTS_JSON")]
    report: Option<PathBuf>,
    /// Internal: run as a child process in this role (`kill` or `memory`).
    #[arg(long, hide = true)]
    child: Option<child::Role>,
    /// Internal: the child's database directory.
    #[arg(long, hide = true)]
    child_dir: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("compare: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let kinds = EngineKind::select(&args.engines)?;
    if let Some(role) = args.child {
        let [kind] = kinds[..] else { return Err("a child runs exactly one engine".into()) };
        let dir = args.child_dir.ok_or("a child needs --child-dir")?;
        return child::run(role, kind, &dir, args.scale, args.seed);
    }
    if let Some(saved) = args.report {
        let results: report::Results = serde_json::from_slice(&std::fs::read(&saved)?)?;
        std::fs::create_dir_all(&args.out)?;
        return report::write(&results, &args.out);
    }
    let started = Instant::now();
    let plan = args.scale.plan();
    let tmp = match args.tmp {
        Some(dir) => dir,
        None => std::env::temp_dir(),
    };
    std::fs::create_dir_all(&tmp)?;
    std::fs::create_dir_all(&args.out)?;

    eprintln!("compare: scale {:?}, {} pairs, seed {:#x}", args.scale, plan.pairs, args.seed);
    let data = data::DataSet::generate(plan.pairs, args.seed);
    let mut records = Vec::new();
    limits::run(&plan, &data, &tmp, &mut records)?;
    fsutil::settle(&tmp);
    for kind in kinds {
        let dir =
            tempfile::Builder::new().prefix(&format!("armdb-bench-{}-", kind.name())).tempdir_in(&tmp)?;
        let child = child::Launcher { scale: args.scale, seed: args.seed };
        phases::run(kind, &plan, &data, dir.path(), &child, &mut records)?;
        // The engine was closed by `phases::run`; its files go before the next engine starts.
        dir.close()?;
        fsutil::settle(&tmp);
    }

    let results =
        report::Results::new(args.scale, plan.pairs, machine::Machine::from_records(&records), records);
    report::write(&results, &args.out)?;
    eprintln!("compare: done in {:.1} s; results in {}", started.elapsed().as_secs_f64(), args.out.display());
    Ok(())
}
