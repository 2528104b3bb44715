//! Suite 4 of the reliability harness: single-bit flips in sealed data files
//! and in hint files.
//!
//! What it injects: one flipped bit per round, in a sealed (not the last) data
//! file of a random shard — anywhere: the file header, entry headers, keys,
//! values, padding — or in a hint file. Every round starts from the same
//! pristine bytes (held in memory; only what a round changed is written back).
//! Two shards, 4 KiB files (the minimum), a const tree and a var tree with
//! overwrites and deletes, so that most keys have older versions in earlier
//! files.
//!
//! Pass criterion, for every flip:
//!
//! - **Sealed data file, hints removed** (so that open scans every file;
//!   2,000 flips locally): a bit that a CRC covers — the first 36 bytes of the file
//!   header, an entry's header, key or value — is always detected. Under
//!   `CorruptionPolicy::Refuse`, `Db::open` fails with `Error::Corruption`
//!   naming the file and the damaged entry's offset (0 for the file header).
//!   Under `SkipEntry` it opens, reports exactly that one damage, and its state
//!   is exactly the pristine entries minus the damaged entry (minus the whole
//!   file for a damaged file header), resolved by seq: every key holds its
//!   pristine value, or an older version of its own, or is absent because its
//!   only surviving entry was the damaged one — never a value nobody wrote.
//!   Bits that `docs/format.md` leaves outside every CRC (entry padding, §7;
//!   file header bytes 36..40, §6) cannot be detected and must be harmless:
//!   open succeeds with nothing reported and every value as pristine.
//! - **Sealed data file with its hint**: open trusts the hint and does not scan
//!   the file, so the flip is found by the first read that touches it. A
//!   damaged file header still fails the open; otherwise open succeeds, const
//!   values (which the hint carries) are all pristine, and reading the var value
//!   whose live entry was damaged fails with `Error::Corruption` naming the file
//!   and offset, while every other value reads back pristine.
//! - **Hint file**: both of a hint's CRCs together cover every byte, so every
//!   flip makes that hint unusable: open succeeds, scans that one data file
//!   instead (`hint_files` is exactly one less), reports nothing, and every
//!   value is pristine.
//!
//! Sizes: `support::op_count(ci, local)`; `ARMDB_OPS` overrides the flip count
//! of every case. Locally: 2,000 flips of the first case, 600 of each of the
//! others (about 17 s of CPU for the file). Under CI the full sizes took
//! 27–41 s wall on a 2-core machine while other builds ran, over CI's ~30 s
//! budget for this file, so CI runs 1,000 flips of the first case and 200 of
//! each of the others.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use armdb::{CompactionConfig, Config, CorruptionPolicy, Db, Durability, Error, Hints, RecoveryReport};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use support::{
    DirSnapshot, DiskEntry, ENTRY_HEADER_LEN, FILE_HEADER_LEN, TreesModel, data_files, is_data_file,
    is_hint_file, parse_entries, remove_hint_files, restore_changed, snapshot_dir,
};

const DEFAULT_SEED: u64 = 0xB17F_11B5;
const SHARDS: usize = 2;
/// Sealed files each shard has at least.
const MIN_SEALED: usize = 4;
/// Keys of the const tree are `u32`, of the var tree `u64`: an entry's key
/// length tells its tree (as `TreesModel::resolve` expects).
const VAR_KEY_LEN: usize = 8;
/// Const values of 12 bytes: a const entry is 28 + 4 + 12 = 44 bytes, so 4
/// bytes of padding.
const CONST_LEN: usize = 12;
const CONST_KEYS: u32 = 64;
const VAR_KEYS: u64 = 64;
/// The data file header's CRC covers bytes 0..32 and is itself at 32..36;
/// bytes 36..40 are reserved and covered by nothing (docs/format.md §6).
const FILE_HEADER_CHECKED: usize = 36;
/// Bytes of a hint file's header; both its CRCs are in it.
const HINT_HEADER_LEN: usize = 56;

/// Flips per case (CI, local).
const DATA_FLIPS: (usize, usize) = (1_000, 2_000);
const HINTED_DATA_FLIPS: (usize, usize) = (200, 600);
const HINT_FLIPS: (usize, usize) = (200, 600);

type State = TreesModel<u32, CONST_LEN, u64>;

/// The configuration of every open. (Built once: `Config::default()` asks the
/// OS for the number of cores, which costs more than a recovery of this size.)
fn config() -> Config {
    Config {
        shards: SHARDS,
        max_file_size: 4096,
        write_buffer_size: 64 << 10,
        durability: Durability::Flush,
        // Compaction would rewrite the files under test.
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        hints: Hints::Always,
        ..Config::default()
    }
}

