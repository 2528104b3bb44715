//! Codec failures are errors that name the tree and write nothing: a record
//! whose `Serialize` fails, a record that does not decode back, and a record
//! whose key does not survive encoding (a `#[key]` field skipped by serde) are
//! `Error::Codec` on write; a stored record that no longer decodes makes
//! `Db::tree` fail with `Error::Codec` naming the tree and the key, and the
//! database stays usable.
//!
//! Guards against panics on bad records, writes that reach the log although
//! the record cannot be read back, and records silently re-keyed on reopen.

use std::sync::atomic::{AtomicBool, Ordering};

use armdb::{Config, Db, Durability, Error};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether `Strict` refuses odd values when deserialized.
static STRICT: AtomicBool = AtomicBool::new(false);

/// Serializes any value; deserializes odd values only while `STRICT` is off,
/// and refuses to serialize `u32::MAX`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Strict(u32);

impl Serialize for Strict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == u32::MAX {
            return Err(serde::ser::Error::custom("u32::MAX is not serializable"));
        }
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        if v % 2 == 1 && STRICT.load(Ordering::SeqCst) {
            return Err(serde::de::Error::custom(format!("{v} is odd")));
        }
        Ok(Strict(v))
    }
}

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "strict")]
struct Item {
    #[key]
    id: u32,
    value: Strict,
}

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "skipped_key")]
struct SkippedKey {
    #[key]
    #[serde(skip)]
    id: u32,
    name: String,
}

fn config() -> Config {
    Config { shards: 2, durability: Durability::Flush, ..Config::default() }
}

#[track_caller]
fn assert_codec<T: std::fmt::Debug>(result: armdb::Result<T>, tree: &str, needle: &str, what: &str) {
    match result {
        Err(e @ Error::Codec { .. }) => {
            let message = e.to_string();
            assert!(message.contains(&format!("{tree:?}")), "{what}: {message:?} names the tree");
            assert!(message.contains(needle), "{what}: {message:?} mentions {needle:?}");
        }
        other => panic!("{what}: expected Error::Codec, got {other:?}"),
    }
}

// One test, because `STRICT` is process-wide.
#[test]
fn codec_failures_are_errors_that_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), config()).expect("open");
        let items = db.tree::<Item>().expect("tree");
        items.put(&Item { id: 1, value: Strict(2) }).expect("put even");
        items.put(&Item { id: 2, value: Strict(3) }).expect("put odd while not strict");
        let seq = db.stats().next_seq;

        assert_codec(
            items.put(&Item { id: 3, value: Strict(u32::MAX) }),
            "strict",
            "cannot encode the record of key 3",
            "encode",
        );
        STRICT.store(true, Ordering::SeqCst);
        assert_codec(
            items.put(&Item { id: 4, value: Strict(5) }),
            "strict",
            "cannot decode the record of key 4",
            "decode back",
        );
        STRICT.store(false, Ordering::SeqCst);
        assert_eq!(db.stats().next_seq, seq, "nothing was appended");
        assert!(!items.contains(&3) && !items.contains(&4));

        let skipped = db.tree::<SkippedKey>().expect("tree");
        assert_codec(
            skipped.put(&SkippedKey { id: 9, name: "x".into() }),
            "skipped_key",
            "#[key]",
            "key lost",
        );
        assert!(skipped.is_empty());
        assert_eq!(db.stats().next_seq, seq, "nothing was appended");
        drop((items, skipped));
        db.close().expect("close");
    }
    // Record 2 holds an odd value, which no longer decodes.
    STRICT.store(true, Ordering::SeqCst);
    let db = Db::open(dir.path(), config()).expect("reopen");
    assert_codec(db.tree::<Item>(), "strict", "key 2", "open with an undecodable record");
    let other = db.tree::<SkippedKey>().expect("the database stays usable");
    assert!(other.is_empty());
    STRICT.store(false, Ordering::SeqCst);
    let items = db.tree::<Item>().expect("opens once the record decodes again");
    assert_eq!(items.get(&2).expect("get").map(|i| i.value), Some(Strict(3)));
    drop((items, other));
    db.close().expect("close");
}
