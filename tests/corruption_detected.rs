//! A flipped byte anywhere armdb stores data is detected and reported, never
//! served as a value.
//!
//! - In a key, a value or an entry header of an earlier (sealed) data file:
//!   `Db::open` fails with `Error::Corruption` naming that file and the entry's
//!   offset; under `CorruptionPolicy::SkipEntry` it opens, lists the damage,
//!   the damaged key is absent or holds an older valid value, and every other
//!   key is intact.
//!   (Hint files are removed first: a sealed file with a hint is not scanned.)
//! - In a sealed file while the database is open: `VarTree` reads of that
//!   value fail with `Error::Corruption`, never a wrong value, whether they go
//!   through `pread` or a memory map.
//! - In the MANIFEST or the CATALOG: `Db::open` fails with an error (no panic)
//!   and leaves the directory as it was.
//!
//! Guards against CRC checks that skip part of an entry, corruption mistaken
//! for a torn tail and silently truncated, errors that point at the wrong file
//! or offset, skipped entries that take their neighbours with them, and reads
//! that trust the bytes on disk.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use armdb::{Config, CorruptionPolicy, Db, Durability, Error, Hints};

use support::{
    ENTRY_HEADER_LEN, FILE_HEADER_LEN, TreesModel, data_files, parse_live_entries, remove_hint_files,
};

/// Keys of the var tree are `u64` (8 bytes), of the const tree `u32` (4 bytes),
/// so an entry's key length tells its tree.
const VAR_KEY_LEN: usize = 8;

fn config() -> Config {
    Config {
        shards: 1,
        max_file_size: 4096,
        durability: Durability::Flush,
        hints: Hints::Always,
        ..Config::default()
    }
}

fn skip_config() -> Config {
    Config { corruption: CorruptionPolicy::SkipEntry, ..config() }
}

/// One entry as found on disk.
#[derive(Clone, Debug)]
struct Found {
    path: PathBuf,
    offset: usize,
    seq: u64,
    key: Vec<u8>,
    /// `None` for a tombstone.
    value: Option<Vec<u8>>,
}

impl Found {
    fn key_start(&self) -> usize {
        self.offset + ENTRY_HEADER_LEN
    }
    fn value_start(&self) -> usize {
        self.key_start() + self.key.len()
    }
}

/// The entries of a data file, of an open database too (its active file may
/// end in reserved zeros).
fn parse(path: &Path) -> Vec<Found> {
    let file = std::fs::read(path).expect("read data file");
    parse_live_entries(&file, FILE_HEADER_LEN)
        .into_iter()
        .map(|e| Found {
            path: path.to_owned(),
            offset: e.offset,
            seq: e.seq,
            key: e.key,
            value: (!e.tombstone).then_some(e.value),
        })
        .collect()
}

/// A const tree with `u32` keys and a var tree with `u64` keys.
type State = TreesModel<u32, 8, u64>;

/// The state the entries resolve to: for every key, the entry with the highest seq.
fn resolve<'a>(entries: impl Iterator<Item = &'a Found>) -> State {
    let mut latest: BTreeMap<Vec<u8>, &Found> = BTreeMap::new();
    for e in entries {
        if latest.get(&e.key).is_none_or(|l| l.seq < e.seq) {
            latest.insert(e.key.clone(), e);
        }
    }
    let mut state = State::default();
    for (key, e) in latest {
        let Some(value) = &e.value else { continue };
        if key.len() == VAR_KEY_LEN {
            state.var.insert(u64::from_be_bytes(key.try_into().expect("8 bytes")), value.clone());
        } else {
            let k = u32::from_be_bytes(key.try_into().expect("4 bytes"));
            state.consts.insert(k, value.as_slice().try_into().expect("8-byte const value"));
        }
    }
    state
}

fn state(db: &Db) -> State {
    State::read(db, "const", "var")
}

fn var_value(key: u64, version: u32) -> Vec<u8> {
    format!("key {key} version {version} {}", "#".repeat((key % 32) as usize)).into_bytes()
}

