//! Suite 8: decoder fuzzing of data files, hint files, the MANIFEST and the
//! CATALOG — the bodies of the four fuzz targets, shared by the
//! coverage-guided fuzzers (`fuzz/fuzz_targets/*.rs`, run with `cargo fuzz`)
//! and the stable smoke driver `tests/fuzz_smoke.rs`, which includes this file
//! with `#[path]`. One file, so both run exactly the same checks.
//!
//! What is injected: the fuzz input replaces one file of a tiny, valid,
//! deterministic database (two shards, 4 KiB data files, a const tree, a var
//! tree and a typed tree with two secondary indexes; overwrites, deletes,
//! atomic batches, one compaction pass, so there are sealed log files with
//! hints, compaction outputs and a last file) held in an in-memory
//! [`SimFs`]:
//!
//! - `data_file`: a data file of a shard. The input's own header picks which
//!   one (shard at bytes 10..12, modulo the shard count; file id at 16..20),
//!   so a valid data file replaces itself and a mutated id plants a new file
//!   (a new last file, id 0, id `u32::MAX`, ...). Shorter than 20 bytes: the
//!   first data file of shard 0.
//! - `hint_file`: a hint file, picked the same way (shard at 10..12, file id
//!   at 12..16); shorter than 16 bytes: the first hint of shard 0.
//! - `manifest`: the MANIFEST. - `catalog`: the CATALOG.
//!
//! Every input runs as is and, when that changes it, once more *fixed up*:
//! checksums recomputed (and the database id, the hint's covered length and
//! the declared counts made consistent), so that the fuzzers reach the
//! decoders behind the CRC checks instead of bouncing off them. Each variant
//! opens the database twice over — under `CorruptionPolicy::Refuse` and under
//! `SkipEntry`.
//!
//! Pass criterion, for every input and variant:
//!
//! - no panic on any thread (a panic hook counts them: the engine's own
//!   worker and recovery threads included);
//! - no single allocation larger than [`alloc_limit`] — 2 MiB plus 16 times
//!   the input — on any thread: a length or count read from the file is never
//!   allocated before it is checked against the bytes that are there
//!   (`shared/PITFALLS.md` 22). The global allocator of every binary that
//!   includes this file records the largest allocation, and aborts outright
//!   on anything above 1 GiB;
//! - every error is an `armdb::Error` that names the damage: `Db::open` fails
//!   only with `Error::Corruption` naming a file of the database, reads fail
//!   only with `Corruption`, `Codec` (a typed record that does not decode) or
//!   `TreeMismatch` (a tree whose stored shape changed), the probe write and
//!   compaction only with `UniqueViolation` or exhausted seqs or file ids
//!   (a fuzzed id near `u32::MAX`). An I/O error, `Poisoned`, `Locked` or any
//!   other `InvalidArgument` is a failure (`shared/PITFALLS.md` 5: nothing is
//!   an I/O error here, the file system never fails);
//! - when the replaced file is byte-for-byte its pristine self, or is a hint
//!   whose checksums do not both match (a damaged hint is ignored and its
//!   data file scanned, `shared/PITFALLS.md` 3), `Db::open` succeeds and every
//!   tree reads back exactly as in the pristine database; a MANIFEST or
//!   CATALOG whose checksum does not match is refused with `Corruption` naming
//!   that file;
//! - after any successful open: every tree of the catalog is opened and read
//!   back whole (`iter`, `rev`, `get` of every key, `len`, the secondary
//!   indexes), and must agree with itself; one probe key is written to each
//!   tree; `Db::compact` succeeds or refuses a damaged file with
//!   `Corruption`, and the trees read back the same after it; `close`
//!   succeeds; a second open succeeds and reads back exactly the same state
//!   plus the probes. Recovery of damaged files is deterministic and
//!   idempotent, and the database stays writable and compactable.
//!
//! One relaxation is by design: a hint that passes its checks but does not
//! describe its data file (forged with valid CRCs, or a data file changed in
//! a CRC-consistent way beside its old hint of the same length) is trusted,
//! so compaction — which rescans the data file — may change what the trees
//! hold, leave index entries pointing at retired files, or carry a damaged
//! entry into a new file that the second open refuses (`run_one`,
//! `hint_trusted_over_data`). The engine bugs this suite found are fixed;
//! `fuzz/README.md` lists them.

#![allow(unsafe_code, reason = "the allocation guard is a `GlobalAlloc`")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};

use armdb::fs::SimFs;
use armdb::{CompactionConfig, Config, CorruptionPolicy, Db, Durability, Error, Hints, Record};

// ---------------------------------------------------------------------------
// The targets
// ---------------------------------------------------------------------------

/// The file a fuzz input replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A data file of a shard (`shard-NNN/NNNNNNNNNN.log`).
    DataFile,
    /// A hint file of a shard (`shard-NNN/NNNNNNNNNN.hint`).
    HintFile,
    /// The MANIFEST.
    Manifest,
    /// The CATALOG.
    Catalog,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 4] = [Target::DataFile, Target::HintFile, Target::Manifest, Target::Catalog];

    /// The target's name: its `fuzz_targets/<name>.rs` and `corpus/<name>/`.
    pub fn name(self) -> &'static str {
        match self {
            Target::DataFile => "data_file",
            Target::HintFile => "hint_file",
            Target::Manifest => "manifest",
            Target::Catalog => "catalog",
        }
    }
}

/// How one open of one variant of an input ended, for the smoke driver's tally.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Verdict {
    /// `raw` or `fixed` (checksums and counts made consistent).
    pub variant: &'static str,
    /// `refuse` or `skip`: the corruption policy of the open.
    pub policy: &'static str,
    /// `opened`, or the kind of error `Db::open` failed with.
    pub outcome: &'static str,
}

