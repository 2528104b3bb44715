//! Suite 5 of the reliability harness: garbage tails at every offset of the
//! last entries of the last data file of a shard.
//!
//! What it injects: for each shard, for every 8-byte-aligned offset from the
//! start of the last few entries of its last (active) file up to the file's
//! end, and for one random unaligned offset between each two of them, the
//! file is cut there and the rest replaced with garbage: zeros, `0xFF` bytes,
//! random bytes, or an entry header with a correct header CRC that declares a
//! huge value — `u32::MAX` bytes, `MAX_VALUE_LEN + 1` (both beyond the limit,
//! so the header is not *intact*), or exactly `MAX_VALUE_LEN` (an intact
//! header whose length recovery trusts) — followed by a few random bytes.
//!
//! Pass criterion, for every case (`CorruptionPolicy::Refuse`, so any damage
//! taken for corruption fails the open):
//! - reopen succeeds, truncates the file to the end of the last entry that is
//!   still whole (its header, key and value unchanged and the file long
//!   enough for its padding; padding is outside every CRC, so an entry whose
//!   padding alone was replaced is whole) and reports exactly the removed
//!   bytes in `truncated_bytes`, with no corruption;
//! - no bogus entry appears: the state equals the pristine entries minus those
//!   of the damaged file from that entry on, resolved by seq;
//! - no allocation during the reopen is larger than a few MiB plus the file
//!   (the scanner reads in 1 MiB windows), in particular never near a declared
//!   huge length (PITFALLS #22) — a counting global allocator records the
//!   largest single allocation;
//! - writes continue (to both shards), and a second reopen finds nothing to
//!   truncate and agrees on the state.
//!
//! The allocation bound is checked against the allocator itself first: a
//! known 8 MiB allocation must be recorded, so the check can fail.
//!
//! About 800 cases, the same under CI (about 5 s of CPU).

// A global allocator must implement the `unsafe` trait `GlobalAlloc`; the
// implementation below only forwards to `System` and records sizes.
#![allow(unsafe_code, reason = "a counting GlobalAlloc wrapper over System is inherently unsafe")]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use armdb::limits::MAX_VALUE_LEN;
use armdb::{CompactionConfig, Config, Db, Durability};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use support::{
    DirSnapshot, DiskEntry, ENTRY_HEADER_LEN, FILE_HEADER_LEN, TreesModel, crc32, data_files, parse_entries,
    parse_live_entries, restore_changed, snapshot_dir,
};

// ---------------------------------------------------------------------------
// The largest single allocation

/// Forwards to `System`, recording the size of the largest single allocation
/// (or reallocation) since [`largest_allocation_during`] last reset it.
struct LargestAlloc;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds the `GlobalAlloc` contract; recording a size has no effect on memory.
unsafe impl GlobalAlloc for LargestAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which `System.alloc` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every allocation goes through it) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAlloc = LargestAlloc;

/// Runs `f` and returns its result with the largest single allocation made
/// meanwhile — by any thread: the test binary has one test, so the others
/// are the database's own threads (and the test harness's small ones).
fn largest_allocation_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.store(0, Ordering::SeqCst);
    let out = f();
    (out, LARGEST.load(Ordering::SeqCst))
}

// ---------------------------------------------------------------------------
// The database

const DEFAULT_SEED: u64 = 0x6A4B_A6E5;
const SHARDS: usize = 2;
/// The last entries of each shard's last file whose every offset is cut.
const LAST_ENTRIES: usize = 6;
/// What a reopen may allocate at once beyond the size of the damaged file:
/// the scanner's 1 MiB window, a shard's 1 MiB write buffer, and slack.
const ALLOC_ALLOWANCE: usize = 4 << 20;
const CONST_LEN: usize = 8;
/// Keys written after recovery; the trees' keys are below.
const FRESH_KEYS: std::ops::Range<u32> = 1_000..1_008;

/// A const tree with `u32` keys and a var tree with `u64` keys.
type State = TreesModel<u32, CONST_LEN, u64>;

fn config() -> Config {
    Config {
        shards: SHARDS,
        max_file_size: 4096,
        durability: Durability::Flush,
        // Compaction would rewrite the files under test.
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        ..Config::default()
    }
}

fn read_state(db: &Db) -> State {
    State::read(db, "const", "var")
}