/// One entry of the pristine database.
#[derive(Clone, Debug)]
struct Entry {
    /// The data file, relative to the database directory.
    file: PathBuf,
    disk: DiskEntry,
}

impl Entry {
    fn key_range(&self) -> Range<usize> {
        let at = self.disk.offset + ENTRY_HEADER_LEN;
        at..at + self.disk.key.len()
    }
    fn value_range(&self) -> Range<usize> {
        let at = self.key_range().end;
        at..at + self.disk.value.len()
    }
    fn padding_range(&self) -> Range<usize> {
        self.value_range().end..self.disk.end
    }
}

fn read_state(db: &Db) -> State {
    State::read(db, "const", "var")
}

/// The data files of every shard directory under `root`, oldest first.
fn files_by_shard(root: &Path) -> BTreeMap<PathBuf, Vec<PathBuf>> {
    let mut out: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in data_files(root) {
        out.entry(f.parent().expect("a shard directory").to_path_buf()).or_default().push(f);
    }
    out
}

/// Writes random puts, overwrites and deletes until every shard has sealed
/// at least `MIN_SEALED` files; returns what the trees hold.
fn populate(db: &Db, root: &Path, rng: &mut SmallRng) -> State {
    let var = db.var_tree::<u64>("var").expect("var tree");
    let consts = db.const_tree::<u32, CONST_LEN>("const").expect("const tree");
    let mut model = State::default();
    let mut ops = 0;
    loop {
        let shards = files_by_shard(root);
        if shards.len() == SHARDS && shards.values().all(|f| f.len() > MIN_SEALED) {
            break;
        }
        assert!(ops < 50_000, "{ops} ops did not seal {MIN_SEALED} files per shard: {shards:?}");
        for _ in 0..25 {
            ops += 1;
            match rng.random_range(0..100) {
                0..10 if !model.var.is_empty() => {
                    let k = *model.var.keys().nth(rng.random_range(0..model.var.len())).expect("key");
                    assert!(var.delete(&k).expect("delete"), "var key {k} was present");
                    model.var.remove(&k);
                }
                10..16 if !model.consts.is_empty() => {
                    let k = *model.consts.keys().nth(rng.random_range(0..model.consts.len())).expect("key");
                    assert!(consts.delete(&k).expect("delete").is_some(), "const key {k} was present");
                    model.consts.remove(&k);
                }
                16..50 => {
                    let k = rng.random_range(0..CONST_KEYS);
                    let v: [u8; CONST_LEN] = rng.random();
                    consts.put(&k, &v).expect("put");
                    model.consts.insert(k, v);
                }
                _ => {
                    // Lengths 0..=100: every padding length 0..=7 occurs.
                    let k = rng.random_range(0..VAR_KEYS);
                    let v: Vec<u8> = (0..rng.random_range(0..=100)).map(|_| rng.random()).collect();
                    var.put(&k, &v).expect("put");
                    model.var.insert(k, v);
                }
            }
        }
    }
    println!("populated with {ops} ops");
    model
}

/// A populated, closed database and everything known about its bytes.
struct Pristine {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: Config,
    snapshot: DirSnapshot,
    /// Every entry of every data file.
    entries: Vec<Entry>,
    /// The sealed data files of each shard, relative to `root`, oldest first.
    sealed: Vec<Vec<PathBuf>>,
    /// The hint files, relative to `root`.
    hints: Vec<PathBuf>,
    /// What the database holds.
    state: State,
}