/// Runs one fuzz input against `target`: panics if any pass criterion of the
/// module documentation fails. Runs are serialised (the allocation and panic
/// checks are process-wide), so this may be called from parallel tests.
pub fn run(target: Target, input: &[u8]) -> Vec<Verdict> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    count_panics();
    DRIVER.set(true);
    let pristine = pristine();
    let panics_before = PANICS.load(Ordering::SeqCst);
    LARGEST_ALLOCATION.store(0, Ordering::SeqCst);

    let fixed = fix_up(target, pristine, input);
    let mut variants: Vec<(&'static str, &[u8])> = vec![("raw", input)];
    if fixed != input {
        variants.push(("fixed", &fixed));
    }
    let mut verdicts = Vec::new();
    IN_RUN.set(true);
    let _in_run = InRun;
    for (variant, bytes) in variants {
        for policy in [CorruptionPolicy::Refuse, CorruptionPolicy::SkipEntry] {
            let policy_name = if policy == CorruptionPolicy::Refuse { "refuse" } else { "skip" };
            let name = format!("{} [{variant}, {policy_name}]", target.name());
            let _report = ReportPanic(&name);
            let outcome = run_one(target, pristine, bytes, policy, &name);
            let policy = policy_name;
            verdicts.push(Verdict { variant, policy, outcome });
        }
    }

    let largest = LARGEST_ALLOCATION.load(Ordering::SeqCst);
    let limit = alloc_limit(input.len());
    assert!(
        largest <= limit,
        "{}: one allocation of {largest} bytes for an input of {} bytes (limit {limit}): \
         a declared length was allocated before it was checked",
        target.name(),
        input.len()
    );
    let panics = PANICS.load(Ordering::SeqCst) - panics_before;
    assert_eq!(panics, 0, "{}: {panics} thread(s) panicked (see the messages above)", target.name());
    verdicts
}

/// Valid files of `target` to start fuzzing from: pristine files of the
/// database, and for the MANIFEST and the CATALOG a few valid variants that
/// the database never writes itself (dropped batches, retiring files, more
/// trees). Named for `fuzz/corpus/<target>/`.
pub fn seeds(target: Target) -> Vec<(String, Vec<u8>)> {
    let p = pristine();
    let file = |path: &str| p.files.get(Path::new(path)).cloned().unwrap_or_default();
    let mut out = Vec::new();
    match target {
        Target::DataFile | Target::HintFile => {
            let ext = if target == Target::DataFile { "log" } else { "hint" };
            for shard in 0..SHARDS {
                let dir = PathBuf::from(format!("{DB}/shard-{shard:03}"));
                let files: Vec<&PathBuf> = p
                    .files
                    .keys()
                    .filter(|f| f.parent() == Some(&dir) && f.extension().is_some_and(|e| e == ext))
                    .collect();
                // The oldest file, the first compaction output, the newest file.
                let compacted = files.iter().find(|f| {
                    let data = f.with_extension("log");
                    p.files.get(&data).is_some_and(|b| b.get(12) == Some(&1))
                });
                let mut picked: Vec<&PathBuf> =
                    [files.first(), compacted, files.last()].into_iter().flatten().copied().collect();
                picked.dedup();
                for f in picked {
                    let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    out.push((format!("shard{shard}-{name}"), p.files[f].clone()));
                }
            }
        }
        Target::Manifest => {
            out.push(("pristine".into(), file(MANIFEST)));
            let durable = le(&file(MANIFEST), 24, 8).unwrap_or(0);
            out.push((
                "dropped-and-retiring".into(),
                manifest_bytes(SHARDS as u16, DB_ID, durable, &[3, 9, 40], &[(1, 999), (0, 1000)]),
            ));
            out.push(("one-shard".into(), manifest_bytes(1, DB_ID, durable, &[], &[])));
        }
        Target::Catalog => {
            let pristine = file(CATALOG);
            out.push(("pristine".into(), pristine.clone()));
            let mut trees = parse_catalog(&pristine).unwrap_or_default();
            let next = trees.iter().map(|t| t.id).max().unwrap_or(0) + 1;
            trees.push(CatalogTree {
                id: next,
                kind: KIND_CONST,
                key_len: 8,
                value_len: 8,
                fingerprint: 0,
                name: "c8".into(),
            });
            trees.push(CatalogTree {
                id: next + 1,
                kind: KIND_VAR,
                key_len: 4,
                value_len: 0,
                fingerprint: 0,
                name: "v4".into(),
            });
            out.push(("more-trees".into(), catalog_bytes(&trees)));
            // The const tree read as a var tree and the var tree as a const tree.
            let mut swapped = parse_catalog(&pristine).unwrap_or_default();
            for t in &mut swapped {
                match t.kind {
                    KIND_CONST => (t.kind, t.value_len) = (KIND_VAR, 0),
                    KIND_VAR => (t.kind, t.value_len) = (KIND_CONST, 12),
                    _ => {}
                }
            }
            out.push(("kinds-swapped".into(), catalog_bytes(&swapped)));
        }
    }
    out
}

