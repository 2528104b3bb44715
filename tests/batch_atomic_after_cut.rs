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

mod support;

use std::path::PathBuf;

use armdb::{CompactionConfig, Config, Db, Durability};

use support::{TreesModel, parse_entries, restore_dir, restore_dir_with_cut, snapshot_dir};

/// Keys written after recovery, above every key the batch touches.
const FRESH_BASE: u32 = 10_000;

fn config() -> Config {
    Config {
        shards: 3,
        max_file_size: 4096,
        durability: Durability::Flush,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        ..Config::default()
    }
}

type Model = TreesModel<u32, 16>;

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
    Model::read(db, "consts", "var")
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
    let files_before = snapshot_dir(&original);

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
    let mut pristine = snapshot_dir(&original);
    pristine.insert(PathBuf::from("MANIFEST"), manifest_at_crash);

    // Each shard's part: the bytes its active file grew by.
    // (file, part start, part end, the start of every entry of the part)
    let mut parts: Vec<(PathBuf, usize, usize, Vec<usize>)> = Vec::new();
    let mut batch_seq = None;
    for (rel, bytes) in &pristine {
        if !support::is_data_file(rel) {
            continue;
        }
        let old_bytes = files_before.get(rel).expect("the batch created no data file");
        assert!(bytes.starts_with(old_bytes), "{rel:?}: the batch only appends");
        let old = old_bytes.len();
        if bytes.len() == old {
            continue;
        }
        let entries = parse_entries(bytes, old);
        for e in &entries {
            let at = e.offset;
            assert_eq!(e.flags & 1, 1, "{rel:?} at {at}: a batch entry has the batch flag");
            assert_eq!(*batch_seq.get_or_insert(e.seq), e.seq, "{rel:?} at {at}: one seq per batch");
        }
        let marker = entries.last().expect("a part");
        assert_eq!(marker.tree, 0, "{rel:?}: the part ends with a marker at {}", marker.offset);
        parts.push((rel.clone(), old, bytes.len(), entries.iter().map(|e| e.offset).collect()));
    }
    assert_eq!(parts.len(), 3, "the batch touches every shard: {parts:?}");
    for (file, start, end, starts) in &parts {
        println!("batch seq {batch_seq:?}: {} bytes {start}..{end}, entries at {starts:?}", file.display());
    }

    let work = base.path().join("work");

    // Uncut: all of the batch.
    restore_dir(&work, &pristine);
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
            let full = !support::on_ci() || cut - whole_end <= 1 || next - cut == 1;
            let ctx = format!("{} cut at {cut} (part {start}..{end})", file.display());
            restore_dir_with_cut(&work, &pristine, file, cut);
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
