//! The main demo: writes and reads 1,000,000 records across two typed trees
//! (`#[derive(armdb::Tree)]`), looks them up through secondary indexes and
//! prefix scans, reopens the database and prints what it did, with timings and
//! `Db::stats()`.
//!
//! `cargo run --release --example demo [-- DIR]` (default: ./armdb-demo-data,
//! removed and recreated on every run).

use std::time::Instant;

use armdb::{Config, Db, Stats};
use serde::{Deserialize, Serialize};

const ACCOUNTS: u64 = 500_000;
const EVENTS: u64 = 500_000;

/// An account, keyed by id, findable by email (unique) and by region.
#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "accounts")]
struct Account {
    #[key]
    id: u64,
    #[index(unique)]
    email: String,
    #[index]
    region: u8,
    balance: i64,
}

/// An event, keyed by (user, event id) so that a user's events are one prefix.
#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "events")]
struct Event {
    #[key]
    user: u64,
    #[key]
    id: u64,
    #[index]
    kind: String,
    path: String,
}

fn account(id: u64) -> Account {
    Account { id, email: format!("user{id}@example.com"), region: (id % 16) as u8, balance: id as i64 * 100 }
}

fn event(i: u64) -> Event {
    let kind = match i % 10 {
        0 => "purchase",
        1..=3 => "click",
        _ => "page_view",
    };
    Event { user: i % 1_000, id: i, kind: kind.into(), path: format!("/items/{}", i * 7 % 10_007) }
}

fn rate(n: u64, t: Instant) -> String {
    let s = t.elapsed().as_secs_f64();
    format!("{:>8.3} s  {:>10.0} ops/s", s, n as f64 / s)
}

fn millis(t: Instant) -> String {
    format!("{:>8.3} ms", t.elapsed().as_secs_f64() * 1e3)
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
        "  recovery: {} files ({} from hints), {:.1} MiB, {} entries, {} truncated bytes, {} corrupt entries, {:?}",
        r.files,
        r.hint_files,
        r.bytes as f64 / (1 << 20) as f64,
        r.entries,
        r.truncated_bytes,
        r.corrupt_entries,
        r.duration
    );
}

fn missing(what: String) -> armdb::Error {
    armdb::Error::InvalidArgument(what)
}

fn main() -> armdb::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "armdb-demo-data".into());
    if std::path::Path::new(&dir).exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| missing(format!("remove {dir}: {e}")))?;
    }
    // 16 MiB files, so that the data spans several sealed files with hints.
    let config = Config { max_file_size: 16 << 20, ..Config::default() };
    println!(
        "armdb demo in ./{dir} ({} shards, {} MiB files, durability {:?})",
        config.shards,
        config.max_file_size >> 20,
        config.durability
    );

    let db = Db::open(&dir, config.clone())?;
    let accounts = db.tree::<Account>()?;
    let events = db.tree::<Event>()?;

    let t = Instant::now();
    for id in 0..ACCOUNTS {
        accounts.put(&account(id))?;
    }
    println!("put {ACCOUNTS} accounts (2 indexes)      {}", rate(ACCOUNTS, t));

    let t = Instant::now();
    for i in 0..EVENTS {
        events.put(&event(i))?;
    }
    println!("put {EVENTS} events (1 index)          {}", rate(EVENTS, t));

    let t = Instant::now();
    db.sync()?;
    println!("sync                                 {:>8.3} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mut total = 0i64;
    for id in 0..ACCOUNTS {
        total += accounts.get(&id)?.ok_or_else(|| missing(format!("account {id} missing")))?.balance;
    }
    println!("get {ACCOUNTS} accounts                   {}  (sum {total})", rate(ACCOUNTS, t));

    let t = Instant::now();
    for i in 0..EVENTS {
        let e = event(i);
        if events.get(&EventKey { user: e.user, id: e.id })?.as_deref() != Some(&e) {
            return Err(missing(format!("event {i} read back wrong")));
        }
    }
    println!("get {EVENTS} events (checked)            {}", rate(EVENTS, t));

    let t = Instant::now();
    let mut email = String::new();
    for id in 0..ACCOUNTS {
        email.clear();
        std::fmt::Write::write_fmt(&mut email, format_args!("user{id}@example.com"))
            .map_err(|e| missing(e.to_string()))?;
        let a = accounts.get_by(Account::by_email(), email.as_str())?;
        if a.map(|a| a.id) != Some(id) {
            return Err(missing(format!("account {id} not found by email")));
        }
    }
    println!("get_by email {ACCOUNTS} accounts          {}", rate(ACCOUNTS, t));

    let t = Instant::now();
    let user_events: Vec<_> = events.prefix(EventKey::prefix_user(42)).collect();
    let newest = events.prefix(EventKey::prefix_user(42)).next_back().map(|e| e.id);
    println!("prefix scan of user 42: {} events, newest {newest:?}   {}", user_events.len(), millis(t));

    let t = Instant::now();
    let purchases = events.find_by(Event::by_kind(), "purchase").count();
    println!("find_by kind = purchase: {purchases} events   {}", millis(t));
    let t = Instant::now();
    let region7 = accounts.find_by(Account::by_region(), &7).count();
    println!("find_by region = 7: {region7} accounts       {}", millis(t));

    print_stats(&db.stats());
    drop((accounts, events));
    db.close()?;

    reopen(&dir, &config, "with hint files")?;
    reopen(&dir, &config, "with hint files again")?;
    let removed = remove_hints(&dir)?;
    reopen(&dir, &config, &format!("without hint files ({removed} removed): every file scanned"))
}

/// Reopens the database, opens both trees and checks a few records.
fn reopen(dir: &str, config: &Config, how: &str) -> armdb::Result<()> {
    let t = Instant::now();
    let db = Db::open(dir, config.clone())?;
    let opened = t.elapsed();
    let accounts = db.tree::<Account>()?;
    let events = db.tree::<Event>()?;
    println!(
        "reopen {how}: recovery {:.3} s, trees decoded and indexed {:.3} s total; {} accounts, {} events",
        opened.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        accounts.len(),
        events.len()
    );
    let last = events.last().map(|e| (e.user, e.id));
    let found = accounts.get_by(Account::by_email(), "user499999@example.com")?.map(|a| a.id);
    println!("  last event key: {last:?}; user499999@example.com is account {found:?}");
    print_stats(&db.stats());
    drop((accounts, events));
    db.close()
}

/// Deletes every hint file, so the next open scans every data file.
fn remove_hints(dir: &str) -> armdb::Result<usize> {
    let io = |e: std::io::Error| armdb::Error::InvalidArgument(format!("remove hints in {dir}: {e}"));
    let mut removed = 0;
    for shard in std::fs::read_dir(dir).map_err(io)? {
        let shard = shard.map_err(io)?.path();
        if !shard.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&shard).map_err(io)? {
            let f = f.map_err(io)?.path();
            if f.extension().is_some_and(|e| e == "hint") {
                std::fs::remove_file(&f).map_err(io)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