/// Where the counts and length fields of a file of `target` are, as
/// (offset, width in bytes): the smoke driver's mutator edits them.
pub fn length_fields(target: Target, bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    match target {
        Target::DataFile => {
            out.extend([(10, 2), (12, 1), (16, 4), (24, 8)]);
            for at in entry_offsets(bytes) {
                out.extend([(at, 8), (at + 8, 4), (at + 12, 2), (at + 14, 2), (at + 16, 4)]);
            }
        }
        Target::HintFile => {
            out.extend([(10, 2), (12, 4), (16, 8), (24, 8), (32, 8), (40, 8)]);
            for at in hint_record_offsets(bytes, usize::MAX) {
                out.extend([
                    (at, 8),
                    (at + 8, 4),
                    (at + 12, 2),
                    (at + 14, 2),
                    (at + 16, 4),
                    (at + 20, 4),
                    (at + 24, 1),
                ]);
            }
        }
        Target::Manifest => {
            out.extend([(10, 2), (12, 4), (24, 8), (32, 4), (36, 4)]);
            let mut at = MANIFEST_FIXED;
            while at + 8 + 4 <= bytes.len() {
                out.extend([(at, 8), (at, 2), (at + 4, 4)]);
                at += 8;
            }
        }
        Target::Catalog => {
            out.extend([(10, 2), (12, 4)]);
            for at in catalog_record_offsets(bytes) {
                out.extend([(at, 4), (at + 4, 1), (at + 6, 2), (at + 8, 4), (at + 12, 8), (at + 20, 2)]);
            }
        }
    }
    out.retain(|&(at, width)| at + width <= bytes.len());
    out
}

// ---------------------------------------------------------------------------
// Allocation guard and panic counter
// ---------------------------------------------------------------------------

/// Largest single allocation allowed while one input of `input_len` bytes runs:
/// the engine's fixed needs (write buffers, the first chunk of a scan, serde's
/// capped pre-allocation of 1 MiB for a decoded sequence) and a small multiple
/// of the input (copies, the staged keys and values of a scan).
pub fn alloc_limit(input_len: usize) -> usize {
    (2 << 20) + 16 * input_len
}

/// An allocation above this aborts at once, whatever the input: nothing in a
/// tiny database needs a gigabyte, and trying could take the machine down.
const ABORT_ALLOCATION: usize = 1 << 30;

static LARGEST_ALLOCATION: AtomicUsize = AtomicUsize::new(0);
static PANICS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread calls [`run`]: a test's thread, not one of the engine's.
    static DRIVER: Cell<bool> = const { Cell::new(false) };
    /// This thread is inside [`run`].
    static IN_RUN: Cell<bool> = const { Cell::new(false) };
    /// The current variant has a hint that passes its checks but does not
    /// describe its data file (see `run_one`).
    static HINT_TRUSTED_OVER_DATA: Cell<bool> = const { Cell::new(false) };
}

/// Names the variant and policy that were running when a panic unwinds.
struct ReportPanic<'a>(&'a str);

impl Drop for ReportPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("fuzz target: the panic above happened while running {}", self.0);
        }
    }
}

/// Clears `IN_RUN` when a run ends, by panic too.
struct InRun;

impl Drop for InRun {
    fn drop(&mut self) {
        IN_RUN.set(false);
    }
}

/// The system allocator, recording the largest single allocation.
pub struct GuardedAlloc;

