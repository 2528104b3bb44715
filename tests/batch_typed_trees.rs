//! Batches over typed trees, together with byte trees: puts and deletes land
//! together, secondary indexes follow, and a unique-index conflict anywhere in
//! the batch refuses all of it with nothing written — before and after reopen.
//!
//! Guards against a batch that applies the operations before the conflicting
//! one, claims a unique value it then never writes, or forgets index updates.

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
