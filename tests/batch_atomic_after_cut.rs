//! A batch cut by a crash at any byte of any shard's part recovers as all of the
//! batch or none of it, and a dropped batch never comes back.
//!
//! Three shards, `Durability::Flush`, a const tree and a var tree. One batch of
//! puts, overwrites and deletes over both trees touches every shard. For every
//! byte offset the batch appended to every shard's active file, that one file is
//! cut there (the other shards stay whole, as a crash between the shards'
//! appends leaves them, with the MANIFEST from before the `close` that marked
//! the batch durable) and the database reopened: both trees must equal the
//! model without the batch, `incomplete_batches` must count it, new writes must
//! work, and the batch must stay absent after a close and reopen, and after a
//! `compact()` that rewrites the files holding the other shards' parts and
//! another reopen. The uncut files recover all of the batch. Guards against
//! applying half a batch, resurrecting a dropped batch once its seq falls under
//! the durable seq, and compaction copying a dropped part forward.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use armdb::{CompactionConfig, Config, Db, Durability};

const ENTRY_HEADER_LEN: usize = 28;
/// Keys written after recovery, above every key the batch touches.
const FRESH_BASE: u32 = 10_000;

fn heavy() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn config() -> Config {
    Config {
        shards: 3,
        max_file_size: 4096,
        durability: Durability::Flush,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        ..Config::default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Model {
    consts: BTreeMap<u32, [u8; 16]>,
    var: BTreeMap<u32, Vec<u8>>,
}

fn const_value(key: u32, version: u32) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..4].copy_from_slice(&key.to_le_bytes());
    v[4..8].copy_from_slice(&version.to_le_bytes());
    v[8..].copy_from_slice(&(u64::from(key) * 31 + u64::from(version)).to_le_bytes());
    v
}

fn var_value(key: u32, version: u32) -> Vec<u8> {
    let len = 5 + (key as usize * 7 + version as usize * 13) % 40;
    let mut v = format!("k{key}v{version}:").into_bytes();
    v.resize(len.max(v.len()), b'a' + (key % 26) as u8);
    v
}

/// Reads both trees of an open database.
fn state(db: &Db) -> Model {
    let consts = db.const_tree::<u32, 16>("consts").expect("const tree");
    let var = db.var_tree::<u32>("var").expect("var tree");
    Model {
        consts: consts.iter().collect(),
        var: var
            .iter()
            .map(|r| {
                let (k, v) = r.expect("iterate the var tree");
                (k, v.to_vec())
            })
            .collect(),
    }
}

/// Every file under `root`, by path relative to it.
fn read_dir_tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("list a directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read a file");
                out.insert(path.strip_prefix(root).expect("under root").to_path_buf(), bytes);
            }
        }
    }
    out
}

