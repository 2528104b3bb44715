//! A reopened database makes the directory entries of the files it recovered
//! durable before it relies on them: an acknowledged `Sync` write, and
//! everything a successful `Db::sync` covered, survive a power cut.
//!
//! Found by `model_state_machine`. A session creates a shard's new active file
//! (a rotation, or `Db::compact` sealing the active file) and ends without
//! `close` (a process crash, or a drop), so the new file's name was never made
//! durable by an fsync of the shard directory. The reopened session starts
//! with a clean "directory dirty" flag, so neither a `Sync` write into that
//! file nor `Db::sync` nor `Db::close` fsyncs the directory: a power cut then
//! removes the file, and every write in it, acknowledged or synced.
//!
//! Pass criterion: no key the reopened database acknowledged (`Sync`) or
//! served before a successful `sync` is missing after the power cut.

use std::sync::Arc;

use armdb::fs::{Loss, SimFs};
use armdb::{Config, Db, Durability};

const ROOT: &str = "/db";

fn config(sim: &SimFs, durability: Durability) -> Config {
    Config { shards: 1, max_file_size: 4096, durability, fs: Arc::new(sim.clone()), ..Config::default() }
}

/// Cuts the power under an open database, restarts keeping only what was
/// fsynced, and returns the keys of `0..n` that are missing.
fn missing_after_power_cut(sim: &SimFs, db: Db, t: armdb::VarTree<u32>, n: u32) -> Vec<u32> {
    sim.cut_power();
    drop(t);
    drop(db);
    sim.restart(Loss::DropUnsynced);
    let db = Db::open(ROOT, config(sim, Durability::Sync)).expect("open after the power cut");
    let t = db.var_tree::<u32>("t").expect("tree");
    let missing = (0..n).filter(|k| !t.contains(k)).collect();
    drop(t);
    db.close().expect("close");
    missing
}

/// `Durability::Sync`: `Db::compact` seals the active file and starts a new
/// one; the process ends without `close`; after the reopen a `Sync` write goes
/// to that new file and is acknowledged; a power cut loses it.
#[test]
fn sync_write_after_reopen_survives_a_power_cut() {
    let sim = SimFs::new();
    {
        let db = Db::open(ROOT, config(&sim, Durability::Sync)).expect("open");
        let t = db.var_tree::<u32>("t").expect("tree");
        t.put(&0, b"zero").expect("put");
        db.compact().expect("compact: seals the active file, creates the next one");
        drop(t);
        drop(db); // no close
    }
    let db = Db::open(ROOT, config(&sim, Durability::Sync)).expect("reopen");
    let t = db.var_tree::<u32>("t").expect("tree");
    t.put(&1, b"one").expect("put: acknowledged after an fsync");
    let missing = missing_after_power_cut(&sim, db, t, 2);
    assert!(missing.is_empty(), "acknowledged Sync writes {missing:?} were lost in a power cut");
}

/// `Durability::Flush`: writes rotate the file; the process ends without
/// `close`; the reopened database serves every write and `Db::sync` returns
/// `Ok`; a power cut loses the writes of the file the first session created.
#[test]
fn db_sync_after_reopen_covers_what_the_previous_session_wrote() {
    let sim = SimFs::new();
    let mut n = 0u32;
    {
        let db = Db::open(ROOT, config(&sim, Durability::Flush)).expect("open");
        let t = db.var_tree::<u32>("t").expect("tree");
        // Until the shard has rotated once, then one more write into the new file.
        while db.stats().files < 2 {
            t.put(&n, &[7; 200]).expect("put");
            n += 1;
        }
        t.put(&n, &[7; 200]).expect("put");
        n += 1;
        drop(t);
        drop(db); // no close: the bytes reach the OS, nothing is fsynced
    }
    let db = Db::open(ROOT, config(&sim, Durability::Flush)).expect("reopen");
    let t = db.var_tree::<u32>("t").expect("tree");
    assert_eq!(t.len(), n as usize, "the reopened database serves every write");
    db.sync().expect("sync");
    let missing = missing_after_power_cut(&sim, db, t, n);
    assert!(
        missing.is_empty(),
        "keys {missing:?} of 0..{n} were served and synced, then lost in a power cut"
    );
}