impl Pristine {
    fn new(rng: &mut SmallRng, keep_hints: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("db");
        let config = config();
        let db = Db::open(&root, config.clone()).expect("create the database");
        let model = populate(&db, &root, rng);
        db.close().expect("close");
        if !keep_hints {
            remove_hint_files(&root);
        }
        let snapshot = snapshot_dir(&root);

        let mut entries = Vec::new();
        for (rel, bytes) in snapshot.iter().filter(|(rel, _)| is_data_file(rel)) {
            entries.extend(
                parse_entries(bytes, FILE_HEADER_LEN)
                    .into_iter()
                    .map(|disk| Entry { file: rel.clone(), disk }),
            );
        }
        let sealed: Vec<Vec<PathBuf>> = files_by_shard(&root)
            .into_values()
            .map(|mut files| {
                files.pop();
                files.iter().map(|f| f.strip_prefix(&root).expect("under root").to_path_buf()).collect()
            })
            .collect();
        assert_eq!(sealed.len(), SHARDS);
        assert!(sealed.iter().all(|s| s.len() >= MIN_SEALED), "sealed files: {sealed:?}");
        let hints: Vec<PathBuf> = snapshot.keys().filter(|rel| is_hint_file(rel)).cloned().collect();
        let sealed_count: usize = sealed.iter().map(Vec::len).sum();
        assert_eq!(hints.len(), if keep_hints { sealed_count } else { 0 }, "close hints every sealed file");
        let state = State::resolve(entries.iter().map(|e| &e.disk));
        assert_eq!(state, model, "the files resolve to what was written");
        println!(
            "pristine database: {} entries, {sealed_count} sealed data files, {} hint files, {} const and {} var keys",
            entries.len(),
            hints.len(),
            state.consts.len(),
            state.var.len()
        );

        let p = Self { _dir: dir, root, config, snapshot, entries, sealed, hints, state };
        let db = p.open(CorruptionPolicy::Refuse).expect("open the pristine database");
        p.assert_clean(&db.stats().recovery, p.hints.len(), "pristine");
        assert_eq!(read_state(&db), p.state, "the pristine database reads back what was written");
        drop(db);
        restore_changed(&p.root, &p.snapshot);
        p
    }

    fn open(&self, corruption: CorruptionPolicy) -> armdb::Result<Db> {
        Db::open(&self.root, Config { corruption, ..self.config.clone() })
    }

    /// Asserts that a recovery found no damage, read every entry and used `hints` hint files.
    fn assert_clean(&self, r: &RecoveryReport, hints: usize, ctx: &str) {
        assert_eq!((r.corrupt_entries, r.truncated_bytes), (0, 0), "{ctx}: {r:?}");
        assert_eq!(r.entries, self.entries.len() as u64, "{ctx}: every entry is read: {r:?}");
        assert_eq!(r.hint_files, hints, "{ctx}: {r:?}");
    }

    /// The state the entries other than those `lost` accepts resolve to: the
    /// pristine state with every key of a lost entry resolved again.
    fn state_without(&self, lost: impl Fn(&Entry) -> bool) -> State {
        let keys: BTreeSet<&[u8]> =
            self.entries.iter().filter(|e| lost(e)).map(|e| e.disk.key.as_slice()).collect();
        let mut state = self.state.clone();
        for key in &keys {
            if let Ok(k) = <[u8; VAR_KEY_LEN]>::try_from(*key) {
                state.var.remove(&u64::from_be_bytes(k));
            } else {
                state.consts.remove(&u32::from_be_bytes((*key).try_into().expect("a 4-byte const key")));
            }
        }
        let again = State::resolve(
            self.entries.iter().filter(|e| keys.contains(e.disk.key.as_slice()) && !lost(e)).map(|e| &e.disk),
        );
        state.consts.extend(again.consts);
        state.var.extend(again.var);
        state
    }

    /// A random sealed data file of a random shard.
    fn random_sealed_file(&self, rng: &mut SmallRng) -> PathBuf {
        let files = &self.sealed[rng.random_range(0..SHARDS)];
        files[rng.random_range(0..files.len())].clone()
    }

    /// Writes `file` with bit `bit` of byte `at` flipped.
    fn flip(&self, file: &Path, at: usize, bit: u32) {
        let mut bytes = self.snapshot[file].clone();
        bytes[at] ^= 1 << bit;
        std::fs::write(self.root.join(file), bytes).expect("write the damaged file");
    }

    /// Puts the directory back as it was; at least the damaged file differed.
    fn restore(&self) {
        let touched = restore_changed(&self.root, &self.snapshot);
        assert!(touched >= 1, "the damaged file is restored");
    }
}

/// What part of a data file a byte belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Region {
    /// Bytes 0..36 of the file header, covered by its CRC.
    FileHeader,
    /// Bytes 36..40 of the file header, covered by nothing.
    FileHeaderReserved,
    EntryHeader,
    Key,
    Value,
    /// Zeros after an entry's value, covered by nothing.
    Padding,
}

impl Region {
    /// Whether a CRC covers bytes of this region.
    fn checked(self) -> bool {
        !matches!(self, Region::FileHeaderReserved | Region::Padding)
    }
}