/// Fills a database whose one shard has several files. Keys 0..4 of the var
/// tree are written twice at the very start (both versions in the first file)
/// and never again, so damaging their second version leaves an older one.
fn populate(db: &Db) {
    let var = db.var_tree::<u64>("var").expect("var tree");
    let consts = db.const_tree::<u32, 8>("const").expect("const tree");
    for version in 1..=2 {
        for k in 0..4 {
            var.put(&k, &var_value(k, version)).expect("put");
        }
    }
    for k in 4..120u64 {
        var.put(&k, &var_value(k, 1)).expect("put");
        consts.put(&(k as u32), &k.to_le_bytes()).expect("put");
    }
    for k in (4..120u64).step_by(5) {
        var.put(&k, &var_value(k, 2)).expect("put");
    }
    for k in (6..120u64).step_by(9) {
        var.delete(&k).expect("delete");
    }
}

/// A populated, closed database, its files held in memory so each case can
/// start from the same bytes.
struct Pristine {
    _dir: tempfile::TempDir,
    root: PathBuf,
    files: Vec<(PathBuf, Vec<u8>)>,
    entries: Vec<Found>,
    /// The data files of the shard, oldest first.
    logs: Vec<PathBuf>,
}

impl Pristine {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("db");
        let db = Db::open(&root, config()).expect("open");
        populate(&db);
        db.close().expect("close");
        remove_hint_files(&root);
        let logs = data_files(&root);
        assert!(logs.len() >= 3, "the shard should have several files: {logs:?}");
        let entries: Vec<Found> = logs.iter().flat_map(|p| parse(p)).collect();
        let mut files = Vec::new();
        for p in logs.iter().cloned().chain(["MANIFEST", "CATALOG"].map(|n| root.join(n))) {
            let bytes = std::fs::read(&p).expect("read");
            files.push((p, bytes));
        }
        Self { _dir: dir, root, files, entries, logs }
    }

    fn restore(&self) {
        remove_hint_files(&self.root);
        for (p, bytes) in &self.files {
            std::fs::write(p, bytes).expect("restore");
        }
    }
}

fn flip(path: &Path, at: usize, mask: u8) {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).expect("open for flip");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at as u64).expect("read byte");
    b[0] ^= mask;
    f.write_all_at(&b, at as u64).expect("write byte");
}

/// Damages the byte at `entry.offset + rel` and checks both corruption policies.
fn check_flip(p: &Pristine, entry: &Found, rel: usize, mask: u8, what: &str) {
    p.restore();
    flip(&entry.path, entry.offset + rel, mask);
    let ctx = format!("{what}: byte {rel} of the entry at {} in {}", entry.offset, entry.path.display());

    match Db::open(&p.root, config()) {
        Err(Error::Corruption { path, offset, kind }) => {
            assert_eq!(path, entry.path, "{ctx}: error names the damaged file ({kind})");
            assert_eq!(offset, entry.offset as u64, "{ctx}: error points at the entry ({kind})");
        }
        Err(e) => panic!("{ctx}: expected Error::Corruption, got {e}"),
        Ok(_) => panic!("{ctx}: the damage went unnoticed"),
    }
    let len = std::fs::metadata(&entry.path).expect("stat").len();
    assert_eq!(
        len,
        p.files.iter().find(|f| f.0 == entry.path).expect("file").1.len() as u64,
        "{ctx}: refusing truncates nothing"
    );

    let db = Db::open(&p.root, skip_config()).unwrap_or_else(|e| panic!("{ctx}: SkipEntry open failed: {e}"));
    let report = db.stats().recovery;
    assert_eq!(report.corrupt_entries, 1, "{ctx}: {report:?}");
    assert_eq!(report.truncated_bytes, 0, "{ctx}: {report:?}");
    let listed = report.corruptions.first().expect("the damage is listed");
    assert_eq!((listed.path.as_path(), listed.offset), (entry.path.as_path(), entry.offset as u64), "{ctx}");

    // Everything but the damaged entry, resolved by seq.
    let want = resolve(p.entries.iter().filter(|e| (&e.path, e.offset) != (&entry.path, entry.offset)));
    let got = state(&db);
    let key = u64::from_be_bytes(entry.key.clone().try_into().expect("a var tree key"));
    let older: Vec<&Vec<u8>> = p
        .entries
        .iter()
        .filter(|e| e.key == entry.key && e.seq < entry.seq)
        .filter_map(|e| e.value.as_ref())
        .collect();
    match got.var.get(&key) {
        None => {}
        Some(v) => assert!(
            older.contains(&v) || want.var.get(&key) == Some(v),
            "{ctx}: key {key} holds {:?}, neither absent nor an older valid value",
            String::from_utf8_lossy(v)
        ),
    }
    assert_eq!(got, want, "{ctx}: every other key is intact");
    db.close().expect("close");
}

