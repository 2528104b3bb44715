//! The catalog stores each typed tree's schema fingerprint: opening a tree
//! with a record type whose shape changed (a field added, renamed, retyped or
//! reordered, an index added or made unique, the key changed, a serde
//! attribute, the codec) is `Error::TreeMismatch` naming the tree and pointing
//! to the migration docs, in the same process and after a reopen, and the
//! stored records stay intact for the old type. The same shape declared twice
//! has the same fingerprint and opens the same data.
//!
//! Guards against decoding records with another type than they were written
//! with (garbage values or decode errors at a distance), and against a
//! fingerprint that depends on anything but the shape.

use armdb::{Config, Db, Durability, Error, Record};
use serde::{Deserialize, Serialize};

mod v1 {
    use super::*;
    #[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[tree(name = "users")]
    pub struct User {
        #[key]
        pub id: u64,
        #[index(unique)]
        pub email: String,
        pub name: String,
    }
}

/// The same shape as `v1`, declared again.
mod v1_again {
    use super::*;
    #[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[tree(name = "users")]
    pub struct User {
        #[key]
        pub id: u64,
        #[index(unique)]
        pub email: String,
        pub name: String,
    }
}

/// Declares `mod $m` with a `users` record differing from `v1` as `$fields` say.
macro_rules! variant {
    ($m:ident, $(#[$a:meta])* { $($fields:tt)* }) => {
        mod $m {
            use super::*;
            #[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
            #[tree(name = "users")]
            $(#[$a])*
            pub struct User { $($fields)* }
        }
    };
}

variant!(added_field, { #[key] pub id: u64, #[index(unique)] pub email: String, pub name: String, pub age: u8 });
variant!(renamed_field, { #[key] pub id: u64, #[index(unique)] pub email: String, pub full_name: String });
variant!(retyped_field, { #[key] pub id: u64, #[index(unique)] pub email: String, pub name: Vec<u8> });
variant!(reordered, { #[key] pub id: u64, pub name: String, #[index(unique)] pub email: String });
variant!(index_not_unique, { #[key] pub id: u64, #[index] pub email: String, pub name: String });
variant!(index_added, { #[key] pub id: u64, #[index(unique)] pub email: String, #[index] pub name: String });
variant!(key_retyped, { #[key] pub id: i64, #[index(unique)] pub email: String, pub name: String });
variant!(serde_attr, { #[key] pub id: u64, #[index(unique)] pub email: String, #[serde(skip)] pub name: String });
variant!(struct_serde_attr, #[serde(deny_unknown_fields)] {
    #[key] pub id: u64, #[index(unique)] pub email: String, pub name: String
});

fn config() -> Config {
    Config { shards: 2, durability: Durability::Flush, ..Config::default() }
}

#[track_caller]
fn assert_mismatch<T: std::fmt::Debug>(result: armdb::Result<T>, what: &str) {
    match result {
        Err(e @ Error::TreeMismatch { .. }) => {
            let message = e.to_string();
            assert!(message.contains("\"users\""), "{what}: {message:?} names the tree");
            assert!(message.contains("docs/typed.md"), "{what}: {message:?} points to the migration docs");
        }
        other => panic!("{what}: expected Error::TreeMismatch, got {other:?}"),
    }
}

/// Every changed shape is refused.
fn assert_changes_refused(db: &Db, when: &str) {
    assert_mismatch(db.tree::<added_field::User>(), &format!("{when}: added field"));
    assert_mismatch(db.tree::<renamed_field::User>(), &format!("{when}: renamed field"));
    assert_mismatch(db.tree::<retyped_field::User>(), &format!("{when}: retyped field"));
    assert_mismatch(db.tree::<reordered::User>(), &format!("{when}: reordered fields"));
    assert_mismatch(db.tree::<index_not_unique::User>(), &format!("{when}: index no longer unique"));
    assert_mismatch(db.tree::<index_added::User>(), &format!("{when}: index added"));
    assert_mismatch(db.tree::<key_retyped::User>(), &format!("{when}: key retyped"));
    assert_mismatch(db.tree::<serde_attr::User>(), &format!("{when}: serde field attribute"));
    assert_mismatch(db.tree::<struct_serde_attr::User>(), &format!("{when}: serde struct attribute"));
}

#[test]
fn fingerprints_depend_on_the_shape_only() {
    let all = [
        v1::User::FINGERPRINT,
        added_field::User::FINGERPRINT,
        renamed_field::User::FINGERPRINT,
        retyped_field::User::FINGERPRINT,
        reordered::User::FINGERPRINT,
        index_not_unique::User::FINGERPRINT,
        index_added::User::FINGERPRINT,
        key_retyped::User::FINGERPRINT,
        serde_attr::User::FINGERPRINT,
        struct_serde_attr::User::FINGERPRINT,
    ];
    for (i, a) in all.iter().enumerate() {
        for (j, b) in all.iter().enumerate().skip(i + 1) {
            assert_ne!(a, b, "variants {i} and {j} share a fingerprint");
        }
    }
    assert_eq!(v1::User::FINGERPRINT, v1_again::User::FINGERPRINT, "the same shape, declared twice");
}

#[test]
fn a_changed_record_shape_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ann = v1::User { id: 1, email: "ann@x".into(), name: "Ann".into() };
    {
        let db = Db::open(dir.path(), config()).expect("open");
        let users = db.tree::<v1::User>().expect("v1");
        users.put(&ann).expect("put");
        assert_changes_refused(&db, "same process");
        assert_eq!(db.stats().trees, 1, "a refused open creates no tree");
        // Another kind of tree under the name is refused as well.
        assert!(matches!(db.const_tree::<u64, 8>("users"), Err(Error::TreeMismatch { .. })));
        assert!(matches!(db.var_tree::<u64>("users"), Err(Error::TreeMismatch { .. })));
        // Another Rust type of the same shape is a different type in this process.
        assert!(matches!(db.tree::<v1_again::User>(), Err(Error::TreeMismatch { .. })));
        drop(users);
        db.close().expect("close");
    }
    {
        let db = Db::open(dir.path(), config()).expect("reopen");
        assert_changes_refused(&db, "after reopen, nothing opened yet");
        let users = db.tree::<v1::User>().expect("v1 still opens");
        assert_eq!(users.get(&1).expect("get").as_deref(), Some(&ann), "records intact");
        drop(users);
        db.close().expect("close");
    }
    // In a new process, the same shape under another Rust type opens the data.
    let db = Db::open(dir.path(), config()).expect("reopen");
    let users = db.tree::<v1_again::User>().expect("same shape");
    assert_eq!(users.get(&1).expect("get").map(|u| u.name.clone()).as_deref(), Some("Ann"));
    drop(users);
    db.close().expect("close");
}