/// Where byte `at` of data file `file` lies: its region and entry.
fn classify<'a>(p: &'a Pristine, file: &Path, at: usize) -> (Region, Option<&'a Entry>) {
    if at < FILE_HEADER_CHECKED {
        return (Region::FileHeader, None);
    }
    if at < FILE_HEADER_LEN {
        return (Region::FileHeaderReserved, None);
    }
    let e = p
        .entries
        .iter()
        .find(|e| e.file == file && e.disk.offset <= at && at < e.disk.end)
        .expect("every byte after the file header belongs to an entry");
    let region = if at < e.key_range().start {
        Region::EntryHeader
    } else if at < e.value_range().start {
        Region::Key
    } else if at < e.padding_range().start {
        Region::Value
    } else {
        Region::Padding
    };
    (region, Some(e))
}

/// A random byte of `file`: one time in six anywhere, otherwise in a region
/// picked uniformly (file header, entry header, key, value, padding) so that
/// the small regions are hit often.
fn pick_byte(p: &Pristine, file: &Path, rng: &mut SmallRng) -> usize {
    let len = p.snapshot[file].len();
    let in_file: Vec<&Entry> = p.entries.iter().filter(|e| e.file == file).collect();
    let within = |rng: &mut SmallRng, part: fn(&Entry) -> Range<usize>| {
        let candidates: Vec<Range<usize>> =
            in_file.iter().map(|e| part(e)).filter(|r| !r.is_empty()).collect();
        if candidates.is_empty() {
            return rng.random_range(0..len);
        }
        let range = candidates[rng.random_range(0..candidates.len())].clone();
        rng.random_range(range)
    };
    match rng.random_range(0..6) {
        0 => rng.random_range(0..len),
        1 => rng.random_range(0..FILE_HEADER_LEN),
        2 => within(rng, |e| e.disk.offset..e.key_range().start),
        3 => within(rng, Entry::key_range),
        4 => within(rng, Entry::value_range),
        _ => within(rng, Entry::padding_range),
    }
}

/// Expects `Db::open` under `Refuse` to fail with `Error::Corruption` at `offset` of `path`.
fn expect_refused(p: &Pristine, path: &Path, offset: u64, ctx: &str) {
    match p.open(CorruptionPolicy::Refuse) {
        Err(Error::Corruption { path: got, offset: at, kind }) => {
            assert_eq!(got, path, "{ctx}: the error names the damaged file ({kind})");
            assert_eq!(at, offset, "{ctx}: the error points at the damage ({kind})");
        }
        Err(e) => panic!("{ctx}: expected Error::Corruption, got {e}"),
        Ok(_) => panic!("{ctx}: the damage went unnoticed"),
    }
}

/// Expects `Db::open` under `SkipEntry` to report exactly one damage at
/// `offset` of `path` and to hold exactly `want`; returns the report.
fn expect_skipped(p: &Pristine, path: &Path, offset: u64, want: &State, ctx: &str) -> RecoveryReport {
    let db =
        p.open(CorruptionPolicy::SkipEntry).unwrap_or_else(|e| panic!("{ctx}: SkipEntry open failed: {e}"));
    let r = db.stats().recovery;
    assert_eq!((r.corrupt_entries, r.truncated_bytes), (1, 0), "{ctx}: {r:?}");
    let listed: Vec<(&Path, u64)> = r.corruptions.iter().map(|c| (c.path.as_path(), c.offset)).collect();
    assert_eq!(listed, [(path, offset)], "{ctx}: the damage is reported where it is");
    assert_eq!(&read_state(&db), want, "{ctx}: the state is the pristine entries minus the damaged ones");
    r
}

#[derive(Debug, Default)]
struct Counts {
    flips: usize,
    by_region: BTreeMap<Region, usize>,
    /// Open under `Refuse` failed with `Error::Corruption` naming the file and offset.
    refused: usize,
    /// Open under `SkipEntry` reported the damage and held exactly the rest.
    skipped: usize,
    /// ... and the damaged entry was dead (overwritten or deleted later): no key changed.
    skipped_dead: usize,
    /// ... and a key changed: it shows an older version of its own, or is absent.
    skipped_visible: usize,
    /// Unchecked bytes (padding, reserved header bytes): open clean, every value pristine.
    harmless: usize,
    /// With hints: reading the damaged live var value failed with `Error::Corruption`.
    read_refused: usize,
    /// With hints: the damage lies where no read goes (dead entries, tombstones,
    /// const values the hint carries); every value read back pristine.
    latent: usize,
}

impl Counts {
    /// Counts a damage skipped under `SkipEntry`, leaving the state `want`.
    fn count_skipped(&mut self, want: &State, pristine: &State) {
        self.skipped += 1;
        if want == pristine {
            self.skipped_dead += 1;
        } else {
            self.skipped_visible += 1;
        }
    }
}