impl GuardedAlloc {
    fn note(size: usize) {
        LARGEST_ALLOCATION.fetch_max(size, Ordering::Relaxed);
        if size > ABORT_ALLOCATION {
            // Formatting an integer into stderr does not allocate.
            eprintln!("fuzz allocation guard: one allocation of {size} bytes; aborting");
            std::process::abort();
        }
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// bookkeeping is one atomic, which does not allocate.
unsafe impl GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::note(new_size);
        // SAFETY: as for `dealloc`, and `new_size` is the caller's valid size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: GuardedAlloc = GuardedAlloc;

/// Counts every panic of the engine's threads and of a run (then runs the
/// previous hook), so that a panic the engine catches — its background
/// worker's — still fails the run. A test thread's own panic outside a run
/// (the smoke driver reporting a failure) is not counted: runs are serialised,
/// and it must not fail the run of another test.
fn count_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DRIVER.get() || IN_RUN.get() {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

// ---------------------------------------------------------------------------
// The pristine database
// ---------------------------------------------------------------------------

/// The database directory in the simulated file system.
const DB: &str = "/db";
const MANIFEST: &str = "/db/MANIFEST";
const CATALOG: &str = "/db/CATALOG";
const SHARDS: usize = 2;
/// Planted in the MANIFEST before the first open, so that the pristine files
/// (and the committed seed corpus) are the same on every build.
const DB_ID: u64 = 0xF022_5EED_0DB1_D001;
const MANIFEST_FIXED: usize = 40;
const HINT_HEADER: usize = 56;
const HINT_RECORD_FIXED: usize = 25;
const ENTRY_HEADER: usize = 28;
const FILE_HEADER: usize = 40;
const KIND_CONST: u8 = 1;
const KIND_VAR: u8 = 2;
const KIND_TYPED: u8 = 3;
/// Trees of a fuzzed catalog opened and read back, at most.
const MAX_TREES_VISITED: usize = 8;

/// The records of the typed tree.
#[derive(armdb::Tree, serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "docs")]
pub struct Doc {
    #[key]
    id: u32,
    #[index]
    tag: String,
    #[index(unique)]
    code: u64,
    body: Vec<u8>,
}

/// What a tree held: for each key, its value or the error reading it; or the
/// error opening the tree.
type TreeState = Result<BTreeMap<Vec<u8>, Result<Vec<u8>, String>>, String>;
/// Every tree of the catalog (those this harness can open), by name.
type DbState = BTreeMap<String, TreeState>;
/// What `visit` found: the tree's state when reading, the key and value
/// written when probing.
type Visited = (Option<TreeState>, Option<(Vec<u8>, Vec<u8>)>);

struct Pristine {
    /// Every file of the database after a clean close, by absolute path.
    files: BTreeMap<PathBuf, Vec<u8>>,
    /// What the trees hold.
    state: DbState,
    /// Data files that `Db::open` reads from their hints.
    hint_files: usize,
}

fn pristine() -> &'static Pristine {
    static PRISTINE: OnceLock<Pristine> = OnceLock::new();
    PRISTINE.get_or_init(build_pristine)
}

fn config(fs: &SimFs, corruption: CorruptionPolicy) -> Config {
    Config {
        shards: SHARDS,
        max_file_size: 4096,
        write_buffer_size: 16 << 10,
        durability: Durability::Flush,
        value_cache_bytes: 256 << 10,
        corruption,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        fs: Arc::new(fs.clone()),
        hints: Hints::Always,
        ..Config::default()
    }
}

fn build_pristine() -> Pristine {
    let fs = SimFs::new();
    fs.write_file(Path::new(MANIFEST), &manifest_bytes(SHARDS as u16, DB_ID, 0, &[], &[]));
    let db = Db::open(DB, config(&fs, CorruptionPolicy::Refuse)).expect("create the pristine database");
    let consts = db.const_tree::<u32, 12>("consts").expect("const tree");
    let vars = db.var_tree::<u64>("vars").expect("var tree");
    let docs = db.tree::<Doc>().expect("typed tree");
    for round in 0..3u32 {
        for k in 0..24u32 {
            let mut v = [0u8; 12];
            v[..4].copy_from_slice(&k.to_le_bytes());
            v[4..8].copy_from_slice(&round.to_le_bytes());
            consts.put(&k, &v).expect("const put");
        }
        for k in 0..24u64 {
            let len = (k as usize * 13 + round as usize * 29) % 300;
            vars.put(&k, &vec![k as u8 ^ round as u8; len]).expect("var put");
        }
        for id in 0..12u32 {
            let doc = Doc {
                id,
                tag: format!("tag{}", id % 3),
                code: u64::from(id) * 100 + u64::from(round),
                body: vec![round as u8; id as usize * 5],
            };
            docs.put(&doc).expect("typed put");
        }
        for k in (round..24).step_by(5) {
            consts.delete(&k).expect("const delete");
            vars.delete(&u64::from(k)).expect("var delete");
        }
        docs.delete(&(round * 4)).expect("typed delete");
        let mut batch = db.batch();
        batch.put_const(&consts, &(100 + round), &[round as u8; 12]);
        batch.put_var(&vars, &u64::from(200 + round), b"written in a batch");
        batch.delete_var(&vars, &u64::from(round));
        batch.put(
            &docs,
            &Doc { id: 50 + round, tag: "batch".into(), code: 9_000 + u64::from(round), body: vec![] },
        );
        batch.commit().expect("batch");
        if round == 1 {
            db.compact().expect("compact");
        }
    }
    db.close().expect("close the pristine database");
    let files: BTreeMap<PathBuf, Vec<u8>> =
        fs.list_files().into_iter().filter_map(|p| fs.read_file(&p).map(|bytes| (p, bytes))).collect();
    let check = SimFs::new();
    for (path, bytes) in &files {
        check.write_file(path, bytes);
    }
    let db = Db::open(DB, config(&check, CorruptionPolicy::Refuse)).expect("reopen the pristine database");
    let state = read_state(&check, &db, Target::Catalog, "pristine");
    let hint_files = db.stats().recovery.hint_files;
    db.close().expect("close the pristine database");
    assert_eq!(state.len(), 3, "the pristine database has three trees: {state:?}");
    for (name, tree) in &state {
        let tree = tree.as_ref().unwrap_or_else(|e| panic!("pristine tree {name}: {e}"));
        assert!(!tree.is_empty() && tree.values().all(Result::is_ok), "pristine tree {name} reads back");
    }
    Pristine { files, state, hint_files }
}

// ---------------------------------------------------------------------------
// One input, one variant, one policy
// ---------------------------------------------------------------------------

/// What the pristine files say the outcome must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Open succeeds and every tree reads back as in the pristine database.
    Pristine,
    /// Open fails with `Corruption` naming the replaced file.
    Refused,
    /// Anything within the pass criterion.
    Anything,
}

fn run_one(target: Target, p: &Pristine, bytes: &[u8], policy: CorruptionPolicy, name: &str) -> &'static str {
    let fs = SimFs::new();
    for (path, content) in &p.files {
        fs.write_file(path, content);
    }
    let placed = placement(target, p, bytes);
    fs.write_file(&placed, bytes);
    let expect = if p.files.get(&placed).is_some_and(|b| b == bytes) {
        Expect::Pristine
    } else {
        match target {
            Target::HintFile if !hint_checksums_match(bytes) => Expect::Pristine,
            Target::Manifest | Target::Catalog if !trailer_checksum_matches(bytes) => Expect::Refused,
            _ => Expect::Anything,
        }
    };
    // A hint that passes its checks but does not describe its data file (a
    // forged hint; or a changed data file of the same length beside its
    // pristine hint) is trusted by design: recovery takes locations and
    // values from it, while compaction rescans the data file, so what the
    // trees hold may change with a compaction. Everything but that
    // comparison is still checked.
    let hint_trusted_over_data = match target {
        Target::HintFile => expect == Expect::Anything,
        Target::DataFile => {
            expect == Expect::Anything
                && p.files
                    .get(&placed.with_extension("hint"))
                    .is_some_and(|hint| le(hint, 16, 8) == Some(bytes.len() as u64))
        }
        Target::Manifest | Target::Catalog => false,
    };
    HINT_TRUSTED_OVER_DATA.set(hint_trusted_over_data);
    let config = config(&fs, policy);
    let db = match Db::open(DB, config.clone()) {
        Ok(db) => db,
        Err(e) => {
            let what = error_kind(&e);
            assert!(
                matches!(&e, Error::Corruption { path, .. } if path.starts_with(DB)),
                "{name}: Db::open failed with an error other than Corruption in the database: {e} ({e:?})"
            );
            assert!(expect != Expect::Pristine, "{name}: Db::open must succeed ({expect:?}) but failed: {e}");
            if expect == Expect::Refused {
                assert!(
                    matches!(&e, Error::Corruption { path, .. } if *path == placed),
                    "{name}: a file with a bad checksum must be refused naming it ({}), got: {e}",
                    placed.display()
                );
            }
            return what;
        }
    };
    assert!(expect != Expect::Refused, "{name}: Db::open accepted a file with a bad checksum");
    let outcome = match db.stats().recovery.hint_files {
        _ if target != Target::HintFile => "opened",
        n if n < p.hint_files => "opened, the hint ignored",
        _ => "opened, the hint used",
    };
    let state = read_state(&fs, &db, target, "first open");
    if expect == Expect::Pristine {
        assert!(
            state == p.state,
            "{name}: the trees differ from the pristine database:\n{}",
            diff(&p.state, &state)
        );
    }
    let expected = write_probes(&fs, &db, target, state);
    // Compaction rescans the sealed files with the same parser; it may refuse
    // a damaged one, but must never change what the trees hold.
    if let Err(e) = db.compact() {
        assert!(
            matches!(&e, Error::Corruption { path, .. } if path.starts_with(DB)) || ids_exhausted(&e),
            "{name}: compaction failed with an error other than Corruption in the database: {e} ({e:?})"
        );
    }
    let compacted = read_state(&fs, &db, target, "after compaction");
    assert!(
        hint_trusted_over_data || compacted == expected,
        "{name}: compaction changed what the trees hold:\n{}",
        diff(&expected, &compacted)
    );
    db.close().unwrap_or_else(|e| panic!("{name}: close after a successful open failed: {e} ({e:?})"));

