//! `Durability::Flush` loses no acknowledged write when the process is killed
//! with SIGKILL (PITFALLS 7, 8).
//!
//! The test binary re-executes itself as a child (the `child_writer` test, active
//! only when `ARMDB_KILL9_DIR` is set) that writes keys 0, 1, 2, ... in order and
//! prints each key to stdout once its `put` has returned. The parent reads those
//! acknowledgements, kills the child after a random number of them, reopens the
//! database and checks that every acknowledged key is present with its value,
//! that the keys present are a prefix of the keys written (nothing that was never
//! written, no hole), and that the recovered database takes new writes. Rounds
//! alternate var and const trees, shard counts and file sizes (4 KiB files rotate
//! every few dozen writes). Guards against a Flush mode that leaves acknowledged
//! writes in a user-space buffer, and against recovery losing or inventing
//! entries at a kill-torn tail or across a rotation.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use armdb::{Config, Db, Durability};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const DEFAULT_SEED: u64 = 0x0C0D_0009;
const ROUNDS: u32 = 12;
/// The child stops by itself after this many keys, should the parent never kill it.
const CHILD_MAX_KEYS: u32 = 100_000;
/// Marks an acknowledgement on the child's stdout.
const ACK: &str = "armdb-ack ";

/// What one round's child does.
#[derive(Clone, Copy, Debug)]
struct Round {
    index: u32,
    var: bool,
    shards: usize,
    max_file_size: u64,
}

impl Round {
    fn new(index: u32) -> Self {
        Self {
            index,
            var: index.is_multiple_of(2),
            shards: 1 + (index as usize / 2) % 3,
            max_file_size: if index % 4 < 2 { 4096 } else { 1 << 20 },
        }
    }

    fn config(&self) -> Config {
        Config {
            shards: self.shards,
            max_file_size: self.max_file_size,
            durability: Durability::Flush,
            ..Config::default()
        }
    }

    fn var_value(&self, key: u32) -> Vec<u8> {
        let len = 8 + (key as usize * 37) % 150;
        let mut v = format!("r{}k{key}:", self.index).into_bytes();
        v.resize(len.max(v.len()), b'a' + (key % 26) as u8);
        v
    }

    fn const_value(&self, key: u32) -> [u8; 24] {
        let mut v = [0u8; 24];
        v[..4].copy_from_slice(&key.to_le_bytes());
        v[4..8].copy_from_slice(&self.index.to_le_bytes());
        v[8..16].copy_from_slice(&(u64::from(key) * 0x9E37_79B9 + 1).to_le_bytes());
        v[16..].copy_from_slice(&(!u64::from(key)).to_le_bytes());
        v
    }
}

/// The child: writes keys in order and acknowledges each one on stdout.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var("ARMDB_KILL9_DIR") else {
        return; // Not a child: nothing to do in an ordinary test run.
    };
    let index: u32 = std::env::var("ARMDB_KILL9_ROUND").expect("round").parse().expect("round number");
    let round = Round::new(index);
    let db = Db::open(&dir, round.config()).expect("child: open");
    let mut out = std::io::stdout().lock();
    let var = db.var_tree::<u32>("var").expect("child: var tree");
    let consts = db.const_tree::<u32, 24>("consts").expect("child: const tree");
    for key in 0..CHILD_MAX_KEYS {
        if round.var {
            var.put(&key, &round.var_value(key)).expect("child: put");
        } else {
            consts.put(&key, &round.const_value(key)).expect("child: put");
        }
        writeln!(out, "{ACK}{key}").expect("child: write ack");
        out.flush().expect("child: flush ack");
    }
}

/// Runs one round's child until it has acknowledged `acks` keys, then kills it.
fn run_child(dir: &Path, round: Round, acks: u32) {
    let exe = std::env::current_exe().expect("current test binary");
    let child = Command::new(exe)
        .args(["child_writer", "--exact", "--nocapture", "--test-threads", "1"])
        .env("ARMDB_KILL9_DIR", dir)
        .env("ARMDB_KILL9_ROUND", round.index.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let mut child = support::KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("child stdout");
    let mut seen = 0u32;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child stdout");
        // libtest may print its own text before the first acknowledgement on a line.
        let Some(at) = line.find(ACK) else { continue };
        let key = &line[at + ACK.len()..];
        let key: u32 = key.trim().parse().expect("acknowledged key");
        assert_eq!(key, seen, "round {}: acknowledgements arrive in key order", round.index);
        seen += 1;
        if seen == acks {
            break;
        }
    }
    assert_eq!(seen, acks, "round {}: the child stopped after {seen} acknowledgements", round.index);
    child.0.kill().expect("SIGKILL the child");
    let status = child.0.wait().expect("reap the child");
    assert!(!status.success(), "round {}: the child was killed, not finished: {status}", round.index);
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let mut rng = SmallRng::seed_from_u64(support::seed(DEFAULT_SEED));
    let base = tempfile::tempdir().expect("tempdir");
    let max_acks = if support::on_ci() { 300 } else { 800 };
    for index in 0..ROUNDS {
        let round = Round::new(index);
        let dir = base.path().join(format!("round-{index}"));
        // With 4 KiB files, at least ~6 KiB of entries per shard, so that files rotate.
        let min_acks = if round.max_file_size == 4096 { 120 * round.shards as u32 } else { 1 };
        let acks = rng.random_range(min_acks..=max_acks.max(min_acks));
        run_child(&dir, round, acks);

        let db = Db::open(&dir, round.config()).expect("open after the kill");
        let var = db.var_tree::<u32>("var").expect("var tree");
        let consts = db.const_tree::<u32, 24>("consts").expect("const tree");
        let present = if round.var {
            assert!(consts.is_empty(), "round {index}: the const tree was never written");
            let mut n = 0u32;
            for item in var.iter() {
                let (key, value) = item.expect("read a recovered value");
                assert_eq!(key, n, "round {index}: the keys present are not a prefix of the writes");
                assert_eq!(&value[..], &round.var_value(key)[..], "round {index}: value of key {key}");
                n += 1;
            }
            n
        } else {
            assert!(var.is_empty(), "round {index}: the var tree was never written");
            let mut n = 0u32;
            for (key, value) in consts.iter() {
                assert_eq!(key, n, "round {index}: the keys present are not a prefix of the writes");
                assert_eq!(value, round.const_value(key), "round {index}: value of key {key}");
                n += 1;
            }
            n
        };
        let report = db.stats().recovery;
        println!(
            "round {index} {round:?}: {acks} acknowledged, {present} recovered from {} files, {} torn bytes",
            report.files, report.truncated_bytes
        );
        assert!(present >= acks, "round {index}: {acks} writes acknowledged, {present} recovered");
        if round.max_file_size == 4096 {
            assert!(report.files > round.shards, "round {index}: the files never rotated");
        }

        // The recovered database takes new writes that survive a reopen.
        var.put(&u32::MAX, b"after the kill").expect("write after recovery");
        drop((var, consts));
        db.close().expect("close");
        let db = Db::open(&dir, round.config()).expect("reopen");
        let var = db.var_tree::<u32>("var").expect("var tree");
        assert_eq!(var.get(&u32::MAX).expect("get").as_deref(), Some(&b"after the kill"[..]));
    }
}
