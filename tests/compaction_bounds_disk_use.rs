//! Continuous overwrite then `Db::compact` leaves at most twice the live bytes
//! plus one active file per shard, with every value correct (PITFALLS 10: a
//! compactor that copied dead entries forward and reclaimed nothing).

mod support;

use armdb::{CompactionConfig, Config, Db};

use support::data_bytes;

fn value(key: u32, round: u32) -> Vec<u8> {
    let mut v = vec![(key ^ round) as u8; 200];
    v[..4].copy_from_slice(&key.to_le_bytes());
    v[4..8].copy_from_slice(&round.to_le_bytes());
    v
}

#[test]
fn overwrite_then_compact_bounds_disk_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        shards: 2,
        max_file_size: 64 * 1024,
        compaction: CompactionConfig { interval: None, ..CompactionConfig::default() },
        ..Config::default()
    };
    let db = Db::open(dir.path(), config.clone()).expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    const KEYS: u32 = 2_000;
    const ROUNDS: u32 = 50;
    for round in 0..ROUNDS {
        for k in 0..KEYS {
            t.put(&k, &value(k, round)).expect("put");
        }
    }
    db.flush().expect("flush");
    let before = data_bytes(dir.path());
    let report = db.compact().expect("compact");
    let after = data_bytes(dir.path());
    // Live bytes: each key's entry (28-byte header + 4-byte key + 200-byte value, padded).
    let live = u64::from(KEYS) * 232;
    let active_allowance = 2 * 64 * 1024;
    println!("before {before} after {after} live {live} report {report:?}");
    assert!(report.files_compacted > 0, "{report:?}");
    assert!(after <= 2 * live + active_allowance, "after compaction {after} bytes for {live} live bytes");
    for k in 0..KEYS {
        assert_eq!(t.get(&k).expect("get").as_deref(), Some(&value(k, ROUNDS - 1)[..]), "key {k}");
    }
    drop(t);
    db.close().expect("close");
    let db = Db::open(dir.path(), config).expect("reopen");
    let t = db.var_tree::<u32>("t").expect("tree");
    assert_eq!(t.len(), KEYS as usize);
    for k in 0..KEYS {
        assert_eq!(
            t.get(&k).expect("get").as_deref(),
            Some(&value(k, ROUNDS - 1)[..]),
            "key {k} after reopen"
        );
    }
}
