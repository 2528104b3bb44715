//! Suite 8 of the reliability harness: decoder fuzzing of data files, hint
//! files, the MANIFEST and the CATALOG — the stable smoke run that CI does
//! inside `cargo test --workspace`.
//!
//! What it injects: each of the four targets of `fuzz/src/targets.rs`
//! (included below, the very code the coverage-guided `cargo fuzz` targets
//! run) replaces one file of a tiny valid database in a simulated file system
//! with an input, then opens the database, reads every tree back, writes,
//! compacts, closes and reopens. The inputs are the committed seed corpus
//! (`fuzz/corpus/<target>/`), the saved regression inputs
//! (`fuzz/regressions/<target>/`), the seeds the harness derives from its
//! pristine database, and `MUTATIONS` seeded random mutations of them: bit
//! flips, byte sets, truncations, zero or garbage tails, insertions and
//! deletions, splices from another seed, copies of 8-aligned ranges (entries
//! duplicated or moved), and edits of the length and count fields (key and
//! value lengths, record and tree counts, dropped-batch and retiring-file
//! counts, shard counts, file ids) to boundary values.
//!
//! Pass criterion (the module documentation of `targets.rs` has it in full):
//! never a panic on any thread, never one allocation beyond 2 MiB plus 16
//! times the input, every error a clear `armdb::Error` (`Corruption` naming a
//! file of the database on open); a pristine file, or a hint whose checksums
//! fail, leaves the database exactly as it was; any successful open reads
//! back consistently, takes a write, compacts without changing what the
//! trees hold, closes, and reopens to the same state.
//! A failing input is saved under `target/tmp/fuzz-smoke/` and its path
//! printed, to be replayed with `cargo fuzz run <target> <file>` or kept in
//! `fuzz/regressions/<target>/`.
//!
//! Sizes: `MUTATIONS` per target, `support::op_count(ci, local)`, so that the
//! whole file takes well under 30 s with `CI=true`; `ARMDB_OPS` overrides it
//! and `ARMDB_SEED` the seed (printed). `seed_corpus_is_current` checks
//! `fuzz/corpus/` against the harness's pristine database
//! (`ARMDB_WRITE_SEED_CORPUS=1` regenerates it).

mod support;

#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use armdb::fs::SimFs;
use armdb::{CompactionConfig, Config, CorruptionPolicy, Db, Durability};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use targets::{Target, Verdict};

const DEFAULT_SEED: u64 = 0xF022_0008;
/// Random mutations per target (CI, local).
const MUTATIONS: (usize, usize) = (250, 2_000);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted by name; none if it does not exist.
fn read_inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).expect("read a corpus file")))
        .collect();
    out.sort();
    out
}

/// Every input the mutations start from: committed corpus, regressions and
/// the harness's own seeds.
fn corpus(target: Target) -> Vec<(String, Vec<u8>)> {
    let mut out = read_inputs(&fuzz_dir().join("corpus").join(target.name()));
    out.extend(read_inputs(&fuzz_dir().join("regressions").join(target.name())));
    out.extend(
        targets::seeds(target).into_iter().map(|(name, bytes)| (format!("harness seed {name}"), bytes)),
    );
    out
}

/// A boundary value for a field of `width` bytes that now holds `current`,
/// in a file of `len` bytes.
fn boundary(rng: &mut SmallRng, width: usize, current: u64, len: usize) -> u64 {
    let max = if width >= 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
    let candidates = [
        0,
        1,
        max,
        max - 1,
        max / 2 + 1,
        current.wrapping_add(1),
        current.wrapping_sub(1),
        current.wrapping_add(8),
        current.wrapping_sub(8),
        current.wrapping_mul(2),
        255,
        256,
        512,
        513,
        65_535,
        65_536,
        64 << 20,
        (64 << 20) + 1,
        len as u64,
        len as u64 + 1,
        rng.random(),
    ];
    candidates[rng.random_range(0..candidates.len())] & max
}