/// The second version of var key 2: the newest entry of its key, in the first
/// file, with an older version before it.
fn target(p: &Pristine) -> Found {
    let key = 2u64.to_be_bytes().to_vec();
    let mut versions = p.entries.iter().filter(|e| e.key == key);
    let first = versions.next().expect("first version");
    let second = versions.next().expect("second version").clone();
    assert!(versions.next().is_none(), "key 2 is written exactly twice");
    assert!(first.value.is_some() && second.value.is_some());
    assert_eq!(second.path, p.logs[0], "the target lies in the first, sealed file");
    second
}

#[test]
fn flipped_value_or_key_byte_in_a_sealed_file() {
    let p = Pristine::new();
    let t = target(&p);
    let value_len = t.value.as_ref().expect("a put").len();
    for i in [0, value_len / 2, value_len - 1] {
        check_flip(&p, &t, t.value_start() - t.offset + i, 0x01, "value byte");
    }
    for i in 0..VAR_KEY_LEN {
        check_flip(&p, &t, t.key_start() - t.offset + i, 0x40, "key byte");
    }
    // An entry with no older version: skipping it leaves its key absent.
    let only = p
        .entries
        .iter()
        .find(|e| {
            e.path == p.logs[1]
                && e.key.len() == VAR_KEY_LEN
                && e.value.is_some()
                && p.entries.iter().filter(|o| o.key == e.key).count() == 1
        })
        .expect("a single-version var entry in the second file")
        .clone();
    check_flip(&p, &only, only.value_start() - only.offset, 0x80, "value byte of a single-version key");
}

#[test]
fn flipped_entry_header_byte_in_a_sealed_file() {
    let p = Pristine::new();
    let t = target(&p);
    // seq, tombstone bit, tree id, key length (low and high), flags, value
    // length (low and high), CRC.
    for (rel, mask) in [
        (0, 0x01),
        (7, 0x80),
        (8, 0x01),
        (12, 0x01),
        (13, 0x80),
        (14, 0x01),
        (16, 0x01),
        (19, 0x80),
        (20, 0x01),
        (23, 0x80),
    ] {
        check_flip(&p, &t, rel, mask, "header byte");
    }
}

/// Reads through `pread` (no value cache, so every read goes to the file).
#[test]
fn flipped_byte_after_open_fails_the_read() {
    flipped_byte_after_open(Config { value_cache_bytes: 0, mmap_reads: false, ..config() });
}

/// Reads through memory maps, with the value cache on: a mapped read checks
/// the bytes the file holds now, never a copy from an earlier read.
#[test]
fn flipped_byte_after_open_fails_a_mapped_read() {
    flipped_byte_after_open(Config { mmap_reads: true, ..config() });
}

