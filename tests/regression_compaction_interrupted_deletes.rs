//! A crash while a compaction pass deletes its old files must not bring back a
//! deleted key. Found in review: one pass can drop a tombstone and the older put
//! it hides when both sit in rewritten files; if the put's file survives the
//! crash and the tombstone's does not, the key came back. The pass now lists the
//! files in the MANIFEST before deleting any, and an open finishes the list.
//!
//! The crash is staged: after the pass, the put's file is put back and the
//! MANIFEST is rewritten to list both files as retiring, which is what the disk
//! holds when a crash stops the deletions between the two unlinks.

mod support;

use std::path::Path;

use armdb::{CompactionConfig, Config, Db};

fn config() -> Config {
    Config {
        shards: 1,
        max_file_size: 4096,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        ..Config::default()
    }
}

/// The MANIFEST as it was, with `retiring` listing `files` of shard 0.
fn manifest_with_retiring(root: &Path, files: &[u32]) {
    let path = root.join("MANIFEST");
    let bytes = std::fs::read(&path).expect("read MANIFEST");
    let dropped = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    assert_eq!(u32::from_le_bytes(bytes[32..36].try_into().expect("4 bytes")), 0, "nothing retiring");
    let mut out = bytes[..40 + 8 * dropped].to_vec();
    out[32..36].copy_from_slice(&(files.len() as u32).to_le_bytes());
    for &file in files {
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&file.to_le_bytes());
    }
    let crc = support::crc32(&[&out]);
    out.extend_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, out).expect("write MANIFEST");
}

/// 60 entries of 48 bytes: they and a few more fit one 4 KiB file, so each
/// compaction writes one output and seals one active file.
fn fill(t: &armdb::ConstTree<u32, 16>, from: u32) {
    for k in from..from + 60 {
        t.put(&k, &[1; 16]).expect("fill");
    }
}

#[test]
fn deleted_key_stays_deleted_when_deletions_are_cut_short() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let shard = root.join("shard-000");
    let db = Db::open(root, config()).expect("open");
    let t = db.const_tree::<u32, 16>("t").expect("tree");
    t.put(&1, &[7; 16]).expect("put");
    fill(&t, 1_000);
    t.put(&1_000, &[2; 16]).expect("overwrite, so the first file has garbage");
    db.compact().expect("first compaction copies the put into a compacted file");
    t.delete(&1).expect("delete");
    fill(&t, 2_000);
    let before: Vec<_> = support::data_files(root);
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> =
        before.iter().map(|p| (p.clone(), std::fs::read(p).expect("read"))).collect();
    let report = db.compact().expect("second compaction drops the tombstone and the put");
    assert!(report.tombstones_dropped >= 1, "the scenario needs the tombstone dropped: {report:?}");
    let gone: Vec<_> = saved.iter().filter(|(p, _)| !p.exists()).collect();
    assert!(gone.len() >= 2, "the pass should have rewritten several files: {gone:?}");
    drop(t);
    drop(db);

    // Files are deleted in id order: the crash came after the first unlink.
    // Put the others back and list them all as retiring, as the MANIFEST did.
    let mut ids = Vec::new();
    for (i, (path, bytes)) in gone.iter().enumerate() {
        if i > 0 {
            std::fs::write(path, bytes).expect("restore");
        }
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
        ids.push(name.parse::<u32>().expect("file id"));
    }
    manifest_with_retiring(root, &ids);

    let db = Db::open(root, config()).expect("reopen");
    let t = db.const_tree::<u32, 16>("t").expect("tree");
    assert_eq!(t.get(&1), None, "the deleted key came back");
    assert_eq!(t.get(&1_000), Some([2; 16]));
    for (path, _) in &gone {
        assert!(!path.exists(), "{} should have been deleted on open", path.display());
    }
    assert!(shard.exists());
}
