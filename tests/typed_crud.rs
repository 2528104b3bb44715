//! Typed trees keep the verbs of the byte trees: `put` upserts and returns the
//! previous record, `insert` writes only a new key, `delete` returns what it
//! removed, `update` and `cas` are atomic per key, `get`/`contains`/`len`/
//! `first`/`last` read it all back, before and after a reopen.
//!
//! Guards against a put that reports the wrong previous record, an insert that
//! overwrites, a cas that writes on a mismatch, an update that changes the key
//! or keeps a stale value, and records that change across a reopen.

use std::sync::Arc;

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
    name: String,
    tags: Vec<String>,
}

fn user(tenant: u32, id: u64, name: &str) -> User {
    User {
        tenant,
        id,
        email: format!("{name}@{tenant}.example"),
        country: "fr".into(),
        name: name.into(),
        tags: vec![name.to_uppercase()],
    }
}

fn config() -> Config {
    Config { shards: 2, max_file_size: 8192, durability: Durability::Flush, ..Config::default() }
}

fn key(tenant: u32, id: u64) -> UserKey {
    UserKey { tenant, id }
}

#[test]
fn crud_update_cas_insert_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), config()).expect("open");
        let users = db.tree::<User>().expect("tree");
        assert_eq!(users.name(), "users");
        assert!(users.is_empty());
        assert_eq!(users.first(), None);

        // put: upsert, returns the previous record.
        assert_eq!(users.put(&user(1, 1, "ann")).expect("put"), None);
        let prev = users.put(&User { name: "Ann".into(), ..user(1, 1, "ann") }).expect("put again");
        assert_eq!(prev.as_deref(), Some(&user(1, 1, "ann")));
        assert_eq!(users.get(&key(1, 1)).expect("get").expect("present").name, "Ann");

        // insert: only a new key.
        assert!(users.insert(&user(1, 2, "bob")).expect("insert"));
        assert!(!users.insert(&user(1, 2, "bobby")).expect("insert again"), "the key exists");
        assert_eq!(users.get(&key(1, 2)).expect("get").expect("present").name, "bob");
        assert!(users.insert(&user(2, 1, "cat")).expect("insert"));
        assert_eq!(users.len(), 3);
        assert!(users.contains(&key(2, 1)) && !users.contains(&key(2, 2)));

        // update: atomic read-modify-write, returns the new record; None deletes.
        let new = users
            .update(&key(1, 2), |cur| {
                let mut u = cur.expect("bob exists").clone();
                u.tags.push("admin".into());
                Some(u)
            })
            .expect("update");
        assert_eq!(new.as_ref().map(|u| u.tags.len()), Some(2));
        assert_eq!(users.get(&key(1, 2)).expect("get"), new);
        let created = users.update(&key(3, 9), |cur| {
            assert!(cur.is_none());
            Some(user(3, 9, "dan"))
        });
        assert_eq!(created.expect("update creates").as_deref(), Some(&user(3, 9, "dan")));
        assert_eq!(users.update(&key(3, 9), |_| None).expect("update deletes"), None);
        assert!(!users.contains(&key(3, 9)));
        // An update may not move a record to another key; nothing is written.
        let moved = users.update(&key(1, 2), |cur| Some(User { id: 99, ..cur.expect("bob").clone() }));
        assert!(matches!(moved, Err(Error::InvalidArgument(_))), "{moved:?}");
        assert!(!users.contains(&key(1, 99)));
        assert_eq!(users.get(&key(1, 2)).expect("get"), new);

        // cas: writes only when the current record is the expected one.
        let bob = users.get(&key(1, 2)).expect("get").expect("present");
        let renamed = User { name: "Robert".into(), ..(*bob).clone() };
        assert!(!users.cas(&key(1, 2), Some(&user(1, 2, "bob")), Some(&renamed)).expect("cas"), "stale");
        assert_eq!(
            users.get(&key(1, 2)).expect("get").as_deref(),
            Some(&*bob),
            "a failed cas writes nothing"
        );
        assert!(users.cas(&key(1, 2), Some(&bob), Some(&renamed)).expect("cas"));
        assert!(!users.cas(&key(4, 4), Some(&renamed), None).expect("cas on absent"), "absent != Some");
        assert!(users.cas(&key(4, 4), None, Some(&user(4, 4, "eve"))).expect("cas create"));
        assert!(!users.cas(&key(4, 4), None, Some(&user(4, 4, "eve"))).expect("cas create again"));
        assert!(users.cas(&key(4, 4), Some(&user(4, 4, "eve")), None).expect("cas delete"));
        assert!(!users.contains(&key(4, 4)));
        let wrong_key = users.cas(&key(1, 2), Some(&renamed), Some(&user(1, 3, "x")));
        assert!(matches!(wrong_key, Err(Error::InvalidArgument(_))), "{wrong_key:?}");

        // delete: returns what it removed, then nothing.
        assert_eq!(users.delete(&key(2, 1)).expect("delete").as_deref(), Some(&user(2, 1, "cat")));
        assert_eq!(users.delete(&key(2, 1)).expect("delete again"), None);
        assert_eq!(users.len(), 2);

        assert_eq!(users.first().map(|u| u.id), Some(1));
        assert_eq!(users.last().as_deref(), Some(&renamed));
        drop(users);
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), config()).expect("reopen");
    let users = db.tree::<User>().expect("tree");
    let all: Vec<Arc<User>> = users.iter().collect();
    let names: Vec<&str> = all.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["Ann", "Robert"], "after reopen");
    assert_eq!(all[1].tags, ["BOB", "admin"]);
    assert_eq!(users.get_by(User::by_email(), "bob@1.example").expect("get_by").as_deref(), Some(&*all[1]));
    assert_eq!(users.get_by(User::by_email(), "cat@2.example").expect("get_by"), None, "deleted");
    drop(users);
    db.close().expect("close");
}

#[test]
fn a_handle_clone_and_a_second_open_share_the_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    let a = db.tree::<User>().expect("tree");
    let b = db.tree::<User>().expect("tree again");
    let c = a.clone();
    a.put(&user(1, 1, "ann")).expect("put");
    assert!(b.contains(&key(1, 1)) && c.contains(&key(1, 1)));
    assert!(b.get_by(User::by_email(), "ann@1.example").expect("get_by").is_some(), "indexes are shared");
    assert_eq!(db.stats().trees, 1);
    drop((a, b, c));
    db.close().expect("close");
}