fn flipped_byte_after_open(config: Config) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config).expect("open");
    populate(&db);
    let var = db.var_tree::<u64>("var").expect("var tree");
    // Durability::Flush: every entry is in its file already.
    let logs = data_files(dir.path());
    assert!(logs.len() >= 3);
    let entries: Vec<Found> = logs.iter().flat_map(|p| parse(p)).collect();
    let want = resolve(entries.iter());
    assert_eq!(state(&db), want);
    let t = entries
        .iter()
        .rev()
        .find(|e| {
            e.path == logs[1]
                && e.key.len() == VAR_KEY_LEN
                && e.value.is_some()
                && want.var.get(&u64::from_be_bytes(e.key.clone().try_into().expect("key")))
                    == e.value.as_ref()
        })
        .expect("a live var value in a sealed file")
        .clone();
    let key = u64::from_be_bytes(t.key.clone().try_into().expect("key"));
    let good = t.value.clone().expect("a put");
    assert_eq!(var.get(&key).expect("read before the damage").as_deref(), Some(good.as_slice()));

    for (what, at, mask) in [
        ("value", t.value_start() + good.len() / 2, 0x04),
        ("last value byte", t.value_start() + good.len() - 1, 0x80),
        ("key", t.key_start() + VAR_KEY_LEN - 1, 0x01),
        ("header", t.offset + 16, 0x02),
    ] {
        flip(&t.path, at, mask);
        match var.get(&key) {
            Err(Error::Corruption { path, offset, kind }) => {
                assert_eq!(path, t.path, "{what}: error names the file ({kind})");
                assert_eq!(offset, t.offset as u64, "{what}: error points at the entry ({kind})");
            }
            Err(e) => panic!("{what}: expected Error::Corruption, got {e}"),
            Ok(v) => panic!("{what}: a damaged value was served: {v:?}"),
        }
        let items: Vec<_> = var.range(key..=key).collect();
        assert!(
            matches!(items.as_slice(), [Err(Error::Corruption { .. })]),
            "{what}: range over the damaged key fails: {items:?}"
        );
        let errors = var.iter().filter(Result::is_err).count();
        assert_eq!(errors, 1, "{what}: iter fails exactly at the damaged value");
        assert!(
            matches!(var.cas(&key, Some(&good), Some(b"new")), Err(Error::Corruption { .. })),
            "{what}: cas must not compare against damaged bytes"
        );
        assert!(
            matches!(var.update(&key, |_| Some(b"new".to_vec())), Err(Error::Corruption { .. })),
            "{what}: update must not read damaged bytes"
        );
        for (k, v) in want.var.iter().filter(|(k, _)| **k != key) {
            assert_eq!(
                var.get(k).expect("other keys read fine").as_deref(),
                Some(v.as_slice()),
                "{what}: key {k}"
            );
        }
        // The error was not cached: once the byte is back, the value reads again.
        flip(&t.path, at, mask);
        assert_eq!(var.get(&key).expect("get after repair").as_deref(), Some(good.as_slice()), "{what}");
    }
    drop(var);
    db.close().expect("close");
}

/// Opens `root` and expects an error that names `file`, not a panic and not success.
fn expect_open_error(root: &Path, file: &Path, what: &str) {
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Db::open(root, config())));
    match opened {
        Err(_) => panic!("{what}: Db::open panicked"),
        Ok(Ok(_)) => panic!("{what}: Db::open accepted the damage"),
        Ok(Err(Error::Corruption { path, .. })) => assert_eq!(path, file, "{what}: error names the file"),
        Ok(Err(e)) => panic!("{what}: expected Error::Corruption naming {}, got {e}", file.display()),
    }
}

#[test]
fn damaged_manifest_or_catalog_fails_open() {
    let p = Pristine::new();
    let want = resolve(p.entries.iter());
    for name in ["MANIFEST", "CATALOG"] {
        let path = p.root.join(name);
        let good = std::fs::read(&path).expect("read");
        // The MANIFEST ends in 4 reserved bytes after its CRC; every byte before
        // them is checked. Every byte of the CATALOG is.
        let checked = if name == "MANIFEST" { good.len() - 4 } else { good.len() };
        for i in 0..checked {
            for mask in [0x01, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= mask;
                std::fs::write(&path, &bad).expect("write");
                expect_open_error(&p.root, &path, &format!("{name} byte {i} ^ {mask:#x}"));
            }
        }
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).expect("write");
            expect_open_error(&p.root, &path, &format!("{name} cut to {cut} bytes"));
        }
        let mut longer = good.clone();
        longer.extend_from_slice(&[0; 8]);
        std::fs::write(&path, &longer).expect("write");
        expect_open_error(&p.root, &path, &format!("{name} with trailing bytes"));
        std::fs::write(&path, &good).expect("restore");
    }
    // Failed opens changed nothing: the database opens with all its data.
    let db = Db::open(&p.root, config()).expect("open after repair");
    assert_eq!(db.stats().recovery.truncated_bytes, 0);
    assert_eq!(state(&db), want);
    db.close().expect("close");
}