/// One to four random mutations of `base`.
fn mutate(rng: &mut SmallRng, target: Target, base: &[u8], corpus: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = b.len();
        match rng.random_range(0..10) {
            // A bit flip.
            0 if len > 0 => {
                let at = rng.random_range(0..len);
                b[at] ^= 1 << rng.random_range(0..8);
            }
            // A byte set to a telling value.
            1 if len > 0 => {
                let at = rng.random_range(0..len);
                b[at] = [0, 1, 0x7f, 0x80, 0xff, rng.random()][rng.random_range(0..6)];
            }
            // A truncation.
            2 if len > 0 => b.truncate(rng.random_range(0..len)),
            // A zero-filled or garbage tail.
            3 => {
                let n = rng.random_range(1..=64);
                let zeros = rng.random_bool(0.5);
                b.extend((0..n).map(|_| if zeros { 0 } else { rng.random::<u8>() }));
            }
            // A few random bytes inserted, or a range deleted.
            4 if len > 0 => {
                let at = rng.random_range(0..=len);
                let n = rng.random_range(1..=16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                b.splice(at..at, bytes);
            }
            5 if len > 0 => {
                let at = rng.random_range(0..len);
                let end = (at + rng.random_range(1..=64)).min(len);
                b.drain(at..end);
            }
            // A splice from another input of the target.
            6 if !corpus.is_empty() && len > 0 => {
                let other = &corpus[rng.random_range(0..corpus.len())].1;
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    let n = rng.random_range(1..=(other.len() - from).min(256));
                    let at = rng.random_range(0..len);
                    let end = (at + n).min(len);
                    b.splice(at..end, other[from..from + n].iter().copied());
                }
            }
            // An 8-aligned range copied over another (an entry duplicated or moved).
            7 if len >= 16 => {
                let from = rng.random_range(0..len / 8) * 8;
                let to = rng.random_range(0..len / 8) * 8;
                let n = (rng.random_range(1..=32) * 8).min(len - from);
                let chunk = b[from..from + n].to_vec();
                if rng.random_bool(0.5) {
                    b.splice(to..to, chunk);
                } else {
                    let end = (to + n).min(len);
                    b.splice(to..end, chunk);
                }
            }
            // A length or count field set to a boundary value (twice as likely).
            _ => {
                let fields = targets::length_fields(target, &b);
                if fields.is_empty() {
                    continue;
                }
                let (at, width) = fields[rng.random_range(0..fields.len())];
                let current = b[at..at + width].iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x));
                let value = boundary(rng, width, current, len);
                b[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
            }
        }
    }
    b
}

/// Runs one input; on failure saves it and fails naming the file.
fn check(target: Target, label: &str, input: &[u8]) -> Vec<Verdict> {
    let run = std::panic::catch_unwind(|| targets::run(target, input));
    run.unwrap_or_else(|panic| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-smoke");
        std::fs::create_dir_all(&dir).expect("create the failure directory");
        let file = dir.join(format!("{}-{:016x}.bin", target.name(), support::fnv1a64(input)));
        std::fs::write(&file, input).expect("save the failing input");
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        panic!(
            "{} failed on {label} ({} bytes), saved as {}\n  replay: cargo fuzz run {} {}\n  {message}",
            target.name(),
            input.len(),
            file.display(),
            target.name(),
            file.display()
        )
    })
}