    // A compaction that trusted a lying hint may have carried a damaged entry
    // into a new file, where the second open finds it.
    let db = match Db::open(DB, config) {
        Ok(db) => db,
        Err(Error::Corruption { path, .. }) if hint_trusted_over_data && path.starts_with(DB) => {
            return outcome;
        }
        Err(e) => panic!("{name}: the second open failed after the first succeeded: {e} ({e:?})"),
    };
    let again = read_state(&fs, &db, target, "second open");
    assert!(
        again == expected || hint_trusted_over_data,
        "{name}: the second open reads back differently from the first (plus the probe writes):\n{}",
        diff(&expected, &again)
    );
    db.close().unwrap_or_else(|e| panic!("{name}: close after the second open failed: {e} ({e:?})"));
    outcome
}

/// Where the input goes (see the module documentation).
fn placement(target: Target, p: &Pristine, bytes: &[u8]) -> PathBuf {
    let first = |ext: &str| {
        p.files
            .keys()
            .find(|f| f.starts_with(format!("{DB}/shard-000")) && f.extension().is_some_and(|e| e == ext))
            .cloned()
            .expect("shard 0 has a data file and a hint")
    };
    let shard = le(bytes, 10, 2).map(|s| s as usize % SHARDS);
    match target {
        Target::DataFile => match (shard, le(bytes, 16, 4)) {
            (Some(shard), Some(id)) => PathBuf::from(format!("{DB}/shard-{shard:03}/{id:010}.log")),
            _ => first("log"),
        },
        Target::HintFile => match (shard, le(bytes, 12, 4)) {
            (Some(shard), Some(id)) => PathBuf::from(format!("{DB}/shard-{shard:03}/{id:010}.hint")),
            _ => first("hint"),
        },
        Target::Manifest => PathBuf::from(MANIFEST),
        Target::Catalog => PathBuf::from(CATALOG),
    }
}

fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::Corruption { .. } => "refused: Corruption",
        Error::Io { .. } => "refused: Io",
        Error::TreeMismatch { .. } => "refused: TreeMismatch",
        Error::Codec { .. } => "refused: Codec",
        Error::InvalidArgument(_) => "refused: InvalidArgument",
        _ => "refused: other",
    }
}

/// Checks an error of reading or of opening a tree (after `Db::open`
/// succeeded) and returns it as the state records it.
fn read_error(target: Target, what: &str, e: &Error) -> String {
    // After a compaction that trusted a lying hint, the index may point at
    // entries the compaction did not carry over (see `run_one`).
    let retired = |m: &str| HINT_TRUSTED_OVER_DATA.get() && m.contains("points at a retired data file");
    assert!(
        matches!(e, Error::Corruption { path, .. } if path.starts_with(DB))
            || matches!(e, Error::Codec { .. } | Error::TreeMismatch { .. })
            || matches!(e, Error::InvalidArgument(m) if retired(m)),
        "{}: {what} failed with an unexpected error: {e} ({e:?})",
        target.name()
    );
    e.to_string()
}

/// A fuzzed file id close to `u32::MAX` leaves no id for a new file: a
/// rotation or a compaction output is refused.
fn ids_exhausted(e: &Error) -> bool {
    matches!(e, Error::InvalidArgument(m) if m.contains("has used every file id"))
}

/// Checks an error of a probe write: only a unique-index conflict (a fuzzed
/// record may hold the probe's code), exhausted seqs (a fuzzed durable seq)
/// or exhausted file ids (a fuzzed file id) may refuse it.
fn probe_error(target: Target, what: &str, e: &Error) {
    assert!(
        matches!(e, Error::UniqueViolation { .. })
            || matches!(e, Error::InvalidArgument(m) if m.contains("sequence numbers are exhausted"))
            || ids_exhausted(e),
        "{}: the probe write to {what} failed: {e} ({e:?})",
        target.name()
    );
}

/// Reads every tree the catalog lists (as far as this harness has types for
/// its shape) and checks that each agrees with itself.
fn read_state(fs: &SimFs, db: &Db, target: Target, when: &str) -> DbState {
    let mut state = DbState::new();
    for tree in catalog_trees(fs) {
        if let Some(s) = visit(db, target, &tree, false, when).0 {
            state.insert(tree.name.clone(), s);
        }
    }
    state
}

