//! A record with a single `#[key]` field uses the field's own type as its key
//! (`type Key = u64`, `[u8; 16]`, or a key struct of another record), with no
//! generated key struct: gets, ranges, indexes and reopen work on it as on
//! composite keys.
//!
//! Guards against the single-key path generating a wrapper the caller cannot
//! name, encoding the key differently from the plain type, and a nested key
//! struct used as a whole key losing its field order.

use armdb::{Config, Db, Durability, Record};
use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Counter {
    #[key]
    id: u64,
    #[index]
    label: Option<String>,
    value: i64,
}

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Blob {
    #[key]
    digest: [u8; 16],
    size: u32,
}

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[expect(dead_code, reason = "only its key struct is used, as another record's key")]
struct Membership {
    #[key]
    org: i32,
    #[key]
    user: u32,
    role: String,
}

/// Keyed by another record's key struct, as a whole.
#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct MembershipNote {
    #[key]
    membership: MembershipKey,
    text: String,
}

fn config() -> Config {
    Config { shards: 2, durability: Durability::Flush, ..Config::default() }
}

#[test]
fn single_field_keys_use_the_field_type() {
    // These are compile-time facts: the key types are the fields' own types.
    let _: fn(&Counter) -> u64 = <Counter as Record>::key;
    let _: fn(&Blob) -> [u8; 16] = <Blob as Record>::key;
    let _: fn(&MembershipNote) -> MembershipKey = <MembershipNote as Record>::key;
    assert_eq!(Counter::NAME, "counter");
    assert_eq!(MembershipNote::NAME, "membership_note");

    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), config()).expect("open");
        let counters = db.tree::<Counter>().expect("counters");
        let blobs = db.tree::<Blob>().expect("blobs");
        let notes = db.tree::<MembershipNote>().expect("notes");
        for id in [u64::MAX, 0, 300, 2] {
            let label = (id % 2 == 0).then(|| "even".to_owned());
            counters.put(&Counter { id, label, value: -(id as i64 % 7) }).expect("put");
        }
        blobs.put(&Blob { digest: [0xAB; 16], size: 10 }).expect("put");
        blobs.put(&Blob { digest: [0x01; 16], size: 20 }).expect("put");
        for (org, user) in [(-1, 5), (-1, 2), (3, 1)] {
            let membership = MembershipKey { org, user };
            notes.put(&MembershipNote { membership, text: format!("{org}/{user}") }).expect("put");
        }
        drop((counters, blobs, notes));
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), config()).expect("reopen");
    let counters = db.tree::<Counter>().expect("counters");
    let ids: Vec<u64> = counters.iter().map(|c| c.id).collect();
    assert_eq!(ids, [0, 2, 300, u64::MAX]);
    let ids: Vec<u64> = counters.range(1..=300).rev().map(|c| c.id).collect();
    assert_eq!(ids, [300, 2]);
    assert_eq!(counters.get(&300).expect("get").map(|c| c.value), Some(-(300 % 7)));
    let even: Vec<u64> =
        counters.find_by(Counter::by_label(), &Some("even".to_owned())).map(|c| c.id).collect();
    assert_eq!(even, [0, 2, 300]);
    let odd: Vec<u64> = counters.find_by(Counter::by_label(), &None).map(|c| c.id).collect();
    assert_eq!(odd, [u64::MAX], "None is indexed and found");

    let blobs = db.tree::<Blob>().expect("blobs");
    assert_eq!(blobs.first().map(|b| b.size), Some(20));
    assert_eq!(blobs.get(&[0xAB; 16]).expect("get").map(|b| b.size), Some(10));

    let notes = db.tree::<MembershipNote>().expect("notes");
    let texts: Vec<String> = notes.iter().map(|n| n.text.clone()).collect();
    assert_eq!(texts, ["-1/2", "-1/5", "3/1"], "a nested key struct sorts by its fields");
    let key = MembershipKey { org: -1, user: 5 };
    assert_eq!(notes.get(&key).expect("get").map(|n| n.text.clone()).as_deref(), Some("-1/5"));
    drop((counters, blobs, notes));
    db.close().expect("close");
}
