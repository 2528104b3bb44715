//! The main demo: writes and reads 1,000,000 entries across two trees, reopens
//! the database and prints what it did, with timings and `Db::stats()`.
//!
//! `cargo run --release --example demo [-- DIR]` (default: ./armdb-demo-data,
//! removed and recreated on every run).

use std::time::Instant;

use armdb::{Config, Db, Stats};

const ACCOUNTS: u64 = 500_000;
const EVENTS: u64 = 500_000;

fn event_key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&(i % 1_000).to_be_bytes()); // user id: events group by user
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn event_value(i: u64) -> Vec<u8> {
    format!("{{\"event\":{i},\"kind\":\"page_view\",\"path\":\"/items/{}\"}}", i * 7 % 10_007).into_bytes()
}

fn rate(n: u64, t: Instant) -> String {
    let s = t.elapsed().as_secs_f64();
    format!("{:>8.3} s  {:>10.0} ops/s", s, n as f64 / s)
}

fn print_stats(s: &Stats) {
    println!(
        "  stats: {} shards, {} trees, {} keys, {} files, {:.1} MiB on disk, {} writes, {} fsyncs",
        s.shards,
        s.trees,
        s.keys,
        s.files,
        s.disk_bytes as f64 / (1 << 20) as f64,
        s.writes,
        s.fsyncs
    );
    let r = &s.recovery;
    println!(
        "  recovery: {} files, {:.1} MiB, {} entries, {} truncated bytes, {} corrupt entries, {:?}",
        r.files,
        r.bytes as f64 / (1 << 20) as f64,
        r.entries,
        r.truncated_bytes,
        r.corrupt_entries,
        r.duration
    );
}

fn main() -> armdb::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "armdb-demo-data".into());
    if std::path::Path::new(&dir).exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| armdb::Error::InvalidArgument(format!("remove {dir}: {e}")))?;
    }
    let config = Config::default();
    println!("armdb demo in ./{dir} ({} shards, durability {:?})", config.shards, config.durability);

    let db = Db::open(&dir, config.clone())?;
    let balances = db.const_tree::<u64, 16>("balances")?; // account id -> (balance, version)
    let events = db.var_tree::<[u8; 16]>("events")?; // (user, event id) -> JSON

    let t = Instant::now();
    for id in 0..ACCOUNTS {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&(id * 100).to_le_bytes());
        balances.put(&id, &v)?;
    }
    println!("put {ACCOUNTS} balances (const tree)      {}", rate(ACCOUNTS, t));

    let t = Instant::now();
    for i in 0..EVENTS {
        events.put(&event_key(i), &event_value(i))?;
    }
    println!("put {EVENTS} events (var tree)           {}", rate(EVENTS, t));

    let t = Instant::now();
    db.sync()?;
    println!("sync                                 {:>8.3} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mut total = 0u64;
    for id in 0..ACCOUNTS {
        let v = balances
            .get(&id)
            .ok_or_else(|| armdb::Error::InvalidArgument(format!("account {id} missing")))?;
        total += u64::from_le_bytes(v[..8].try_into().unwrap_or_default());
    }
    println!("get {ACCOUNTS} balances                   {}  (sum {total})", rate(ACCOUNTS, t));

    let t = Instant::now();
    for i in 0..EVENTS {
        let v = events.get(&event_key(i))?;
        if v.as_deref() != Some(&event_value(i)[..]) {
            return Err(armdb::Error::InvalidArgument(format!("event {i} read back wrong")));
        }
    }
    println!("get {EVENTS} events (checked)            {}", rate(EVENTS, t));

    let t = Instant::now();
    let prefix = armdb::Prefix::<[u8; 16]>::from_bytes(&42u64.to_be_bytes())?;
    let user_events = events.prefix(prefix).collect::<armdb::Result<Vec<_>>>()?;
    println!(
        "prefix scan of user 42: {} events   {:>8.3} ms",
        user_events.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    print_stats(&db.stats());
    drop((balances, events));
    db.close()?;

    let t = Instant::now();
    let db = Db::open(&dir, config)?;
    let opened = t.elapsed();
    let balances = db.const_tree::<u64, 16>("balances")?;
    let events = db.var_tree::<[u8; 16]>("events")?;
    println!(
        "reopen: recovery {:.3} s, trees indexed {:.3} s total; {} balances, {} events",
        opened.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        balances.len(),
        events.len()
    );
    let last = events.last()?.map(|(k, _)| u64::from_be_bytes(k[8..].try_into().unwrap_or_default()));
    println!("last event key after reopen: {last:?}");
    print_stats(&db.stats());
    db.close()
}