/// Writes one probe key to every tree that opened, and returns `state` with
/// the probes in it: what a reopen must read back.
fn write_probes(fs: &SimFs, db: &Db, target: Target, mut state: DbState) -> DbState {
    for tree in catalog_trees(fs) {
        let Some(Ok(map)) = state.get_mut(&tree.name) else { continue };
        if let (_, Some((key, value))) = visit(db, target, &tree, true, "probe") {
            map.insert(key, Ok(value));
        }
    }
    state
}

/// Opens one tree with key and value types of its stored shape; reads it
/// back (`probe == false`) or writes the probe (`probe == true`, returning
/// the key and value written). `(None, None)` for a shape with no type here.
fn visit(db: &Db, target: Target, tree: &CatalogTree, probe: bool, when: &str) -> Visited {
    macro_rules! consts {
        ($(($k:literal, $v:literal)),* $(,)?) => {
            match (tree.key_len, tree.value_len) {
                $(($k, $v) => visit_const::<$k, $v>(db, target, &tree.name, probe, when),)*
                _ => (None, None),
            }
        };
    }
    macro_rules! vars {
        ($($k:literal),* $(,)?) => {
            match tree.key_len {
                $($k => visit_var::<$k>(db, target, &tree.name, probe, when),)*
                _ => (None, None),
            }
        };
    }
    match tree.kind {
        KIND_CONST => {
            consts!((4, 12), (4, 0), (4, 4), (4, 8), (8, 8), (8, 12), (1, 1), (2, 12), (12, 12), (16, 16))
        }
        KIND_VAR => vars!(4, 8, 1, 2, 12, 16),
        KIND_TYPED if tree.name == Doc::NAME => visit_docs(db, target, probe, when),
        _ => (None, None),
    }
}

fn visit_const<const K: usize, const V: usize>(
    db: &Db,
    target: Target,
    name: &str,
    probe: bool,
    when: &str,
) -> Visited {
    let what = format!("{when}: const tree {name:?}");
    let tree = match db.const_tree::<[u8; K], V>(name) {
        Ok(t) => t,
        Err(e) => return (Some(Err(read_error(target, &what, &e))), None),
    };
    if probe {
        let (key, value) = ([0xEE; K], [0xAB; V]);
        return match tree.put(&key, &value) {
            Ok(_) => (None, Some((key.to_vec(), value.to_vec()))),
            Err(e) => {
                probe_error(target, &what, &e);
                (None, None)
            }
        };
    }
    let items: Vec<([u8; K], [u8; V])> = tree.iter().collect();
    let mut back: Vec<([u8; K], [u8; V])> = tree.iter().rev().collect();
    back.reverse();
    assert!(items == back, "{}: {what}: forward and reverse iteration disagree", target.name());
    assert!(items.windows(2).all(|w| w[0].0 < w[1].0), "{}: {what}: keys out of order", target.name());
    assert_eq!(tree.len(), items.len(), "{}: {what}: len() disagrees with iteration", target.name());
    let mut map = BTreeMap::new();
    for (k, v) in items {
        assert_eq!(tree.get(&k), Some(v), "{}: {what}: get disagrees with iteration", target.name());
        map.insert(k.to_vec(), Ok(v.to_vec()));
    }
    (Some(Ok(map)), None)
}

fn visit_var<const K: usize>(db: &Db, target: Target, name: &str, probe: bool, when: &str) -> Visited {
    let what = format!("{when}: var tree {name:?}");
    let tree = match db.var_tree::<[u8; K]>(name) {
        Ok(t) => t,
        Err(e) => return (Some(Err(read_error(target, &what, &e))), None),
    };
    if probe {
        let key = [0xEE; K];
        return match tree.put(&key, b"probe") {
            Ok(()) => (None, Some((key.to_vec(), b"probe".to_vec()))),
            Err(e) => {
                probe_error(target, &what, &e);
                (None, None)
            }
        };
    }
    let keys: Vec<[u8; K]> = tree.keys().collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{}: {what}: keys out of order", target.name());
    assert_eq!(tree.len(), keys.len(), "{}: {what}: len() disagrees with keys()", target.name());
    let mut map = BTreeMap::new();
    for k in &keys {
        let value = match tree.get(k) {
            Ok(Some(v)) => Ok(v.to_vec()),
            Ok(None) => panic!("{}: {what}: a key that keys() lists is missing", target.name()),
            Err(e) => Err(read_error(target, &what, &e)),
        };
        map.insert(k.to_vec(), value);
    }
    let mut listed = 0;
    for item in tree.iter().chain(tree.iter().rev()) {
        listed += 1;
        match item {
            Ok((k, v)) => assert!(
                map.get(&k[..]) == Some(&Ok(v.to_vec())),
                "{}: {what}: iteration disagrees with get for key {k:02x?}",
                target.name()
            ),
            Err(e) => {
                read_error(target, &what, &e);
            }
        }
    }
    assert_eq!(listed, 2 * keys.len(), "{}: {what}: iteration disagrees with keys()", target.name());
    (Some(Ok(map)), None)
}