fn smoke(target: Target) {
    let seed = support::seed(DEFAULT_SEED) ^ target as u64;
    let mutations = support::op_count(MUTATIONS.0, MUTATIONS.1);
    let started = Instant::now();
    let corpus = corpus(target);
    assert!(!corpus.is_empty(), "{}: no seed input", target.name());
    let mut tally: std::collections::BTreeMap<Verdict, usize> = std::collections::BTreeMap::new();
    for (name, input) in &corpus {
        for v in check(target, name, input) {
            *tally.entry(v).or_default() += 1;
        }
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    for i in 0..mutations {
        let (name, base) = &corpus[rng.random_range(0..corpus.len())];
        let input = mutate(&mut rng, target, base, &corpus);
        for v in check(target, &format!("mutation {i} of {name} (seed {seed})"), &input) {
            *tally.entry(v).or_default() += 1;
        }
    }
    println!(
        "{}: {} seed inputs + {mutations} mutations in {:.1} s",
        target.name(),
        corpus.len(),
        started.elapsed().as_secs_f64()
    );
    for (v, n) in &tally {
        println!("  {:>5} {} {} {}", n, v.variant, v.policy, v.outcome);
    }
    let opened = tally.iter().filter(|(v, _)| v.outcome.starts_with("opened")).map(|(_, n)| n).sum::<usize>();
    assert!(opened > 0, "{}: no input opened: the harness tests nothing past the decoders", target.name());
}

#[test]
fn data_file_decoder_survives_fuzzing() {
    smoke(Target::DataFile);
}

#[test]
fn hint_file_decoder_survives_fuzzing() {
    smoke(Target::HintFile);
}

#[test]
fn manifest_decoder_survives_fuzzing() {
    smoke(Target::Manifest);
}

#[test]
fn catalog_decoder_survives_fuzzing() {
    smoke(Target::Catalog);
}

// ---------------------------------------------------------------------------
// Engine issues the fuzzers found (fuzz/README.md has them in full). Each test
// replays the saved inputs under every pass criterion. All five are fixed.
// ---------------------------------------------------------------------------

fn regression(target: Target, name: &str) -> Vec<u8> {
    let path = fuzz_dir().join("regressions").join(target.name()).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Issue 1: a CRC-valid MANIFEST whose durable seq is above `MAX_SEQ`
/// (2^63 - 1) is accepted. At `u64::MAX - 1` the first write is refused
/// ("sequence numbers are exhausted") but wraps the seq counter to 0, and the
/// second write is encoded with seq 0 (`debug_assert` in `encode_entry`; a
/// release build writes an entry that recovery rejects, then reuses seqs 1,
/// 2, ... below the durable seq). At `u64::MAX`, `Db::open` overflows
/// computing the next seq. Expected: `Error::Corruption` naming the MANIFEST.
#[test]
fn regression_durable_seq_above_max_seq_is_corruption() {
    for name in ["durable-seq-u64-max-minus-1.bin", "durable-seq-u64-max.bin"] {
        targets::run(Target::Manifest, &regression(Target::Manifest, name));
    }
}

/// Issue 2: the newest data file of a shard has id `u32::MAX - 1` and a bad
/// header; under `SkipEntry` recovery skips it, creates file `u32::MAX` as
/// the active file and computes the next id as `u32::MAX + 1` unchecked
/// (`recovery/files.rs`, `next_file_id = id + 1`): an overflow panic on a
/// recovery thread in a debug build, a wrapped id 0 in release. Expected:
/// the `checked_add` that `Shard::rotate` and the listing already have.
#[test]
fn regression_new_active_file_at_the_last_id() {
    targets::run(Target::DataFile, &regression(Target::DataFile, "file-id-u32-max-minus-1.bin"));
}

/// Issue 3: `Catalog::decode` reserves `Vec::with_capacity(count)` for the
/// declared tree count (≤ 65,535, checked) before checking it against the
/// bytes of the file: a 20-byte CATALOG that declares 65,535 trees allocates
/// 3 MiB (65,535 × 48 bytes) and is then refused. Bounded, but the pattern
/// of `shared/PITFALLS.md` 22. Expected: no allocation beyond the limit.
#[test]
fn regression_catalog_count_checked_before_allocating() {
    for name in ["count-65535-no-records.bin", "count-65535-in-75-bytes.bin"] {
        targets::run(Target::Catalog, &regression(Target::Catalog, name));
    }
}

/// Issue 4: a key with versions in two shards (a data file of shard 1 with a
/// valid header naming shard 0, planted in shard 0; recovery does not check
/// home shards) is resolved by `TreeCore::from_staged`'s unstable sort on the
/// key alone, not by seq: the value read back changes from one open to the
/// next, and acknowledged writes made after the open read back their old
/// values after a reopen. Expected: resolution by seq across shards (or such
/// entries reported as corruption).
#[test]
fn regression_keys_of_another_shard_are_corruption() {
    targets::run(Target::DataFile, &regression(Target::DataFile, "keys-of-another-shard.bin"));

    let fs = SimFs::new();
    let config = Config {
        shards: 2,
        durability: Durability::Flush,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        fs: Arc::new(fs.clone()),
        ..Config::default()
    };
    let db = Db::open("/db", config.clone()).expect("create");
    let tree = db.const_tree::<u32, 4>("t").expect("tree");
    for k in 0..64u32 {
        tree.put(&k, &[0; 4]).expect("put");
    }
    db.close().expect("close");
    // Shard 1's data file as shard 0's file 100, its header made to match.
    let mut bytes = fs.read_file(Path::new("/db/shard-001/0000000001.log")).expect("shard 1's file");
    bytes[10..12].copy_from_slice(&0u16.to_le_bytes());
    bytes[16..20].copy_from_slice(&100u32.to_le_bytes());
    let crc = support::crc32(&[&bytes[..32]]);
    bytes[32..36].copy_from_slice(&crc.to_le_bytes());
    fs.write_file(Path::new("/db/shard-000/0000000100.log"), &bytes);

    match Db::open("/db", config.clone()) {
        Err(armdb::Error::Corruption { path, .. }) => {
            assert_eq!(path, Path::new("/db/shard-000/0000000100.log"), "the misplaced file is named");
        }
        other => panic!("a file of keys of another shard must be corruption, got {:?}", other.map(|_| ())),
    }
    let config = Config { corruption: armdb::CorruptionPolicy::SkipEntry, ..config };
    let db = Db::open("/db", config.clone()).expect("open skipping the misplaced entries");
    assert!(db.stats().recovery.corrupt_entries > 0, "the misplaced entries are reported");
    let tree = db.const_tree::<u32, 4>("t").expect("tree");
    for k in 0..64u32 {
        tree.put(&k, &[1; 4]).expect("put");
    }
    db.close().expect("close");
    let db = Db::open("/db", config).expect("reopen");
    let tree = db.const_tree::<u32, 4>("t").expect("tree");
    let lost: Vec<u32> = (0..64u32).filter(|k| tree.get(k) != Some([1; 4])).collect();
    assert!(lost.is_empty(), "acknowledged writes read back their old values after a reopen: keys {lost:?}");
}

/// Issue 5: an entry whose key length is not its tree's — skipped by
/// recovery under `SkipEntry`, or never checked because a hint stood for its
/// file — stays in its sealed file, and the next compaction panics:
/// `ShardPass::copy` calls the open tree's `live_loc` with the entry's key,
/// and `Key::decode` panics on the wrong length (`copy_from_slice`). In the
/// background worker the panic poisons the database (writes refused until a
/// reopen, where it happens again at the next pass) and ends the worker.
/// Expected: compaction checks an entry against the catalog as recovery
/// does (or skips what recovery skipped).
#[test]
fn regression_compaction_of_a_key_of_another_length() {
    let fs = SimFs::new();
    let config = Config {
        shards: 1,
        max_file_size: 4096,
        durability: Durability::Flush,
        corruption: CorruptionPolicy::SkipEntry,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        fs: Arc::new(fs.clone()),
        ..Config::default()
    };
    let db = Db::open("/db", config.clone()).expect("create");
    let tree = db.const_tree::<u32, 4>("t").expect("tree");
    for k in 0..400u32 {
        tree.put(&(k % 100), &k.to_le_bytes()).expect("put");
    }
    db.close().expect("close");
    // A valid entry of tree 1 ("t", 4-byte keys) with a 2-byte key, appended
    // to the first (sealed) data file.
    let first = Path::new("/db/shard-000/0000000001.log");
    let mut bytes = fs.read_file(first).expect("the first data file");
    bytes.extend(support::encode_entry(1_000_000, 1, &[7, 7], &[0; 4]));
    fs.write_file(first, &bytes);

    let db = Db::open("/db", config).expect("open skips the entry");
    assert_eq!(db.stats().recovery.corrupt_entries, 1, "the entry is reported and skipped");
    let _tree = db.const_tree::<u32, 4>("t").expect("tree");
    let compacted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.compact()));
    assert!(compacted.is_ok(), "Db::compact panicked on the skipped entry");

    targets::run(Target::Catalog, &regression(Target::Catalog, "key-length-changed-then-compact.bin"));
    for name in ["short-key-skipped-then-compact.bin", "long-key-behind-hint-then-compact.bin"] {
        targets::run(Target::DataFile, &regression(Target::DataFile, name));
    }
}

