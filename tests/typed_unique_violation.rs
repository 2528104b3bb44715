//! A write that would give two records the same value of a unique index is
//! `Error::UniqueViolation` naming the tree, the index and the value, and
//! writes nothing: no log entry, no change to the record, to either index or
//! to the value's holder, before and after a reopen. Changing or deleting a
//! record frees its old value; `None` values never conflict; rewriting a
//! record with its own value is not a conflict.
//!
//! Guards against a rejected write that still appends (and reappears after a
//! reopen), a conflict check that ignores `insert`/`update`/`cas`, values that
//! stay claimed after their record moved on, and a record conflicting with itself.

use armdb::{Config, Db, Durability, Error, TypedTree};
use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "accounts")]
struct Account {
    #[key]
    id: u32,
    #[index(unique)]
    email: String,
    #[index(unique)]
    handle: Option<String>,
    #[index]
    plan: u8,
}

fn account(id: u32, email: &str, handle: Option<&str>) -> Account {
    Account { id, email: email.into(), handle: handle.map(str::to_owned), plan: (id % 3) as u8 }
}

fn config() -> Config {
    Config { shards: 4, durability: Durability::Flush, ..Config::default() }
}

#[track_caller]
fn assert_violation<T: std::fmt::Debug>(result: armdb::Result<T>, index: &str, value: &str, what: &str) {
    match result {
        Err(e @ Error::UniqueViolation { .. }) => {
            let message = e.to_string();
            let Error::UniqueViolation { tree, index: got_index, value: got_value, .. } = e else {
                unreachable!()
            };
            assert_eq!((tree.as_str(), got_index.as_str()), ("accounts", index), "{what}");
            assert!(got_value.contains(value), "{what}: value {got_value:?} names {value:?}");
            for part in ["accounts", index, value, "nothing was written"] {
                assert!(message.contains(part), "{what}: message {message:?} lacks {part:?}");
            }
        }
        other => panic!("{what}: expected Error::UniqueViolation, got {other:?}"),
    }
}

/// What a rejected write must leave untouched.
fn state(db: &Db, t: &TypedTree<Account>) -> (u64, Vec<Account>, Vec<(String, u32)>) {
    let records: Vec<Account> = t.iter().map(|a| (*a).clone()).collect();
    let holders = records
        .iter()
        .map(|a| {
            let holder = t.get_by(Account::by_email(), &a.email).expect("get_by").expect("held");
            (a.email.clone(), holder.id)
        })
        .collect();
    (db.stats().next_seq, records, holders)
}

#[test]
fn a_unique_conflict_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    let t = db.tree::<Account>().expect("tree");
    t.put(&account(1, "a@x", Some("ann"))).expect("put");
    t.put(&account(2, "b@x", None)).expect("put");
    let before = state(&db, &t);

    assert_violation(t.put(&account(3, "a@x", None)), "email", "a@x", "put of a new key");
    assert_violation(t.put(&account(2, "a@x", None)), "email", "a@x", "put over another key");
    assert_violation(t.insert(&account(3, "b@x", None)), "email", "b@x", "insert");
    assert_violation(t.put(&account(3, "c@x", Some("ann"))), "handle", "ann", "second unique index");
    assert_violation(
        t.update(&2, |cur| Some(Account { email: "a@x".into(), ..cur.expect("present").clone() })),
        "email",
        "a@x",
        "update",
    );
    let two = t.get(&2).expect("get").expect("present");
    assert_violation(t.cas(&2, Some(&two), Some(&account(2, "a@x", None))), "email", "a@x", "cas");
    assert_eq!(state(&db, &t), before, "rejected writes changed something");
    assert!(!t.contains(&3));
    let plan0: Vec<u32> = t.find_by(Account::by_plan(), &0).map(|a| a.id).collect();
    assert!(plan0.is_empty(), "no index entry for the rejected record 3: {plan0:?}");

    // The claims of a rejected write are released: a value it claimed before
    // hitting the conflict ("c@x", claimed before "ann" failed) is free.
    t.put(&account(3, "c@x", None)).expect("c@x was released");
    t.delete(&3).expect("delete");
    let before = state(&db, &t);

    drop(t);
    db.close().expect("close");
    let db = Db::open(dir.path(), config()).expect("reopen");
    let t = db.tree::<Account>().expect("tree");
    assert_eq!(state(&db, &t).1, before.1, "after reopen");
    assert_eq!(state(&db, &t).2, before.2, "after reopen");
    assert_violation(t.put(&account(9, "b@x", None)), "email", "b@x", "after reopen, from the rebuilt index");
    drop(t);
    db.close().expect("close");
}

#[test]
fn changed_and_deleted_records_free_their_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    let t = db.tree::<Account>().expect("tree");
    t.put(&account(1, "old@x", Some("h1"))).expect("put");
    t.put(&account(1, "old@x", Some("h1"))).expect("rewriting a record with its own values is no conflict");
    t.put(&account(1, "new@x", Some("h1"))).expect("change email");
    assert_eq!(t.get_by(Account::by_email(), "old@x").expect("get_by"), None, "old value is free");
    assert_eq!(t.get_by(Account::by_email(), "new@x").expect("get_by").map(|a| a.id), Some(1));
    t.put(&account(2, "old@x", None)).expect("another record takes the freed value");

    t.delete(&1).expect("delete");
    t.put(&account(3, "new@x", Some("h1"))).expect("a deleted record's values are free");
    assert_eq!(t.get_by(Account::by_handle(), &Some("h1".into())).expect("get_by").map(|a| a.id), Some(3));

    // `None` never conflicts, and get_by(None) finds the first such record.
    t.put(&account(4, "d@x", None)).expect("a second None handle");
    let none: Vec<u32> = t.find_by(Account::by_handle(), &None).map(|a| a.id).collect();
    assert_eq!(none, [2, 4]);
    assert_eq!(t.get_by(Account::by_handle(), &None).expect("get_by").map(|a| a.id), Some(2));

    // get_by is only for unique indexes.
    assert!(matches!(t.get_by(Account::by_plan(), &1), Err(Error::InvalidArgument(_))));
    drop(t);
    db.close().expect("close");
}
