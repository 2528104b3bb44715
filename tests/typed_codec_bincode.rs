//! With the `bincode` feature, `#[tree(codec = "bincode")]` stores records with
//! bincode 2: they round-trip across a reopen, and the codec is part of the
//! schema fingerprint, so the same struct with postcard is refused.
//! Run with `cargo test --features bincode --test typed_codec_bincode`.
//!
//! Guards against records decoded with another codec than they were written with.

#![cfg(feature = "bincode")]

use armdb::{Config, Db, Durability, Error, Record};
use serde::{Deserialize, Serialize};

mod with_bincode {
    use super::*;
    #[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[tree(name = "notes", codec = "bincode")]
    pub struct Note {
        #[key]
        pub id: i64,
        #[index]
        pub tag: Option<String>,
        pub body: Vec<u8>,
    }
}

mod with_postcard {
    use super::*;
    #[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[tree(name = "notes")]
    pub struct Note {
        #[key]
        pub id: i64,
        #[index]
        pub tag: Option<String>,
        pub body: Vec<u8>,
    }
}

use with_bincode::Note;

#[test]
fn bincode_records_round_trip_and_the_codec_is_part_of_the_schema() {
    assert_eq!(<<Note as Record>::Codec as armdb::codec::Codec>::NAME, "bincode");
    assert_ne!(Note::FINGERPRINT, with_postcard::Note::FINGERPRINT);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config { durability: Durability::Flush, ..Config::default() };
    let notes: Vec<Note> = (-3..3)
        .map(|id| Note {
            id,
            tag: (id % 2 == 0).then(|| "even".into()),
            body: vec![id as u8; id.unsigned_abs() as usize],
        })
        .collect();
    {
        let db = Db::open(dir.path(), config.clone()).expect("open");
        let tree = db.tree::<Note>().expect("tree");
        for n in &notes {
            tree.put(n).expect("put");
        }
        drop(tree);
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), config).expect("reopen");
    assert!(matches!(db.tree::<with_postcard::Note>(), Err(Error::TreeMismatch { .. })));
    let tree = db.tree::<Note>().expect("tree");
    let got: Vec<Note> = tree.iter().map(|n| (*n).clone()).collect();
    assert_eq!(got, notes);
    let even: Vec<i64> = tree.find_by(Note::by_tag(), &Some("even".to_owned())).map(|n| n.id).collect();
    assert_eq!(even, [-2, 0, 2]);
    drop(tree);
    db.close().expect("close");
}