/// Replaces `root` with exactly `files`, the file `cut_file` cut to `cut` bytes.
fn restore(root: &Path, files: &BTreeMap<PathBuf, Vec<u8>>, cut_file: &Path, cut: usize) {
    if root.exists() {
        std::fs::remove_dir_all(root).expect("remove the previous copy");
    }
    for (rel, bytes) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create a directory");
        let bytes = if rel == cut_file { &bytes[..cut] } else { &bytes[..] };
        std::fs::write(&path, bytes).expect("write a file");
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The (offset, seq, tree, flags) of every entry of `file` from `from` on, walked
/// with the layout of `docs/format.md`.
fn entries_from(file: &[u8], from: usize) -> Vec<(usize, u64, u32, u16)> {
    let mut out = Vec::new();
    let mut at = from;
    while at < file.len() {
        let seq = u64::from_le_bytes(file[at..at + 8].try_into().expect("8 bytes")) & !(1 << 63);
        let tree = u32_at(file, at + 8);
        let key_len = u16::from_le_bytes([file[at + 12], file[at + 13]]) as usize;
        let flags = u16::from_le_bytes([file[at + 14], file[at + 15]]);
        let value_len = u32_at(file, at + 16) as usize;
        out.push((at, seq, tree, flags));
        at += (ENTRY_HEADER_LEN + key_len + value_len).next_multiple_of(8);
    }
    assert_eq!(at, file.len(), "the file ends with a whole entry");
    out
}

/// Writes enough after recovery to seal every shard's active file, so that
/// `compact()` rewrites the files that hold the batch's surviving parts.
fn write_fresh(db: &Db, model: &mut Model, tag: usize) {
    let consts = db.const_tree::<u32, 16>("consts").expect("const tree");
    let var = db.var_tree::<u32>("var").expect("var tree");
    for i in 0..120u32 {
        let mut v = format!("fresh {tag} {i} ").into_bytes();
        v.resize(100, b'f');
        var.put(&(FRESH_BASE + i), &v).expect("a write after recovery");
        model.var.insert(FRESH_BASE + i, v);
    }
    let c = const_value(FRESH_BASE, tag as u32);
    consts.put(&FRESH_BASE, &c).expect("a write after recovery");
    model.consts.insert(FRESH_BASE, c);
}

#[test]
fn a_cut_batch_is_all_or_nothing_and_stays_dropped() {
    let base = tempfile::tempdir().expect("tempdir");
    let original = base.path().join("original");

    // Plain entries, then a clean close.
    let mut before = Model::default();
    {
        let db = Db::open(&original, config()).expect("open");
        let consts = db.const_tree::<u32, 16>("consts").expect("const tree");
        let var = db.var_tree::<u32>("var").expect("var tree");
        for k in 0..24u32 {
            consts.put(&k, &const_value(k, 0)).expect("put");
            before.consts.insert(k, const_value(k, 0));
            var.put(&k, &var_value(k, 0)).expect("put");
            before.var.insert(k, var_value(k, 0));
        }
        drop((consts, var));
        db.close().expect("close");
    }
    let files_before = read_dir_tree(&original);

    // One batch over both trees and every shard: overwrites, deletes of present
    // and absent keys, new keys, and a key set twice (the last op wins).
    let mut after = before.clone();
    let manifest_at_crash;
    {
        let db = Db::open(&original, config()).expect("reopen");
        let consts = db.const_tree::<u32, 16>("consts").expect("const tree");
        let var = db.var_tree::<u32>("var").expect("var tree");
        let mut b = db.batch();
        for k in 0..4u32 {
            b.put_const(&consts, &k, &const_value(k, 1));
            after.consts.insert(k, const_value(k, 1));
            b.put_var(&var, &(k + 2), &var_value(k + 2, 1));
            after.var.insert(k + 2, var_value(k + 2, 1));
        }
        for k in 8..11u32 {
            b.delete_const(&consts, &k);
            after.consts.remove(&k);
            b.delete_var(&var, &(k + 4));
            after.var.remove(&(k + 4));
        }
        b.delete_var(&var, &999);
        for k in 100..104u32 {
            b.put_const(&consts, &k, &const_value(k, 1));
            after.consts.insert(k, const_value(k, 1));
            b.put_var(&var, &k, &var_value(k, 1));
            after.var.insert(k, var_value(k, 1));
        }
        b.put_var(&var, &200, b"overwritten within the batch");
        b.put_var(&var, &200, &var_value(200, 2));
        after.var.insert(200, var_value(200, 2));
        b.commit().expect("commit");
        assert_eq!(state(&db), after, "the committed batch is visible");
        // `close` records the batch in the MANIFEST as durable, after syncing
        // every shard; a crash during the commit leaves the MANIFEST as it is now.
        manifest_at_crash = std::fs::read(original.join("MANIFEST")).expect("read MANIFEST");
        drop((consts, var));
        db.close().expect("close");
    }
    let mut pristine = read_dir_tree(&original);
    pristine.insert(PathBuf::from("MANIFEST"), manifest_at_crash);

    // Each shard's part: the bytes its active file grew by.
    // (file, part start, part end, the start of every entry of the part)
    let mut parts: Vec<(PathBuf, usize, usize, Vec<usize>)> = Vec::new();
    let mut batch_seq = None;
    for (rel, bytes) in &pristine {
        if rel.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let old_bytes = files_before.get(rel).expect("the batch created no data file");
        assert!(bytes.starts_with(old_bytes), "{rel:?}: the batch only appends");
        let old = old_bytes.len();
        if bytes.len() == old {
            continue;
        }
        let entries = entries_from(bytes, old);
        for &(at, seq, _, flags) in &entries {
            assert_eq!(flags & 1, 1, "{rel:?} at {at}: a batch entry has the batch flag");
            assert_eq!(*batch_seq.get_or_insert(seq), seq, "{rel:?} at {at}: one seq per batch");
        }
        let &(at, _, tree, _) = entries.last().expect("a part");
        assert_eq!(tree, 0, "{rel:?}: the part ends with a marker at {at}");
        parts.push((rel.clone(), old, bytes.len(), entries.iter().map(|e| e.0).collect()));
    }
    assert_eq!(parts.len(), 3, "the batch touches every shard: {parts:?}");
    for (file, start, end, starts) in &parts {
        println!("batch seq {batch_seq:?}: {} bytes {start}..{end}, entries at {starts:?}", file.display());
    }

    let work = base.path().join("work");
    let none_path = PathBuf::new();

    // Uncut: all of the batch.
    restore(&work, &pristine, &none_path, 0);
    {
        let db = Db::open(&work, config()).expect("open the uncut copy");
        assert_eq!(state(&db), after, "the whole batch recovers");
        assert_eq!(db.stats().recovery.incomplete_batches, 0);
        db.close().expect("close");
    }

    let mut cuts = 0;
    let mut full_cuts = 0;
    let mut compacted = 0;
    for (file, start, end, starts) in &parts {
        for cut in *start..*end {
            let whole_end = starts.iter().copied().filter(|&s| s <= cut).max().expect("cut inside the part");
            let next = starts.iter().copied().find(|&s| s > cut).unwrap_or(*end);
            // Every offset is reopened and checked. Locally every offset also goes
            // through writes, reopens and compaction; under CI only the offsets at
            // and next to an entry's edges do, which bounds the fsyncs.
            let full = !heavy() || cut - whole_end <= 1 || next - cut == 1;
            let ctx = format!("{} cut at {cut} (part {start}..{end})", file.display());
            restore(&work, &pristine, file, cut);
            let db = Db::open(&work, config()).unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
            assert_eq!(state(&db), before, "{ctx}: a cut batch must be dropped whole");
            let report = db.stats().recovery;
            assert!(report.incomplete_batches >= 1, "{ctx}: the dropped batch is not reported: {report:?}");
            assert_eq!(report.truncated_bytes, (cut - whole_end) as u64, "{ctx}: torn bytes: {report:?}");
            cuts += 1;
            if !full {
                drop(db);
                continue;
            }

            let mut want = before.clone();
            write_fresh(&db, &mut want, cut);
            assert_eq!(state(&db), want, "{ctx}: writes after recovery");
            db.close().expect("close");

            let db = Db::open(&work, config()).unwrap_or_else(|e| panic!("{ctx}: second open: {e}"));
            assert_eq!(state(&db), want, "{ctx}: after a close and reopen");
            assert_eq!(db.stats().recovery.truncated_bytes, 0, "{ctx}: the second open is clean");
            let report = db.compact().expect("compact");
            compacted += report.files_compacted;
            assert_eq!(state(&db), want, "{ctx}: after compact()");
            db.close().expect("close");

            let db = Db::open(&work, config()).unwrap_or_else(|e| panic!("{ctx}: third open: {e}"));
            assert_eq!(state(&db), want, "{ctx}: after compact() and a reopen");
            // Dropping the handle is enough: nothing was written since the open.
            drop(db);
            full_cuts += 1;
        }
    }
    assert!(compacted > 0, "compaction never rewrote a file: the test does not test it");
    println!("{cuts} cuts checked, {full_cuts} with writes and compaction, {compacted} files compacted");
}
