//! Racing writers of one unique value: in each of 20 rounds, 4 threads released
//! together by a barrier put 4 different records (different primary keys, so
//! different shards and shard locks) with the same email. Exactly one wins; the
//! other three get `Error::UniqueViolation` and write nothing; the index then
//! names the winner, before and after a reopen.
//!
//! Guards against a check-then-insert race in which two writers under
//! different shard locks both see the value free and both write it.

use std::sync::{Arc, Barrier};

use armdb::{Config, Db, Durability, Error};
use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Member {
    #[key]
    round: u32,
    #[key]
    writer: u32,
    #[index(unique)]
    email: String,
}

const ROUNDS: u32 = 20;
const WRITERS: u32 = 4;

fn config() -> Config {
    Config { shards: 8, durability: Durability::Flush, ..Config::default() }
}

#[test]
fn exactly_one_of_four_racing_writers_wins_each_round() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    let members = db.tree::<Member>().expect("tree");
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let email = format!("round{round}@example.com");
        let barrier = Arc::new(Barrier::new(WRITERS as usize));
        let results: Vec<(u32, armdb::Result<Option<Arc<Member>>>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..WRITERS)
                .map(|writer| {
                    let (members, barrier, email) = (members.clone(), Arc::clone(&barrier), email.clone());
                    s.spawn(move || {
                        barrier.wait();
                        (writer, members.put(&Member { round, writer, email }))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("writer thread")).collect()
        });
        let won: Vec<u32> = results.iter().filter(|(_, r)| r.is_ok()).map(|(w, _)| *w).collect();
        assert_eq!(won.len(), 1, "round {round}: winners {won:?}, results {results:?}");
        for (writer, r) in &results {
            match r {
                Ok(prev) => assert!(prev.is_none(), "round {round}: a fresh key"),
                Err(Error::UniqueViolation { index, .. }) => assert_eq!(index, "email"),
                Err(e) => panic!("round {round}, writer {writer}: unexpected error {e}"),
            }
        }
        let winner = won[0];
        let held = members.get_by(Member::by_email(), &email).expect("get_by").expect("the winner holds it");
        assert_eq!(held.writer, winner, "round {round}");
        let found: Vec<u32> = members.find_by(Member::by_email(), &email).map(|m| m.writer).collect();
        assert_eq!(found, [winner], "round {round}: exactly one record has the value");
        let written: Vec<u32> = members.prefix(MemberKey::prefix_round(round)).map(|m| m.writer).collect();
        assert_eq!(written, [winner], "round {round}: losers wrote nothing");
        winners.push(winner);
    }
    assert_eq!(members.len(), ROUNDS as usize);
    drop(members);
    db.close().expect("close");

    let db = Db::open(dir.path(), config()).expect("reopen");
    let members = db.tree::<Member>().expect("tree");
    assert_eq!(members.len(), ROUNDS as usize, "after reopen");
    for (round, winner) in (0..ROUNDS).zip(winners) {
        let held = members.get_by(Member::by_email(), &format!("round{round}@example.com")).expect("get_by");
        assert_eq!(held.map(|m| m.writer), Some(winner), "round {round} after reopen");
    }
    drop(members);
    db.close().expect("close");
}
