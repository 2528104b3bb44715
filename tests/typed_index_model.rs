//! Secondary indexes agree with a model: random puts, inserts, updates and
//! deletes (values from small domains, so that unique conflicts are frequent)
//! are mirrored in a `BTreeMap`; afterwards, and again after a reopen rebuilds
//! the indexes from the log, `find_by` on every index and value returns exactly
//! the model's records with that value in key order, forward and reverse, and
//! `get_by` on the unique indexes returns the model's holder. Every write the
//! model predicts to conflict fails with `UniqueViolation`, and no other does.
//!
//! Guards against index entries left behind by an update or delete, entries
//! missing after a reopen, results out of key order, and conflicts missed or
//! invented.
//!
//! Reproduce a failure with the printed seed: `ARMDB_SEED=<seed> cargo test --test typed_index_model`.

mod support;

use std::collections::BTreeMap;

use armdb::{Config, Db, Durability, Error, TypedTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

const DEFAULT_SEED: u64 = 0x00A4_DB00_7E5E_0003;

#[derive(armdb::Tree, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[tree(name = "people")]
struct Person {
    #[key]
    team: i8,
    #[key]
    id: u16,
    #[index(unique)]
    email: String,
    #[index(unique)]
    badge: Option<u32>,
    #[index]
    city: String,
    #[index]
    age: Option<u8>,
    note: String,
}

type Model = BTreeMap<PersonKey, Person>;

const CITIES: [&str; 4] = ["", "Lyon", "Oslo", "Porto"];

fn random_person(rng: &mut SmallRng) -> Person {
    Person {
        team: rng.random_range(-2..=2),
        id: rng.random_range(0..40),
        email: format!("p{}@x", rng.random_range(0..120)),
        badge: rng.random_bool(0.5).then(|| rng.random_range(0..60)),
        city: CITIES[rng.random_range(0..CITIES.len())].to_owned(),
        age: rng.random_bool(0.8).then(|| rng.random_range(18..22)),
        note: format!("n{}", rng.random::<u16>()),
    }
}

/// Whether `p` would take a unique value another record of the model holds.
fn takes_held_value(model: &Model, p: &Person) -> bool {
    let key = PersonKey { team: p.team, id: p.id };
    model.iter().any(|(k, o)| *k != key && (o.email == p.email || (p.badge.is_some() && o.badge == p.badge)))
}

/// The write's result if the model predicted none; `None` (and a count) for a predicted conflict.
#[track_caller]
fn expect_outcome<T: std::fmt::Debug>(
    result: armdb::Result<T>,
    conflict: bool,
    what: &str,
    conflicts: &mut usize,
) -> Option<T> {
    match (result, conflict) {
        (Ok(v), false) => Some(v),
        (Err(Error::UniqueViolation { .. }), true) => {
            *conflicts += 1;
            None
        }
        (other, _) => panic!("{what}: model predicted conflict={conflict}, got {other:?}"),
    }
}

fn check<F, Q>(
    tree: &TypedTree<Person>,
    model: &Model,
    index: armdb::Index<Person, F>,
    field: impl Fn(&Person) -> F,
    value: &Q,
    want_value: &F,
    when: &str,
) where
    F: std::borrow::Borrow<Q> + Clone + PartialEq + std::fmt::Debug,
    Q: armdb::IndexValue + ?Sized,
{
    let want: Vec<&Person> = model.values().filter(|p| field(p) == *want_value).collect();
    let got: Vec<Person> = tree.find_by(index, value).map(|p| (*p).clone()).collect();
    assert_eq!(got.iter().collect::<Vec<_>>(), want, "{when}: find_by {} = {want_value:?}", index.name());
    let mut back: Vec<Person> = tree.find_by(index, value).rev().map(|p| (*p).clone()).collect();
    back.reverse();
    assert_eq!(back, got, "{when}: find_by {} = {want_value:?} reversed", index.name());
    // Both ends of one iterator meet without repeating or skipping a record.
    let mut it = tree.find_by(index, value);
    let mut mixed = Vec::new();
    let mut tail = Vec::new();
    while let Some(p) = it.next() {
        mixed.push((*p).clone());
        match it.next_back() {
            Some(p) => tail.push((*p).clone()),
            None => break,
        }
    }
    mixed.extend(tail.into_iter().rev());
    assert_eq!(mixed, got, "{when}: find_by {} = {want_value:?} from both ends", index.name());
    if index.is_unique() {
        let holder = tree.get_by(index, value).expect("get_by").map(|p| (*p).clone());
        assert_eq!(
            holder.as_ref(),
            want.first().copied(),
            "{when}: get_by {} = {want_value:?}",
            index.name()
        );
    }
}

fn check_all(tree: &TypedTree<Person>, model: &Model, when: &str) {
    assert_eq!(tree.len(), model.len(), "{when}: len");
    let all: Vec<Person> = tree.iter().map(|p| (*p).clone()).collect();
    assert_eq!(all, model.values().cloned().collect::<Vec<_>>(), "{when}: records");
    for n in 0..120 {
        let email = format!("p{n}@x");
        check(tree, model, Person::by_email(), |p| p.email.clone(), email.as_str(), &email, when);
    }
    for badge in (0..60).map(Some).chain([None]) {
        check(tree, model, Person::by_badge(), |p| p.badge, &badge, &badge, when);
    }
    for city in CITIES {
        check(tree, model, Person::by_city(), |p| p.city.clone(), city, &city.to_owned(), when);
    }
    for age in (17..23).map(Some).chain([None]) {
        check(tree, model, Person::by_age(), |p| p.age, &age, &age, when);
    }
}

#[test]
fn indexes_match_the_model_before_and_after_reopen() {
    let mut rng = SmallRng::seed_from_u64(support::seed(DEFAULT_SEED));
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        Config { shards: 3, max_file_size: 16 << 10, durability: Durability::Flush, ..Config::default() };
    let mut model = Model::new();
    let mut conflicts = 0usize;
    {
        let db = Db::open(dir.path(), config.clone()).expect("open");
        let tree = db.tree::<Person>().expect("tree");
        for step in 0..4_000 {
            let p = random_person(&mut rng);
            let key = PersonKey { team: p.team, id: p.id };
            let what = format!("step {step}");
            let (seq_before, conflicts_before) = (db.stats().next_seq, conflicts);
            match rng.random_range(0..10) {
                0..=4 => {
                    let c = takes_held_value(&model, &p);
                    if let Some(prev) =
                        expect_outcome(tree.put(&p), c, &format!("{what} put"), &mut conflicts)
                    {
                        assert_eq!(
                            prev.as_deref(),
                            model.get(&key),
                            "{what}: put returns the previous record"
                        );
                        model.insert(key, p);
                    }
                }
                5 => {
                    let c = !model.contains_key(&key) && takes_held_value(&model, &p);
                    if let Some(done) =
                        expect_outcome(tree.insert(&p), c, &format!("{what} insert"), &mut conflicts)
                    {
                        assert_eq!(done, !model.contains_key(&key), "{what}: insert");
                        model.entry(key).or_insert(p);
                    }
                }
                6 | 7 => {
                    // Move an existing record to another city, age and maybe email.
                    let Some(k) = model.keys().nth(rng.random_range(0..model.len().max(1))).copied() else {
                        continue;
                    };
                    let mut next = model[&k].clone();
                    next.city = p.city.clone();
                    next.age = p.age;
                    if rng.random_bool(0.5) {
                        next.email = p.email.clone();
                    }
                    let c = takes_held_value(&model, &next);
                    let result = tree.update(&k, |cur| {
                        assert_eq!(cur, model.get(&k), "update sees the current record");
                        Some(next.clone())
                    });
                    if expect_outcome(result, c, &format!("{what} update"), &mut conflicts).is_some() {
                        model.insert(k, next);
                    }
                }
                _ => {
                    let Some(k) = model.keys().nth(rng.random_range(0..model.len().max(1))).copied() else {
                        continue;
                    };
                    let prev = tree.delete(&k).expect("delete");
                    assert_eq!(prev.as_deref(), model.get(&k), "{what}: delete");
                    model.remove(&k);
                }
            }
            if conflicts != conflicts_before {
                assert_eq!(db.stats().next_seq, seq_before, "{what}: a refused write appended nothing");
            }
            if step % 1000 == 999 {
                check_all(&tree, &model, &format!("step {step}"));
            }
        }
        check_all(&tree, &model, "before reopen");
        assert!(conflicts > 200, "the domains are small enough for frequent conflicts: {conflicts}");
        drop(tree);
        db.close().expect("close");
    }
    println!("{} records at the end, {conflicts} writes refused", model.len());
    let db = Db::open(dir.path(), config).expect("reopen");
    let tree = db.tree::<Person>().expect("tree");
    check_all(&tree, &model, "after reopen");
    drop(tree);
    db.close().expect("close");
}