fn visit_docs(db: &Db, target: Target, probe: bool, when: &str) -> Visited {
    let what = format!("{when}: typed tree {:?}", Doc::NAME);
    let tree = match db.tree::<Doc>() {
        Ok(t) => t,
        Err(e) => return (Some(Err(read_error(target, &what, &e))), None),
    };
    if probe {
        let doc = Doc { id: 0xEEEE_EEEE, tag: "probe".into(), code: u64::MAX, body: b"probe".to_vec() };
        return match tree.put(&doc) {
            Ok(_) => (None, Some((doc.id.to_be_bytes().to_vec(), format!("{doc:?}").into_bytes()))),
            Err(e) => {
                probe_error(target, &what, &e);
                (None, None)
            }
        };
    }
    let docs: Vec<Arc<Doc>> = tree.iter().collect();
    assert!(docs.windows(2).all(|w| w[0].id < w[1].id), "{}: {what}: keys out of order", target.name());
    assert_eq!(tree.len(), docs.len(), "{}: {what}: len() disagrees with iteration", target.name());
    assert_eq!(tree.iter().rev().count(), docs.len(), "{}: {what}: reverse iteration", target.name());
    let mut map = BTreeMap::new();
    for doc in &docs {
        let got = tree.get(&doc.id).unwrap_or_else(|e| panic!("{}: {what}: get failed: {e}", target.name()));
        assert!(got.as_deref() == Some(&**doc), "{}: {what}: get disagrees with iteration", target.name());
        assert!(
            tree.find_by(Doc::by_tag(), &doc.tag).any(|d| d.id == doc.id),
            "{}: {what}: the tag index misses record {}",
            target.name(),
            doc.id
        );
        // A unique value held twice after recovery stays with the first record.
        let holder = tree
            .get_by(Doc::by_code(), &doc.code)
            .unwrap_or_else(|e| panic!("{}: {what}: get_by failed: {e}", target.name()));
        assert!(
            holder.is_some_and(|h| h.code == doc.code),
            "{}: {what}: the unique code index misses code {}",
            target.name(),
            doc.code
        );
        map.insert(doc.id.to_be_bytes().to_vec(), Ok(format!("{doc:?}").into_bytes()));
    }
    (Some(Ok(map)), None)
}

/// The differences between two states, for a failure message.
fn diff(want: &DbState, got: &DbState) -> String {
    let mut out = String::new();
    for name in want.keys().chain(got.keys().filter(|n| !want.contains_key(*n))) {
        match (want.get(name), got.get(name)) {
            (Some(Ok(a)), Some(Ok(b))) => {
                for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                    if a.get(key) != b.get(key) {
                        out += &format!(
                            "  {name} {key:02x?}: expected {:?}, got {:?}\n",
                            a.get(key),
                            b.get(key)
                        );
                    }
                }
            }
            (a, b) if a != b => out += &format!("  {name}: expected {a:?}, got {b:?}\n"),
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The on-disk formats (docs/format.md), as far as the harness needs them
// ---------------------------------------------------------------------------

/// CRC32 (IEEE), as `docs/format.md` §1 specifies.
fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |c, &b| TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8))
}

