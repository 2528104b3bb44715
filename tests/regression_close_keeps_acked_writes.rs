//! `Db::close` while another handle keeps writing loses no acknowledged write.
//! Found in review: a writer could pass the health check of a shard that close
//! had already synced, and its buffered entry was never written. Close now
//! stops every writer (all shard locks) before it flushes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use armdb::{Config, Db, Durability, Error};

#[test]
fn writes_acknowledged_before_close_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        shards: 16,
        durability: Durability::Buffered { flush_every: Duration::from_secs(3600) },
        ..Config::default()
    };
    let db = Db::open(dir.path(), config.clone()).expect("open");
    let t = db.var_tree::<u32>("t").expect("tree");
    let acked = AtomicU32::new(0);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for k in 0u32.. {
                match t.put(&k, &k.to_le_bytes()) {
                    Ok(()) => acked.store(k + 1, Ordering::Release),
                    Err(Error::Closed) => return,
                    Err(e) => panic!("put {k}: {e}"),
                }
            }
        });
        // Close once the writer is well under way.
        while acked.load(Ordering::Acquire) < 5_000 {
            std::thread::yield_now();
        }
        db.clone().close().expect("close");
        writer.join().expect("writer");
    });
    let acked = acked.load(Ordering::Acquire);
    drop(t);
    drop(db);
    let db = Db::open(dir.path(), config).expect("reopen");
    let t = db.var_tree::<u32>("t").expect("tree");
    let missing: Vec<u32> = (0..acked).filter(|k| !t.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "{} of {acked} acknowledged writes lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}
