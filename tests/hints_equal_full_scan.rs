//! Reopening from hint files recovers exactly what a full scan of the data files
//! does, and a damaged or misplaced hint is ignored, never trusted (PITFALLS 3).
//!
//! Two shards of 4 KiB files hold puts, overwrites, deletes and batches over a
//! const tree and a var tree in several sealed files per shard; `close()` writes
//! a hint for every sealed file. The full contents of both trees must equal the
//! model when reopened (a) with the hints, (b) with every hint deleted, (c) with
//! every hint truncated at 0, 10, half and all but one byte, (d) with a byte
//! flipped in the middle of every hint, (e) with every hint replaced by the hint
//! of another file of the same shard, or of the same file id in the other shard.
//! (a) must load every sealed file from its hint; (b)–(e) must load none.
//! Guards against hints that drop tombstones, batch framing or const values, and
//! against a reader that installs garbage locations from a damaged or foreign hint.

mod support;

use std::path::{Path, PathBuf};

use armdb::{CompactionConfig, Config, Db, Durability, Hints, RecoveryReport};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use support::{DirSnapshot, TreesModel, is_data_file, is_hint_file, restore_dir, snapshot_dir};

const DEFAULT_SEED: u64 = 0x0C0D_0010;

fn config() -> Config {
    Config {
        shards: 2,
        max_file_size: 4096,
        durability: Durability::Flush,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        hints: Hints::Always,
        ..Config::default()
    }
}

type Model = TreesModel<u32, 16>;

fn state(db: &Db) -> Model {
    Model::read(db, "consts", "var")
}

fn const_value(rng: &mut SmallRng, i: usize) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&(i as u64).to_le_bytes());
    v[8..].copy_from_slice(&rng.random::<[u8; 8]>());
    v
}

fn var_value(rng: &mut SmallRng, i: usize) -> Vec<u8> {
    let mut v = format!("op {i} ").into_bytes();
    let len = rng.random_range(0..120);
    v.extend((0..len).map(|_| rng.random_range(b'a'..=b'z')));
    v
}

/// Builds the database and returns the model of its contents.
fn build(dir: &Path, rng: &mut SmallRng) -> Model {
    let db = Db::open(dir, config()).expect("open");
    let consts = db.const_tree::<u32, 16>("consts").expect("const tree");
    let var = db.var_tree::<u32>("var").expect("var tree");
    let mut m = Model::default();
    for i in 0..1200usize {
        if i % 100 == 50 {
            let mut b = db.batch();
            for j in 0..12 {
                let k = rng.random_range(0..80u32);
                match rng.random_range(0..4) {
                    0 => {
                        b.delete_const(&consts, &k);
                        m.consts.remove(&k);
                    }
                    1 => {
                        b.delete_var(&var, &k);
                        m.var.remove(&k);
                    }
                    2 => {
                        let v = const_value(rng, i * 100 + j);
                        b.put_const(&consts, &k, &v);
                        m.consts.insert(k, v);
                    }
                    _ => {
                        let v = var_value(rng, i * 100 + j);
                        b.put_var(&var, &k, &v);
                        m.var.insert(k, v);
                    }
                }
            }
            b.commit().expect("commit a batch");
            continue;
        }
        let k = rng.random_range(0..80u32);
        match rng.random_range(0..10) {
            0 => {
                consts.delete(&k).expect("delete");
                m.consts.remove(&k);
            }
            1..=2 => {
                var.delete(&k).expect("delete");
                m.var.remove(&k);
            }
            3..=5 => {
                let v = const_value(rng, i);
                consts.put(&k, &v).expect("put");
                m.consts.insert(k, v);
            }
            _ => {
                let v = var_value(rng, i);
                var.put(&k, &v).expect("put");
                m.var.insert(k, v);
            }
        }
    }
    assert_eq!(state(&db), m, "the live database equals the model");
    drop((consts, var));
    db.close().expect("close writes the hints");
    m
}

/// Opens `files` in `work`, checks the contents against `model` and returns the
/// recovery report.
fn open_and_check(work: &Path, files: &DirSnapshot, model: &Model, what: &str) -> RecoveryReport {
    restore_dir(work, files);
    let db = Db::open(work, config()).unwrap_or_else(|e| panic!("{what}: open: {e}"));
    assert_eq!(&state(&db), model, "{what}: contents differ from the model");
    // Dropped without `close`, which would write the missing hints.
    db.stats().recovery
}

