//! Criterion micro-benchmarks of armdb's hot paths: entry encode and decode
//! (every write and every disk read), a point get through the keydir and
//! through the skiplist alone, a `VarTree` get served by the value cache, a
//! typed get, and a buffered put.
//!
//! `cargo bench -p armdb-bench --bench hot_paths`. Keys are the comparative
//! benchmark's 24-byte keys with 150-byte values; trees hold 100,000 of them,
//! so the indexes outgrow the L2 cache but not the L3 of a typical machine.

use std::hint::black_box;
use std::time::Duration;

use armdb::{Config, ConstTree, Db, Durability, TypedTree, VarTree};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

const KEYS: u64 = 100_000;
const VALUE_LEN: usize = 150;

fn key(i: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    k[8..16].copy_from_slice(&i.to_le_bytes());
    k
}

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug)]
#[tree(name = "records")]
struct Rec {
    #[key]
    id: u64,
    #[index]
    group: u32,
    body: String,
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    consts: ConstTree<[u8; 24], VALUE_LEN>,
    var: VarTree<[u8; 24]>,
    typed: TypedTree<Rec>,
}

fn fixture(keydir: bool) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Config {
        keydir,
        durability: Durability::Buffered { flush_every: Duration::from_millis(10) },
        ..Config::default()
    };
    let db = Db::open(dir.path(), config).expect("open");
    let consts = db.const_tree::<[u8; 24], VALUE_LEN>("consts").expect("const tree");
    let var = db.var_tree::<[u8; 24]>("var").expect("var tree");
    let typed = db.tree::<Rec>().expect("typed tree");
    let mut batch = db.batch();
    for i in 0..KEYS {
        batch.put_const(&consts, &key(i), &[i as u8; VALUE_LEN]);
        batch.put_var(&var, &key(i), &[i as u8; VALUE_LEN]);
        batch.put(&typed, &Rec { id: i, group: (i % 100) as u32, body: "x".repeat(40) });
    }
    batch.commit().expect("load");
    db.flush().expect("flush");
    Fixture { _dir: dir, db, consts, var, typed }
}

fn entries(c: &mut Criterion) {
    let k = key(7);
    let v = [3u8; VALUE_LEN];
    let mut out = Vec::with_capacity(256);
    c.bench_function("entry/encode", |b| {
        b.iter(|| {
            out.clear();
            armdb::__bench::encode_entry(&mut out, black_box(42), 1, &k, black_box(&v));
        });
    });
    out.clear();
    armdb::__bench::encode_entry(&mut out, 42, 1, &k, &v);
    c.bench_function("entry/decode", |b| b.iter(|| armdb::__bench::decode_entry(black_box(&out))));
}

fn reads(c: &mut Criterion) {
    for keydir in [true, false] {
        let f = fixture(keydir);
        let name = if keydir { "keydir" } else { "skiplist" };
        let mut i = 0u64;
        c.bench_function(&format!("const_get/{name}"), |b| {
            b.iter(|| {
                i = (i + 7919) % KEYS;
                black_box(f.consts.get(&key(i)))
            });
        });
        if !keydir {
            continue;
        }
        for j in 0..KEYS {
            f.var.get(&key(j)).expect("warm the cache");
        }
        c.bench_function("var_get/cache_hit", |b| {
            b.iter(|| {
                i = (i + 7919) % KEYS;
                black_box(f.var.get(&key(i)).expect("get"))
            });
        });
        c.bench_function("typed_get", |b| {
            b.iter(|| {
                i = (i + 7919) % KEYS;
                black_box(f.typed.get(&i).expect("get"))
            });
        });
        c.bench_function("const_put/buffered", |b| {
            b.iter_batched(
                || {
                    i = (i + 7919) % KEYS;
                    key(i)
                },
                |k| f.consts.put(&k, &[1u8; VALUE_LEN]).expect("put"),
                BatchSize::SmallInput,
            );
        });
        drop(f.db);
    }
}

criterion_group! {
    name = hot_paths;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = entries, reads
}
criterion_main!(hot_paths);