/// Replays one input when `ARMDB_FUZZ_REPLAY=<target>:<file>` names one:
/// `ARMDB_FUZZ_REPLAY=data_file:crash-123 cargo test --test fuzz_smoke --
/// --nocapture replay`. Without the variable it has nothing to replay.
#[test]
fn replay() {
    let Ok(spec) = std::env::var("ARMDB_FUZZ_REPLAY") else { return };
    let (name, file) = spec.split_once(':').expect("ARMDB_FUZZ_REPLAY=<target>:<file>");
    let target = Target::ALL.into_iter().find(|t| t.name() == name).expect("a target name");
    let input = std::fs::read(file).expect("read the input");
    for v in targets::run(target, &input) {
        println!("{} {} {}", v.variant, v.policy, v.outcome);
    }
}

/// The committed seed corpus `fuzz/corpus/<target>/` is exactly what the
/// harness's pristine database yields, so the fuzzers start from the current
/// format. After a format change, regenerate it with
/// `ARMDB_WRITE_SEED_CORPUS=1 cargo test --test fuzz_smoke seed_corpus`.
#[test]
fn seed_corpus_is_current() {
    let write = std::env::var("ARMDB_WRITE_SEED_CORPUS").is_ok_and(|v| v == "1");
    for target in Target::ALL {
        let dir = fuzz_dir().join("corpus").join(target.name());
        for (name, bytes) in targets::seeds(target) {
            let path = dir.join(&name);
            if write {
                std::fs::create_dir_all(&dir).expect("create the corpus directory");
                std::fs::write(&path, &bytes).expect("write a seed");
            }
            let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            assert!(committed == bytes, "{} is stale: regenerate the seed corpus", path.display());
        }
    }
}