/// The data files of each shard (relative to `root`), oldest first.
fn files_by_shard(root: &Path) -> Vec<Vec<PathBuf>> {
    let mut out: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in data_files(root) {
        let rel = f.strip_prefix(root).expect("under root").to_path_buf();
        out.entry(rel.parent().expect("a shard directory").to_path_buf()).or_default().push(rel);
    }
    out.into_values().collect()
}

/// Whether every shard has rotated at least once and its last file holds
/// enough entries to cut through.
fn enough_entries(root: &Path) -> bool {
    let shards = files_by_shard(root);
    shards.len() == SHARDS
        && shards.iter().all(|files| {
            let last = std::fs::read(root.join(files.last().expect("a file"))).expect("read the last file");
            files.len() >= 2 && parse_live_entries(&last, FILE_HEADER_LEN).len() >= LAST_ENTRIES + 2
        })
}

/// Random puts, overwrites and deletes until [`enough_entries`]; returns what the trees hold.
fn populate(db: &Db, root: &Path, rng: &mut SmallRng) -> State {
    let var = db.var_tree::<u64>("var").expect("var tree");
    let consts = db.const_tree::<u32, CONST_LEN>("const").expect("const tree");
    let mut model = State::default();
    let mut ops = 0;
    // `Durability::Flush`: every entry is in its file when the put returns.
    while !enough_entries(root) {
        assert!(ops < 20_000, "{ops} ops did not fill the last files");
        for _ in 0..10 {
            ops += 1;
            match rng.random_range(0..10) {
                0 if !model.var.is_empty() => {
                    let k = *model.var.keys().nth(rng.random_range(0..model.var.len())).expect("key");
                    assert!(var.delete(&k).expect("delete"), "var key {k} was present");
                    model.var.remove(&k);
                }
                1..4 => {
                    let k = rng.random_range(0..48);
                    let v: [u8; CONST_LEN] = rng.random();
                    consts.put(&k, &v).expect("put");
                    model.consts.insert(k, v);
                }
                _ => {
                    let k = rng.random_range(0..48);
                    let v: Vec<u8> = (0..rng.random_range(0..=60)).map(|_| rng.random()).collect();
                    var.put(&k, &v).expect("put");
                    model.var.insert(k, v);
                }
            }
        }
    }
    println!("populated with {ops} ops");
    model
}

/// One entry of the pristine database.
#[derive(Clone, Debug)]
struct Entry {
    /// The data file, relative to the database directory.
    file: PathBuf,
    disk: DiskEntry,
}

impl Entry {
    /// Where the entry's key and value end: everything before is under a CRC.
    fn payload_end(&self) -> usize {
        self.disk.offset + ENTRY_HEADER_LEN + self.disk.key.len() + self.disk.value.len()
    }
}

// ---------------------------------------------------------------------------
// Garbage

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Garbage {
    Zeros,
    Ones,
    Random,
    /// An entry header with a correct header CRC declaring this value length,
    /// then a few random bytes.
    Header {
        value_len: u32,
    },
}

const HEADERS: [Garbage; 3] = [
    Garbage::Header { value_len: u32::MAX },
    Garbage::Header { value_len: MAX_VALUE_LEN as u32 + 1 },
    Garbage::Header { value_len: MAX_VALUE_LEN as u32 },
];