#[test]
fn hints_recover_what_a_scan_does_and_bad_hints_are_ignored() {
    let mut rng = SmallRng::seed_from_u64(support::seed(DEFAULT_SEED));
    let base = tempfile::tempdir().expect("tempdir");
    let original = base.path().join("original");
    let model = build(&original, &mut rng);

    let pristine = snapshot_dir(&original);
    let hints: Vec<PathBuf> = pristine.keys().filter(|p| is_hint_file(p)).cloned().collect();
    let logs = pristine.keys().filter(|p| is_data_file(p)).count();
    for shard in ["shard-000", "shard-001"] {
        let sealed = hints.iter().filter(|p| p.starts_with(shard)).count();
        assert!(sealed >= 3, "{shard} has {sealed} hinted files; the test needs several: {hints:?}");
    }
    // Every data file but each shard's active one is sealed and hinted.
    assert_eq!(hints.len(), logs - 2, "hints {hints:?} for {logs} data files");
    println!(
        "{logs} data files, {} hints, {} const and {} var keys",
        hints.len(),
        model.consts.len(),
        model.var.len()
    );

    let work = base.path().join("work");

    // (a) With the hints.
    let with_hints = open_and_check(&work, &pristine, &model, "(a) with hints");
    assert_eq!(with_hints.hint_files, hints.len(), "(a) every sealed file loads from its hint");

    // (b) Without any hint: a full scan.
    let mut files = pristine.clone();
    files.retain(|p, _| !is_hint_file(p));
    let scanned = open_and_check(&work, &files, &model, "(b) no hints");
    assert_eq!(scanned.hint_files, 0, "(b)");
    assert_eq!(scanned.files, with_hints.files, "(a) and (b) read the same data files");
    assert_eq!(scanned.entries, with_hints.entries, "(a) and (b) find the same entries");

    // (c) Every hint truncated.
    for cut in ["0", "10", "half", "len-1"] {
        let mut files = pristine.clone();
        for h in &hints {
            let bytes = files.get_mut(h).expect("hint");
            let len = match cut {
                "0" => 0,
                "10" => 10,
                "half" => bytes.len() / 2,
                _ => bytes.len() - 1,
            };
            bytes.truncate(len);
        }
        let what = format!("(c) hints truncated at {cut}");
        let report = open_and_check(&work, &files, &model, &what);
        assert_eq!(report.hint_files, 0, "{what}: a truncated hint was used");
        assert_eq!(report.entries, scanned.entries, "{what}");
    }

    // (d) A byte flipped in the middle of every hint.
    let mut files = pristine.clone();
    for h in &hints {
        let bytes = files.get_mut(h).expect("hint");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x5A;
    }
    let report = open_and_check(&work, &files, &model, "(d) flipped byte");
    assert_eq!(report.hint_files, 0, "(d) a hint with a bad checksum was used");

    // (e1) Every hint replaced by the next hint of its shard.
    let mut files = pristine.clone();
    for shard in ["shard-000", "shard-001"] {
        let own: Vec<&PathBuf> = hints.iter().filter(|p| p.starts_with(shard)).collect();
        for (i, h) in own.iter().enumerate() {
            let other = own[(i + 1) % own.len()];
            files.insert((*h).clone(), pristine[other].clone());
        }
    }
    let report = open_and_check(&work, &files, &model, "(e1) hint of another file");
    assert_eq!(report.hint_files, 0, "(e1) the hint of another file was used");

    // (e2) Every hint replaced by the hint of the same file id in the other shard
    // (file ids are per shard, so both shards have a file 1, 2, ...).
    let mut files = pristine.clone();
    let mut swapped = 0;
    for h in &hints {
        let name = h.file_name().expect("file name");
        let other_shard = if h.starts_with("shard-000") { "shard-001" } else { "shard-000" };
        let other = Path::new(other_shard).join(name);
        match pristine.get(&other) {
            Some(bytes) => {
                files.insert(h.clone(), bytes.clone());
                swapped += 1;
            }
            None => {
                files.remove(h);
            }
        }
    }
    assert!(swapped >= 4, "few hints share a file id across shards: {hints:?}");
    let report = open_and_check(&work, &files, &model, "(e2) hint of another shard");
    assert_eq!(report.hint_files, 0, "(e2) the hint of another shard's file was used");
}