/// The little-endian integer of `width` bytes at `at`, if the bytes are there.
fn le(bytes: &[u8], at: usize, width: usize) -> Option<u64> {
    let field = bytes.get(at..at.checked_add(width)?)?;
    Some(field.iter().rev().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
}

fn put_le(bytes: &mut [u8], at: usize, width: usize, value: u64) {
    if let Some(field) = bytes.get_mut(at..at + width) {
        field.copy_from_slice(&value.to_le_bytes()[..width]);
    }
}

fn manifest_bytes(
    shards: u16,
    db_id: u64,
    durable: u64,
    dropped: &[u64],
    retiring: &[(u16, u32)],
) -> Vec<u8> {
    let mut out = b"ARMDBMAN".to_vec();
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&shards.to_le_bytes());
    out.extend_from_slice(&(dropped.len() as u32).to_le_bytes());
    out.extend_from_slice(&db_id.to_le_bytes());
    out.extend_from_slice(&durable.to_le_bytes());
    out.extend_from_slice(&(retiring.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for seq in dropped {
        out.extend_from_slice(&seq.to_le_bytes());
    }
    for &(shard, file) in retiring {
        out.extend_from_slice(&shard.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&file.to_le_bytes());
    }
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// One record of a CATALOG.
#[derive(Clone, Debug)]
struct CatalogTree {
    id: u32,
    kind: u8,
    key_len: u16,
    value_len: u32,
    fingerprint: u64,
    name: String,
}

fn catalog_bytes(trees: &[CatalogTree]) -> Vec<u8> {
    let mut out = b"ARMDBCAT".to_vec();
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(trees.len() as u32).to_le_bytes());
    for t in trees {
        out.extend_from_slice(&t.id.to_le_bytes());
        out.extend_from_slice(&[t.kind, 0]);
        out.extend_from_slice(&t.key_len.to_le_bytes());
        out.extend_from_slice(&t.value_len.to_le_bytes());
        out.extend_from_slice(&t.fingerprint.to_le_bytes());
        out.extend_from_slice(&(t.name.len() as u16).to_le_bytes());
        out.extend_from_slice(t.name.as_bytes());
    }
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The records of a CATALOG that the engine accepted (so the layout holds);
/// `None` if it does not parse.
fn parse_catalog(bytes: &[u8]) -> Option<Vec<CatalogTree>> {
    let count = le(bytes, 12, 4)? as usize;
    let mut out = Vec::new();
    for at in catalog_record_offsets(bytes).into_iter().take(count) {
        let name_len = le(bytes, at + 20, 2)? as usize;
        out.push(CatalogTree {
            id: le(bytes, at, 4)? as u32,
            kind: *bytes.get(at + 4)?,
            key_len: le(bytes, at + 6, 2)? as u16,
            value_len: le(bytes, at + 8, 4)? as u32,
            fingerprint: le(bytes, at + 12, 8)?,
            name: String::from_utf8(bytes.get(at + 22..at + 22 + name_len)?.to_vec()).ok()?,
        });
    }
    Some(out)
}

/// The trees of the database's current CATALOG, at most `MAX_TREES_VISITED`.
fn catalog_trees(fs: &SimFs) -> Vec<CatalogTree> {
    let mut trees = fs.read_file(Path::new(CATALOG)).and_then(|b| parse_catalog(&b)).unwrap_or_default();
    trees.truncate(MAX_TREES_VISITED);
    trees
}

/// Offsets of the catalog records that fit before the CRC trailer.
fn catalog_record_offsets(bytes: &[u8]) -> Vec<usize> {
    let body = bytes.len().saturating_sub(4);
    let mut out = Vec::new();
    let mut at = 16;
    while let Some(name_len) = le(bytes, at + 20, 2) {
        let end = at + 22 + name_len as usize;
        if end > body {
            break;
        }
        out.push(at);
        at = end;
    }
    out
}

/// Offsets of the entries of a data file, walking the declared lengths.
fn entry_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = FILE_HEADER;
    while at + ENTRY_HEADER <= bytes.len() {
        out.push(at);
        let (Some(key_len), Some(value_len)) = (le(bytes, at + 12, 2), le(bytes, at + 16, 4)) else { break };
        let len = (ENTRY_HEADER as u64 + key_len + value_len).next_multiple_of(8);
        at = match usize::try_from(len).ok().and_then(|n| at.checked_add(n)) {
            Some(next) => next,
            None => break,
        };
    }
    out
}

/// Offsets of the records of a hint's body that fit in the file, at most `max`.
fn hint_record_offsets(bytes: &[u8], max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = HINT_HEADER;
    while out.len() < max && at + HINT_RECORD_FIXED <= bytes.len() {
        let (Some(key_len), Some(value_len), Some(has_value)) =
            (le(bytes, at + 12, 2), le(bytes, at + 16, 4), le(bytes, at + 24, 1))
        else {
            break;
        };
        let len = HINT_RECORD_FIXED as u64 + key_len + if has_value == 1 { value_len } else { 0 };
        let end = at as u64 + len;
        if end > bytes.len() as u64 {
            break;
        }
        out.push(at);
        at = end as usize;
    }
    out
}

fn hint_checksums_match(bytes: &[u8]) -> bool {
    bytes.len() >= HINT_HEADER
        && le(bytes, 52, 4) == Some(u64::from(crc32(&bytes[..52])))
        && le(bytes, 48, 4) == Some(u64::from(crc32(&bytes[HINT_HEADER..])))
}

fn trailer_checksum_matches(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && le(bytes, bytes.len() - 4, 4) == Some(u64::from(crc32(&bytes[..bytes.len() - 4])))
}

/// The input with its checksums recomputed and what the harness knows made
/// consistent — the database id; a hint's covered length; the declared
/// counts of a hint, a MANIFEST and a CATALOG where they disagree with the
/// bytes — so that the decoders behind the CRC checks see the fuzzer's other
/// changes.
fn fix_up(target: Target, p: &Pristine, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    match target {
        Target::DataFile => {
            if b.len() >= FILE_HEADER {
                put_le(&mut b, 24, 8, DB_ID);
                let crc = crc32(&b[..32]);
                put_le(&mut b, 32, 4, u64::from(crc));
            }
            for at in entry_offsets(input) {
                let key_len = le(&b, at + 12, 2).unwrap_or(0) as usize;
                let value_len = le(&b, at + 16, 4).unwrap_or(0) as usize;
                if let Some(payload) = b.get(at + ENTRY_HEADER..at + ENTRY_HEADER + key_len + value_len) {
                    let crc = crc32(payload);
                    put_le(&mut b, at + 20, 4, u64::from(crc));
                }
                let crc = crc32(&b[at..at + 24]);
                put_le(&mut b, at + 24, 4, u64::from(crc));
            }
        }
        Target::HintFile => {
            if b.len() >= HINT_HEADER {
                let data = placement(target, p, input).with_extension("log");
                if let Some(data) = p.files.get(&data) {
                    put_le(&mut b, 16, 8, data.len() as u64);
                }
                let records = hint_record_offsets(&b, usize::MAX);
                let declared = le(&b, 24, 8).unwrap_or(0);
                if declared > records.len() as u64 {
                    put_le(&mut b, 24, 8, records.len() as u64);
                }
                let body = crc32(&b[HINT_HEADER..]);
                put_le(&mut b, 48, 4, u64::from(body));
                let header = crc32(&b[..52]);
                put_le(&mut b, 52, 4, u64::from(header));
            }
        }
        Target::Manifest => {
            if b.len() >= MANIFEST_FIXED + 4 {
                put_le(&mut b, 16, 8, DB_ID);
                let listed = ((b.len() - MANIFEST_FIXED - 4) / 8) as u64;
                let (dropped, retiring) = (le(&b, 12, 4).unwrap_or(0), le(&b, 32, 4).unwrap_or(0));
                if (b.len() - MANIFEST_FIXED - 4).is_multiple_of(8) && dropped + retiring != listed {
                    let retiring = retiring.min(listed);
                    put_le(&mut b, 32, 4, retiring);
                    put_le(&mut b, 12, 4, listed - retiring);
                }
            }
        }
        Target::Catalog => {
            let records = catalog_record_offsets(&b);
            let ends_exactly = records
                .last()
                .and_then(|&at| le(&b, at + 20, 2).map(|n| at + 22 + n as usize))
                .is_some_and(|end| end + 4 == b.len());
            if ends_exactly {
                put_le(&mut b, 12, 4, records.len() as u64);
            }
        }
    }
    if matches!(target, Target::Manifest | Target::Catalog) && b.len() >= 4 {
        let at = b.len() - 4;
        let crc = crc32(&b[..at]);
        put_le(&mut b, at, 4, u64::from(crc));
    }
    b
}
