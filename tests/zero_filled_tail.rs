//! Zeros after the last entry — what a power cut often leaves when the file
//! system extended a file but never wrote its data.
//!
//! At the end of the last data file of a shard they are the end of the log:
//! recovery keeps every entry, truncates exactly the zeros, accepts new writes,
//! and the next open is clean; a last file that is zeros from its first byte
//! (header included) is an empty file. At the end of an earlier, sealed file they are
//! damage: `Db::open` fails with `Error::Corruption` naming that file and the
//! offset where the zeros start (or, under `CorruptionPolicy::SkipEntry`, opens
//! with every entry and reports the damage). Guards against refusing to open
//! after a power cut (PITFALLS #2), reading zeros as an entry, and silently
//! ignoring damage in a file that should have been complete.

mod support;

use std::path::Path;

use armdb::{Config, CorruptionPolicy, Db, Durability, Error};

use support::{TreesModel, data_files};

const ZEROS: usize = 8192;

fn config() -> Config {
    Config { shards: 1, max_file_size: 4096, durability: Durability::Flush, ..Config::default() }
}

type State = TreesModel<u32, 8>;

/// Writes `n` keys into a var tree and a const tree; returns what they hold.
fn populate(dir: &Path, n: u32) -> State {
    let db = Db::open(dir, config()).expect("open");
    let var = db.var_tree::<u32>("var").expect("var tree");
    let consts = db.const_tree::<u32, 8>("const").expect("const tree");
    for i in 0..n {
        var.put(&i, format!("value of {i} {}", "x".repeat((i % 40) as usize)).as_bytes()).expect("put");
        consts.put(&i, &u64::from(i).to_le_bytes()).expect("put");
    }
    for i in (0..n).step_by(7) {
        var.delete(&i).expect("delete");
    }
    drop((var, consts));
    let s = state(&db);
    db.close().expect("close");
    s
}

fn state(db: &Db) -> State {
    State::read(db, "const", "var")
}

fn append_zeros(path: &Path) -> u64 {
    let len = std::fs::metadata(path).expect("stat").len();
    let file = std::fs::OpenOptions::new().write(true).open(path).expect("open data file");
    file.set_len(len + ZEROS as u64).expect("extend with zeros");
    file.sync_all().expect("fsync");
    len
}

#[test]
fn zeros_after_the_last_file_are_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut want = populate(dir.path(), 200);
    let files = data_files(dir.path());
    assert!(files.len() > 1, "the shard should have rotated");
    let last = files.last().expect("a data file");
    let len = append_zeros(last);

    let db = Db::open(dir.path(), config()).expect("open with a zero-filled tail");
    let report = db.stats().recovery;
    assert_eq!(report.truncated_bytes, ZEROS as u64, "exactly the zeros are truncated: {report:?}");
    assert_eq!(report.corrupt_entries, 0);
    assert_eq!(std::fs::metadata(last).expect("stat").len(), len, "the file is cut back to its entries");
    assert_eq!(state(&db), want, "every entry before the zeros is kept");

    let var = db.var_tree::<u32>("var").expect("var tree");
    let consts = db.const_tree::<u32, 8>("const").expect("const tree");
    var.put(&7, b"written after recovery").expect("put");
    consts.put(&1_000, b"newvalue").expect("put");
    assert!(var.delete(&1).expect("delete"));
    want.var.insert(7, b"written after recovery".to_vec());
    want.consts.insert(1_000, *b"newvalue");
    want.var.remove(&1);
    assert_eq!(state(&db), want);
    drop((var, consts));
    db.close().expect("close");

    let db = Db::open(dir.path(), config()).expect("reopen");
    let report = db.stats().recovery;
    assert_eq!(report.truncated_bytes, 0, "the second open finds nothing to truncate: {report:?}");
    assert_eq!(report.corrupt_entries, 0);
    assert_eq!(state(&db), want, "writes after recovery survive a reopen");
    db.close().expect("close");
}

#[test]
fn zeros_after_an_earlier_file_are_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let want = populate(dir.path(), 200);
    let files = data_files(dir.path());
    assert!(files.len() >= 3, "the shard should have several files: {files:?}");
    let sealed = &files[files.len() / 2];
    let len = append_zeros(sealed);

    match Db::open(dir.path(), config()) {
        Err(Error::Corruption { path, offset, kind }) => {
            assert_eq!(path, *sealed, "the error names the file with the zeros ({kind})");
            assert_eq!(offset, len, "the error points at the first zero byte ({kind})");
        }
        Err(e) => panic!("expected Error::Corruption, got {e}"),
        Ok(_) => panic!("zeros after a sealed file were accepted"),
    }
    // A refused open changes nothing: the same refusal again.
    assert!(matches!(Db::open(dir.path(), config()), Err(Error::Corruption { .. })));
    assert_eq!(
        std::fs::metadata(sealed).expect("stat").len(),
        len + ZEROS as u64,
        "refusing truncates nothing"
    );

    let skip = Config { corruption: CorruptionPolicy::SkipEntry, ..config() };
    let db = Db::open(dir.path(), skip).expect("open with SkipEntry");
    let report = db.stats().recovery;
    assert_eq!(report.corrupt_entries, 1, "{report:?}");
    assert_eq!(report.truncated_bytes, 0, "a sealed file is never truncated: {report:?}");
    let skipped = report.corruptions.first().expect("the skipped damage is listed");
    assert_eq!((skipped.path.as_path(), skipped.offset), (sealed.as_path(), len));
    assert_eq!(state(&db), want, "the zeros held no entries, so nothing is lost");
    db.close().expect("close");
}

#[test]
fn a_last_file_of_only_zeros_is_an_empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = populate(dir.path(), 200);
    let files = data_files(dir.path());
    assert!(files.len() > 1, "the shard should have rotated");
    let last = files.last().expect("a data file");
    // The state without the last file's entries: recover it from the other files.
    let hidden = dir.path().join("last.log.hidden");
    std::fs::rename(last, &hidden).expect("hide the last file");
    let want = {
        let db = Db::open(dir.path(), config()).expect("open without the last file");
        let s = state(&db);
        db.close().expect("close");
        s
    };
    assert_ne!(want, full, "the last file held entries");
    for p in data_files(dir.path()).iter().filter(|p| !files.contains(p)) {
        std::fs::remove_file(p).expect("remove the file that open created");
    }
    let len = std::fs::metadata(&hidden).expect("stat").len() as usize;
    std::fs::remove_file(&hidden).expect("remove");
    std::fs::write(last, vec![0u8; len + ZEROS]).expect("write zeros");

    let db = Db::open(dir.path(), config()).expect("open with an all-zero last file");
    let report = db.stats().recovery;
    assert_eq!(report.truncated_bytes, (len + ZEROS) as u64, "{report:?}");
    assert_eq!(report.corrupt_entries, 0, "{report:?}");
    assert_eq!(state(&db), want, "the earlier files are intact");
    let var = db.var_tree::<u32>("var").expect("var tree");
    var.put(&5_000, b"after").expect("put");
    drop(var);
    db.close().expect("close");

    let db = Db::open(dir.path(), config()).expect("reopen");
    assert_eq!(db.stats().recovery.truncated_bytes, 0);
    let var = db.var_tree::<u32>("var").expect("var tree");
    assert_eq!(
        var.get(&5_000).expect("get").as_deref(),
        Some(&b"after"[..]),
        "writes go to the re-created file"
    );
    drop(var);
    db.close().expect("close");
}
