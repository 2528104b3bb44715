//! Prefix scans over the leading fields of a composite key return exactly the
//! records with those fields, in key order forward and in reverse, including
//! negative leading values and the extreme values of the trailing fields; and
//! `range` over typed keys agrees with a `BTreeMap` model.
//!
//! Guards against prefix bounds that skip the smallest or largest trailing
//! value, a reverse scan that starts outside the prefix, and scans that leak
//! records of a neighbouring prefix.
//!
//! Reproduce a failure with the printed seed: `ARMDB_SEED=<seed> cargo test --test typed_prefix_scan`.

mod support;

use std::collections::BTreeMap;

use armdb::{Config, Db, Durability};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

const DEFAULT_SEED: u64 = 0x00A4_DB00_7E5E_0002;

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Event {
    #[key]
    account: i32,
    #[key]
    day: u16,
    #[key]
    seq: i64,
    body: String,
}

type Model = BTreeMap<(i32, u16, i64), String>;

fn ids(events: impl Iterator<Item = std::sync::Arc<Event>>) -> Vec<(i32, u16, i64)> {
    events.map(|e| (e.account, e.day, e.seq)).collect()
}

fn check(tree: &armdb::TypedTree<Event>, model: &Model, accounts: &[i32], when: &str) {
    for &a in accounts {
        let want: Vec<_> = model.keys().filter(|k| k.0 == a).copied().collect();
        let got = ids(tree.prefix(EventKey::prefix_account(a)));
        assert_eq!(got, want, "{when}: prefix_account({a}) forward");
        let got = ids(tree.prefix(EventKey::prefix_account(a)).rev());
        assert_eq!(
            got,
            want.iter().rev().copied().collect::<Vec<_>>(),
            "{when}: prefix_account({a}) reverse"
        );
        for day in [0u16, 1, 2, u16::MAX] {
            let want: Vec<_> = model.keys().filter(|k| (k.0, k.1) == (a, day)).copied().collect();
            let got = ids(tree.prefix(EventKey::prefix_account_day(a, day)));
            assert_eq!(got, want, "{when}: prefix_account_day({a}, {day}) forward");
            let got = ids(tree.prefix(EventKey::prefix_account_day(a, day)).rev());
            let rev: Vec<_> = want.iter().rev().copied().collect();
            assert_eq!(got, rev, "{when}: prefix_account_day({a}, {day}) reverse");
        }
    }
    // A range across the sign boundary of the first field, both directions.
    let lo = EventKey { account: -1, day: 0, seq: i64::MIN };
    let hi = EventKey { account: 1, day: u16::MAX, seq: i64::MAX };
    let want: Vec<_> = model.range((-1, 0, i64::MIN)..=(1, u16::MAX, i64::MAX)).map(|(k, _)| *k).collect();
    assert_eq!(ids(tree.range(lo..=hi)), want, "{when}: range forward");
    assert_eq!(
        ids(tree.range(lo..=hi).rev()),
        want.into_iter().rev().collect::<Vec<_>>(),
        "{when}: range reverse"
    );
}

#[test]
fn prefix_scans_match_the_model_in_both_directions() {
    let mut rng = SmallRng::seed_from_u64(support::seed(DEFAULT_SEED));
    let accounts = [i32::MIN, -2, -1, 0, 1, 2, i32::MAX];
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        Config { shards: 4, max_file_size: 16 << 10, durability: Durability::Flush, ..Config::default() };
    let mut model = Model::new();
    {
        let db = Db::open(dir.path(), config.clone()).expect("open");
        let tree = db.tree::<Event>().expect("tree");
        for i in 0..3_000u32 {
            let account = accounts[rng.random_range(0..accounts.len())];
            let day = [0u16, 1, 2, u16::MAX][rng.random_range(0..4)];
            let seq = match rng.random_range(0..4) {
                0 => i64::MIN,
                1 => i64::MAX,
                2 => rng.random_range(-5..5),
                _ => rng.random(),
            };
            let body = format!("e{i}");
            tree.put(&Event { account, day, seq, body: body.clone() }).expect("put");
            model.insert((account, day, seq), body);
            if i % 7 == 0 {
                let victim = *model.keys().nth(rng.random_range(0..model.len())).expect("non-empty");
                tree.delete(&EventKey { account: victim.0, day: victim.1, seq: victim.2 }).expect("delete");
                model.remove(&victim);
            }
        }
        check(&tree, &model, &accounts, "before reopen");
        drop(tree);
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), config).expect("reopen");
    let tree = db.tree::<Event>().expect("tree");
    assert_eq!(tree.len(), model.len());
    check(&tree, &model, &accounts, "after reopen");
    let bodies: Vec<String> = tree.iter().map(|e| e.body.clone()).collect();
    assert_eq!(bodies, model.values().cloned().collect::<Vec<_>>(), "records belong to their keys");
    drop(tree);
    db.close().expect("close");
}