/// The bytes that replace a file's tail from `cut` on; `file_len` is its
/// length before the cut.
fn garbage(kind: Garbage, cut: usize, file_len: usize, template: &DiskEntry, rng: &mut SmallRng) -> Vec<u8> {
    // At least as long as what it replaces, give or take.
    let len = (file_len - cut + rng.random_range(0..=200)).max(1);
    match kind {
        Garbage::Zeros => vec![0; len],
        Garbage::Ones => vec![0xFF; len],
        Garbage::Random => (0..len).map(|_| rng.random()).collect(),
        Garbage::Header { value_len } => {
            // The next seq, a real tree id and key length: as plausible as a header gets.
            let mut out = Vec::with_capacity(ENTRY_HEADER_LEN + 64);
            out.extend_from_slice(&(template.seq + 1_000).to_le_bytes());
            out.extend_from_slice(&template.tree.to_le_bytes());
            out.extend_from_slice(&(template.key.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&value_len.to_le_bytes());
            out.extend_from_slice(&rng.random::<u32>().to_le_bytes());
            let header_crc = crc32(&[&out]);
            out.extend_from_slice(&header_crc.to_le_bytes());
            out.extend((0..rng.random_range(0..=64)).map(|_| rng.random::<u8>()));
            out
        }
    }
}

// ---------------------------------------------------------------------------
// The test

#[derive(Debug, Default)]
struct Counts {
    cases: usize,
    by_kind: BTreeMap<Garbage, usize>,
    aligned: usize,
    unaligned: usize,
    /// Cases where the entry containing the cut survived (only its padding was replaced).
    padding_only: usize,
    /// Entries lost over all cases.
    entries_lost: usize,
    largest_allocation: usize,
}

#[test]
fn garbage_tails_of_the_last_file_are_truncated() {
    // The allocation check can fail: a known allocation is recorded.
    let (big, largest) = largest_allocation_during(|| vec![1u8; 8 << 20]);
    assert!(largest >= big.len(), "the counting allocator records an 8 MiB allocation: {largest}");
    drop(big);

    let seed = support::seed(DEFAULT_SEED);
    let mut rng = SmallRng::seed_from_u64(seed);
    let base = tempfile::tempdir().expect("tempdir");
    let original = base.path().join("original");
    let config = config();
    let model = {
        let db = Db::open(&original, config.clone()).expect("create the database");
        let model = populate(&db, &original, &mut rng);
        db.close().expect("close");
        model
    };
    let pristine: DirSnapshot = snapshot_dir(&original);
    let shards = files_by_shard(&original);
    let mut entries = Vec::new();
    for file in shards.iter().flatten() {
        let bytes = &pristine[file];
        entries.extend(
            parse_entries(bytes, FILE_HEADER_LEN).into_iter().map(|disk| Entry { file: file.clone(), disk }),
        );
    }
    let all = State::resolve(entries.iter().map(|e| &e.disk));
    assert_eq!(all, model, "the files resolve to what was written");

    let work = base.path().join("work");
    restore_changed(&work, &pristine);
    let (db, baseline) = largest_allocation_during(|| Db::open(&work, config.clone()));
    let db = db.expect("open the pristine copy");
    assert_eq!(read_state(&db), model, "the pristine copy reads back what was written");
    drop(db);
    println!("largest allocation while opening the pristine database: {baseline} bytes");

    let fixture = Fixture { work, pristine, config, entries };
    let mut c = Counts::default();
    for files in &shards {
        let last = files.last().expect("a data file");
        let orig = &fixture.pristine[last];
        let in_last: Vec<&Entry> = fixture.entries.iter().filter(|e| &e.file == last).collect();
        let template = &in_last.last().expect("entries").disk;
        let first_cut = in_last[in_last.len() - LAST_ENTRIES].disk.offset;
        println!(
            "{}: {} bytes, {} entries, cutting from offset {first_cut}",
            last.display(),
            orig.len(),
            in_last.len()
        );
        let mut cases = Vec::new();
        for aligned in (first_cut..=orig.len()).step_by(8) {
            for kind in [Garbage::Zeros, Garbage::Ones, Garbage::Random].into_iter().chain(HEADERS) {
                cases.push((aligned, kind));
            }
            if aligned < orig.len() {
                let cut = aligned + rng.random_range(1..8);
                let kind =
                    [Garbage::Zeros, Garbage::Ones, Garbage::Random, HEADERS[0]][rng.random_range(0..4)];
                cases.push((cut, kind));
            }
        }
        // Cuts inside an entry's padding, which no CRC covers: the entry stays whole.
        for e in &in_last[in_last.len() - LAST_ENTRIES..] {
            let padding = e.payload_end()..e.disk.end;
            if !padding.is_empty() {
                for kind in [Garbage::Ones, Garbage::Random] {
                    cases.push((rng.random_range(padding.clone()), kind));
                }
            }
        }
        for (cut, kind) in cases {
            let mut bytes = orig[..cut].to_vec();
            bytes.extend(garbage(kind, cut, orig.len(), template, &mut rng));
            let ctx = format!("{}: cut at {cut} of {}, then {kind:?}", last.display(), orig.len());
            fixture.check(last, cut, &bytes, &ctx, &mut c);
            c.cases += 1;
            *c.by_kind.entry(kind).or_default() += 1;
            if cut % 8 == 0 {
                c.aligned += 1;
            } else {
                c.unaligned += 1;
            }
        }
    }
    println!(
        "{} tail cases ({} at aligned offsets, {} unaligned): {:?}",
        c.cases, c.aligned, c.unaligned, c.by_kind
    );
    println!(
        "{} entries truncated in all; {} cases replaced only padding of a whole entry; \
         largest allocation during a reopen: {} bytes",
        c.entries_lost, c.padding_only, c.largest_allocation
    );
}

/// The pristine database and where each case runs.
struct Fixture {
    /// The directory each case restores and opens.
    work: PathBuf,
    pristine: DirSnapshot,
    config: Config,
    /// Every entry of the pristine database.
    entries: Vec<Entry>,
}

impl Fixture {
    /// Restores the pristine copy with `last` replaced by `bytes` (its first
    /// `cut` bytes, then garbage), and checks the reopen, writes after it and
    /// a second reopen.
    fn check(&self, last: &Path, cut: usize, bytes: &[u8], ctx: &str, c: &mut Counts) {
        let Self { work, pristine, config, entries } = self;
        restore_changed(work, pristine);
        let path = work.join(last);
        std::fs::write(&path, bytes).expect("write the damaged file");
        let orig = &pristine[last];

        // The entries of `last` that are still whole: unchanged up to the end of
        // their value, and the file long enough for their padding.
        let in_last: Vec<&Entry> = entries.iter().filter(|e| e.file == last).collect();
        let whole = in_last
            .iter()
            .take_while(|e| {
                let (at, end) = (e.disk.offset, e.payload_end());
                e.disk.end <= bytes.len() && bytes.get(at..end) == orig.get(at..end)
            })
            .count();
        let valid_end = if whole == 0 { FILE_HEADER_LEN } else { in_last[whole - 1].disk.end };
        let lost: Vec<(&Path, usize)> =
            in_last[whole..].iter().map(|e| (e.file.as_path(), e.disk.offset)).collect();
        let want = State::resolve(
            entries.iter().filter(|e| !lost.contains(&(e.file.as_path(), e.disk.offset))).map(|e| &e.disk),
        );

        let (opened, largest) = largest_allocation_during(|| Db::open(work, config.clone()));
        let db = opened.unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        assert!(
            largest <= ALLOC_ALLOWANCE + bytes.len(),
            "{ctx}: the reopen allocated {largest} bytes at once (file of {} bytes)",
            bytes.len()
        );
        c.largest_allocation = c.largest_allocation.max(largest);
        let r = db.stats().recovery;
        assert_eq!(r.truncated_bytes, (bytes.len() - valid_end) as u64, "{ctx}: truncated bytes: {r:?}");
        assert_eq!((r.corrupt_entries, r.incomplete_batches), (0, 0), "{ctx}: {r:?}");
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len(),
            valid_end as u64,
            "{ctx}: the file ends after its last whole entry"
        );
        assert_eq!(read_state(&db), want, "{ctx}: exactly the whole entries survive");
        c.entries_lost += lost.len();
        if whole > 0 && (in_last[whole - 1].payload_end()..in_last[whole - 1].disk.end).contains(&cut) {
            c.padding_only += 1;
        }

        // Writes continue, in every shard, and a second reopen agrees.
        let shard_dir = work.join(last.parent().expect("a shard directory"));
        let shard_bytes = || -> u64 {
            data_files(work)
                .iter()
                .filter(|f| f.parent() == Some(shard_dir.as_path()))
                .map(|f| std::fs::metadata(f).expect("stat").len())
                .sum()
        };
        let before = shard_bytes();
        let var = db.var_tree::<u64>("var").expect("var tree");
        let consts = db.const_tree::<u32, CONST_LEN>("const").expect("const tree");
        let mut want = want;
        for k in FRESH_KEYS {
            let v = format!("after recovery {k}").into_bytes();
            var.put(&u64::from(k), &v).expect("put after recovery");
            consts.put(&k, &u64::from(k).to_le_bytes()).expect("put after recovery");
            want.var.insert(u64::from(k), v);
            want.consts.insert(k, u64::from(k).to_le_bytes());
        }
        // `Durability::Flush`: the writes are in the OS; dropping the last handle
        // is a process exit (and skips the fsyncs of `close`).
        drop((var, consts, db));
        assert!(shard_bytes() > before, "{ctx}: the damaged shard took new writes");
        let db =
            Db::open(work, config.clone()).unwrap_or_else(|e| panic!("{ctx}: second reopen failed: {e}"));
        let r = db.stats().recovery;
        assert_eq!(
            (r.truncated_bytes, r.corrupt_entries),
            (0, 0),
            "{ctx}: the second reopen is clean: {r:?}"
        );
        assert_eq!(read_state(&db), want, "{ctx}: the second reopen agrees");
        drop(db);
    }
}
