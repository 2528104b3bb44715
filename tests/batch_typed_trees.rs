//! Batches over typed trees, together with byte trees: puts and deletes land
//! together, secondary indexes follow, and a unique-index conflict anywhere in
//! the batch refuses all of it with nothing written — before and after reopen.
//!
//! Guards against a batch that applies the operations before the conflicting
//! one, claims a unique value it then never writes, or forgets index updates;
//! and against a large batch of an index-less typed tree (applied in key
//! ranges on several threads) that loses, duplicates or misplaces a record.

use armdb::{Config, Db, Durability, Error};
use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "users")]
struct User {
    #[key]
    tenant: u32,
    #[key]
    id: u64,
    #[index(unique)]
    email: String,
    #[index]
    country: String,
}

/// A record with no secondary index: its batches apply on several threads.
#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "events")]
struct Event {
    #[key]
    id: u64,
    body: Vec<u8>,
}

fn event(id: u64, round: u8) -> Event {
    Event { id, body: vec![round; (id % 40) as usize] }
}

fn user(tenant: u32, id: u64, email: &str, country: &str) -> User {
    User { tenant, id, email: email.into(), country: country.into() }
}

fn config() -> Config {
    Config { shards: 3, durability: Durability::Flush, ..Config::default() }
}

#[test]
fn typed_batch_commits_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), config()).expect("open");
        let users = db.tree::<User>().expect("users");
        let audit = db.var_tree::<u64>("audit").expect("audit");
        users.put(&user(1, 1, "a@x", "de")).expect("put");

        let mut b = db.batch();
        b.put(&users, &user(1, 2, "b@x", "fr"));
        b.put(&users, &user(2, 1, "c@x", "de"));
        b.delete(&users, &UserKey { tenant: 1, id: 1 });
        b.put_var(&audit, &1, b"created two, deleted one");
        b.commit().expect("commit");

        assert_eq!(users.len(), 2);
        assert!(users.get(&UserKey { tenant: 1, id: 1 }).expect("get").is_none());
        assert!(users.get_by(User::by_email(), "a@x").expect("get_by").is_none(), "deleted value freed");
        assert_eq!(users.get_by(User::by_email(), "b@x").expect("get_by").map(|u| u.id), Some(2));
        assert_eq!(users.find_by(User::by_country(), "de").count(), 1);

        // "b@x" is taken by (1, 2): the whole batch is refused.
        let writes_before = db.stats().writes;
        let mut b = db.batch();
        b.put(&users, &user(3, 1, "new@x", "it"));
        b.put_var(&audit, &2, b"never");
        b.put(&users, &user(3, 2, "b@x", "it"));
        match b.commit() {
            Err(Error::UniqueViolation { index, .. }) => assert_eq!(index, "email"),
            other => panic!("expected a unique violation, got {other:?}"),
        }
        assert_eq!(db.stats().writes, writes_before, "a refused batch appends nothing");
        assert!(users.get(&UserKey { tenant: 3, id: 1 }).expect("get").is_none());
        assert!(users.get_by(User::by_email(), "new@x").expect("get_by").is_none(), "claim released");
        assert!(audit.get(&2).expect("get").is_none());
        // The released value can be taken by a later write.
        users.put(&user(4, 1, "new@x", "it")).expect("value is free again");
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), config()).expect("reopen");
    let users = db.tree::<User>().expect("users");
    let audit = db.var_tree::<u64>("audit").expect("audit");
    let mut ids: Vec<(u32, u64)> = users.iter().map(|u| (u.tenant, u.id)).collect();
    ids.sort_unstable();
    assert_eq!(ids, [(1, 2), (2, 1), (4, 1)]);
    assert_eq!(audit.get(&1).expect("get").as_deref(), Some(&b"created two, deleted one"[..]));
    assert!(audit.get(&2).expect("get").is_none());
    assert_eq!(users.get_by(User::by_email(), "new@x").expect("get_by").map(|u| u.tenant), Some(4));
}

#[test]
fn large_batches_of_an_index_less_typed_tree_apply_every_operation() {
    // Above the 512 writes from which index-less trees apply on several threads.
    const N: u64 = 3_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let expected: std::collections::BTreeMap<u64, Event> = {
        let db = Db::open(dir.path(), config()).expect("open");
        let events = db.tree::<Event>().expect("events");
        let audit = db.var_tree::<u64>("audit").expect("audit");
        let mut b = db.batch();
        for id in 0..N {
            b.put(&events, &event(id, 1));
            b.put_var(&audit, &id, b"put");
        }
        b.commit().expect("first batch");
        // Overwrite the even keys, delete every third, add new keys.
        let mut b = db.batch();
        for id in (0..N).step_by(2) {
            b.put(&events, &event(id, 2));
        }
        for id in (0..N).step_by(3) {
            b.delete(&events, &id);
        }
        for id in N..N + 600 {
            b.put(&events, &event(id, 3));
        }
        b.commit().expect("second batch");
        let mut model = std::collections::BTreeMap::new();
        for id in 0..N + 600 {
            let round = if id >= N {
                3
            } else if id % 2 == 0 {
                2
            } else {
                1
            };
            // The delete of a key comes after its overwrite in the batch: it wins.
            if id < N && id % 3 == 0 {
                continue;
            }
            model.insert(id, event(id, round));
        }
        let got: Vec<Event> = events.iter().map(|e| (*e).clone()).collect();
        assert_eq!(got, model.values().cloned().collect::<Vec<_>>(), "after the batches");
        assert_eq!(events.len(), model.len());
        assert_eq!(audit.len(), N as usize);
        db.close().expect("close");
        model
    };
    let db = Db::open(dir.path(), config()).expect("reopen");
    let events = db.tree::<Event>().expect("events");
    let got: Vec<Event> = events.iter().map(|e| (*e).clone()).collect();
    assert_eq!(got, expected.values().cloned().collect::<Vec<_>>(), "after reopen");
    for (id, e) in &expected {
        assert_eq!(events.get(id).expect("get").as_deref(), Some(e), "get {id}");
    }
}