fn print_counts(what: &str, c: &Counts) {
    println!("{what}: {} flips", c.flips);
    println!("  by region: {:?}", c.by_region);
    println!("  detected, open refused with Error::Corruption naming file and offset: {}", c.refused);
    println!(
        "  detected, skipped and reported under SkipEntry: {} ({} dead entries, {} visible as an older version or absence)",
        c.skipped, c.skipped_dead, c.skipped_visible
    );
    println!("  detected by the read of the damaged value (hint trusted at open): {}", c.read_refused);
    println!("  undetectable but harmless (bytes outside every CRC): {}", c.harmless);
    println!("  latent behind a hint (no read touches the damage, every value pristine): {}", c.latent);
}

#[test]
fn bit_flips_in_sealed_data_files_are_detected() {
    let seed = support::seed(DEFAULT_SEED);
    let mut rng = SmallRng::seed_from_u64(seed);
    let p = Pristine::new(&mut rng, false);
    let flips = support::op_count(DATA_FLIPS.0, DATA_FLIPS.1);
    let mut c = Counts::default();
    for round in 0..flips {
        let file = p.random_sealed_file(&mut rng);
        let at = pick_byte(&p, &file, &mut rng);
        let bit = rng.random_range(0..8);
        let (region, entry) = classify(&p, &file, at);
        let ctx = format!("round {round}: bit {bit} of byte {at} ({region:?}) of {}", file.display());
        let path = p.root.join(&file);
        p.flip(&file, at, bit);
        c.flips += 1;
        *c.by_region.entry(region).or_default() += 1;

        if region.checked() {
            // The damaged entry is lost, or for a damaged file header the whole file.
            let offset = entry.map_or(0, |e| e.disk.offset as u64);
            let lost = |x: &Entry| x.file == file && entry.is_none_or(|e| x.disk.offset == e.disk.offset);
            expect_refused(&p, &path, offset, &ctx);
            c.refused += 1;
            let want = p.state_without(lost);
            let r = expect_skipped(&p, &path, offset, &want, &ctx);
            let kept = p.entries.iter().filter(|e| !lost(e)).count();
            assert_eq!(r.entries, kept as u64, "{ctx}: every other entry is read: {r:?}");
            c.count_skipped(&want, &p.state);
        } else {
            let db = p.open(CorruptionPolicy::Refuse).unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
            p.assert_clean(&db.stats().recovery, 0, &ctx);
            assert_eq!(read_state(&db), p.state, "{ctx}: every value is pristine");
            c.harmless += 1;
        }
        p.restore();
    }
    print_counts("sealed data files, no hints", &c);
    assert_eq!(c.flips, flips);
    assert_eq!(c.refused + c.harmless, flips, "every flip is either detected or harmless");
    // Every region was hit, so none of them went untested.
    for region in [
        Region::FileHeader,
        Region::FileHeaderReserved,
        Region::EntryHeader,
        Region::Key,
        Region::Value,
        Region::Padding,
    ] {
        assert!(c.by_region.contains_key(&region) || flips < 100, "no flip in {region:?}: {c:?}");
    }
}

#[test]
fn bit_flips_in_sealed_data_files_behind_hints_never_serve_a_wrong_value() {
    let seed = support::seed(DEFAULT_SEED);
    let mut rng = SmallRng::seed_from_u64(seed);
    let p = Pristine::new(&mut rng, true);
    // The live entry of every var key.
    let mut live: BTreeMap<&[u8], &Entry> = BTreeMap::new();
    for e in &p.entries {
        if live.get(e.disk.key.as_slice()).is_none_or(|l| l.disk.seq < e.disk.seq) {
            live.insert(&e.disk.key, e);
        }
    }
    let flips = support::op_count(HINTED_DATA_FLIPS.0, HINTED_DATA_FLIPS.1);
    let mut c = Counts::default();
    for round in 0..flips {
        let file = p.random_sealed_file(&mut rng);
        let at = pick_byte(&p, &file, &mut rng);
        let bit = rng.random_range(0..8);
        let (region, entry) = classify(&p, &file, at);
        let ctx = format!("round {round}: bit {bit} of byte {at} ({region:?}) of {}", file.display());
        let path = p.root.join(&file);
        p.flip(&file, at, bit);
        c.flips += 1;
        *c.by_region.entry(region).or_default() += 1;

        if region == Region::FileHeader {
            // The header is read whether or not a hint stands for the file.
            expect_refused(&p, &path, 0, &ctx);
            c.refused += 1;
            let want = p.state_without(|e| e.file == file);
            let r = expect_skipped(&p, &path, 0, &want, &ctx);
            assert_eq!(r.hint_files, p.hints.len() - 1, "{ctx}: the skipped file's hint is not used: {r:?}");
            c.count_skipped(&want, &p.state);
            p.restore();
            continue;
        }
        let db = p.open(CorruptionPolicy::Refuse).unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
        p.assert_clean(&db.stats().recovery, p.hints.len(), &ctx);
        let consts = db.const_tree::<u32, CONST_LEN>("const").expect("const tree");
        assert_eq!(consts.iter().collect::<BTreeMap<_, _>>(), p.state.consts, "{ctx}: const values");
        // The var key whose live value lies in the damaged bytes, if any.
        let broken = entry.filter(|e| {
            region.checked()
                && e.disk.key.len() == VAR_KEY_LEN
                && !e.disk.tombstone
                && live.get(e.disk.key.as_slice()).is_some_and(|l| std::ptr::eq(*l, *e))
        });
        let broken_key = broken.map(|e| u64::from_be_bytes(e.disk.key.clone().try_into().expect("8 bytes")));
        let var = db.var_tree::<u64>("var").expect("var tree");
        let items: Vec<_> = var.iter().collect();
        assert_eq!(items.len(), p.state.var.len(), "{ctx}: var keys");
        for (item, (k, v)) in items.into_iter().zip(&p.state.var) {
            match (item, broken) {
                (Err(Error::Corruption { path: got, offset, kind }), Some(e)) if Some(*k) == broken_key => {
                    assert_eq!(
                        (got.as_path(), offset),
                        (path.as_path(), e.disk.offset as u64),
                        "{ctx}: {kind}"
                    );
                }
                (Ok((got_k, got_v)), _) if Some(*k) != broken_key => {
                    assert_eq!((got_k, got_v.as_ref()), (*k, v.as_slice()), "{ctx}: var key {k}");
                }
                (item, _) => panic!("{ctx}: var key {k} (damaged: {broken_key:?}) read as {item:?}"),
            }
        }
        if let (Some(k), Some(e)) = (broken_key, broken) {
            match var.get(&k) {
                Err(Error::Corruption { path: got, offset, .. }) => {
                    assert_eq!((got.as_path(), offset), (path.as_path(), e.disk.offset as u64), "{ctx}");
                }
                other => panic!("{ctx}: get of the damaged var key {k} returned {other:?}"),
            }
            c.read_refused += 1;
        } else if region.checked() {
            c.latent += 1;
        } else {
            c.harmless += 1;
        }
        drop((consts, var, db));
        p.restore();
    }
    print_counts("sealed data files behind their hints", &c);
    assert_eq!(c.refused + c.read_refused + c.latent + c.harmless, flips);
}

#[test]
fn bit_flips_in_hint_files_fall_back_to_a_scan() {
    let seed = support::seed(DEFAULT_SEED);
    let mut rng = SmallRng::seed_from_u64(seed);
    let p = Pristine::new(&mut rng, true);
    let flips = support::op_count(HINT_FLIPS.0, HINT_FLIPS.1);
    let (mut in_header, mut in_body) = (0, 0);
    for round in 0..flips {
        let hint = &p.hints[rng.random_range(0..p.hints.len())];
        let len = p.snapshot[hint].len();
        assert!(len > HINT_HEADER_LEN, "a hint of a sealed file has records");
        // A third of the flips in the header, the rest in the records.
        let at = if rng.random_range(0..3) == 0 {
            in_header += 1;
            rng.random_range(0..HINT_HEADER_LEN)
        } else {
            in_body += 1;
            rng.random_range(HINT_HEADER_LEN..len)
        };
        let bit = rng.random_range(0..8);
        let ctx = format!("round {round}: bit {bit} of byte {at} of {}", hint.display());
        p.flip(hint, at, bit);
        let db = p.open(CorruptionPolicy::Refuse).unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
        p.assert_clean(
            &db.stats().recovery,
            p.hints.len() - 1,
            &format!("{ctx}: the damaged hint is not used"),
        );
        assert_eq!(read_state(&db), p.state, "{ctx}: every value is pristine");
        drop(db);
        p.restore();
    }
    println!(
        "hint files: {flips} flips ({in_header} in headers, {in_body} in records), \
         every one rejected and its data file scanned instead"
    );
}
