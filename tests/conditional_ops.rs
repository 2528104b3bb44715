//! Conditional writes on both tree kinds — `insert`, `cas`, `update` — and the
//! return values of `put` and `delete`, scripted and then checked op by op
//! against a `BTreeMap` model across several reopens.
//!
//! Guards against a conditional write that writes when its condition fails (or
//! refuses when it holds), a failed condition that still appends an entry, a
//! `None` that does not delete, a present-but-empty value confused with an
//! absent one, and results that change once the state is rebuilt from the log
//! instead of the live index.

mod support;

use std::collections::BTreeMap;

use armdb::{Config, ConstTree, Db, VarTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use support::var_pairs;

const DEFAULT_SEED: u64 = 0x0C0D_0001;

/// Small files so that the model test rotates and recovers from several files.
fn config() -> Config {
    Config { shards: 2, max_file_size: 4096, ..Config::default() }
}

const A: [u8; 4] = *b"aaaa";
const B: [u8; 4] = *b"bbbb";
const C: [u8; 4] = *b"cccc";
const D: [u8; 4] = *b"dddd";

#[test]
fn const_tree_conditional_semantics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    let t = db.const_tree::<u32, 4>("c").expect("const tree");
    let writes = || db.stats().writes;

    // insert: writes only when absent.
    assert!(t.insert(&1, &A).expect("insert"), "insert on an absent key writes");
    assert_eq!(t.get(&1), Some(A));
    let w = writes();
    assert!(!t.insert(&1, &B).expect("insert"), "insert on a present key refuses");
    assert_eq!(t.get(&1), Some(A), "a refused insert leaves the value");
    assert_eq!(writes(), w, "a refused insert appends nothing");

    // cas with expected Some: only the current value matches.
    assert!(!t.cas(&1, Some(&B), Some(&C)).expect("cas"), "cas with a wrong expected value refuses");
    assert!(!t.cas(&1, None, Some(&C)).expect("cas"), "cas expecting absence refuses on a present key");
    assert_eq!(t.get(&1), Some(A));
    assert_eq!(writes(), w, "a refused cas appends nothing");
    assert!(t.cas(&1, Some(&A), Some(&C)).expect("cas"), "cas with the current value writes");
    assert_eq!(t.get(&1), Some(C));

    // cas with expected None: only absence matches.
    assert!(t.cas(&2, None, Some(&A)).expect("cas"), "cas expecting absence writes on an absent key");
    assert_eq!(t.get(&2), Some(A));
    let w = writes();
    assert!(!t.cas(&3, Some(&A), Some(&B)).expect("cas"), "cas expecting a value refuses on an absent key");
    assert_eq!(t.get(&3), None, "a refused cas does not create the key");
    assert_eq!(writes(), w);

    // cas with new None deletes.
    assert!(!t.cas(&2, Some(&B), None).expect("cas"), "a mismatching cas-delete refuses");
    assert_eq!(t.get(&2), Some(A));
    assert!(t.cas(&2, Some(&A), None).expect("cas"), "a matching cas-delete writes");
    assert_eq!(t.get(&2), None, "cas with new None deletes");
    assert!(!t.contains(&2));

    // update sees the current value; its result is the new value; None deletes.
    let mut seen = None;
    let new = t
        .update(&1, |cur| {
            seen = Some(cur.copied());
            Some(D)
        })
        .expect("update");
    assert_eq!(seen, Some(Some(C)), "update sees the current value");
    assert_eq!(new, Some(D), "update returns the new value");
    assert_eq!(t.get(&1), Some(D));
    let mut seen = None;
    let new = t
        .update(&4, |cur| {
            seen = Some(cur.copied());
            Some(B)
        })
        .expect("update");
    assert_eq!(seen, Some(None), "update of an absent key sees None");
    assert_eq!(new, Some(B));
    assert_eq!(t.get(&4), Some(B), "update may create a key");
    let w = writes();
    let new = t.update(&5, |cur| cur.copied()).expect("update");
    assert_eq!(new, None);
    assert_eq!(t.get(&5), None, "update from absent to None leaves the key absent");
    assert_eq!(writes(), w, "deleting an absent key appends nothing");
    let new = t.update(&4, |_| None).expect("update");
    assert_eq!(new, None, "update returning None returns None");
    assert_eq!(t.get(&4), None, "update returning None deletes");

    // put returns the previous value; delete returns the removed value.
    assert_eq!(t.put(&6, &A).expect("put"), None);
    assert_eq!(t.put(&6, &B).expect("put"), Some(A));
    assert_eq!(t.put(&7, &C).expect("put"), None);
    assert_eq!(t.delete(&7).expect("delete"), Some(C));
    let w = writes();
    assert_eq!(t.delete(&7).expect("delete"), None, "deleting an absent key returns None");
    assert_eq!(writes(), w, "deleting an absent key appends nothing");

    let expected = [(1u32, D), (6, B)];
    assert_eq!(t.iter().collect::<Vec<_>>(), expected);
    drop(t);
    db.close().expect("close");

    // The recovered state answers every condition exactly as the live one did.
    let db = Db::open(dir.path(), config()).expect("reopen");
    let t = db.const_tree::<u32, 4>("c").expect("const tree");
    assert_eq!(t.iter().collect::<Vec<_>>(), expected, "state after reopen");
    for k in [2u32, 3, 4, 5, 7] {
        assert_eq!(t.get(&k), None, "key {k} stays absent after reopen");
    }
    let w = db.stats().writes;
    assert!(!t.insert(&1, &A).expect("insert"), "insert on a recovered key refuses");
    assert!(!t.cas(&1, Some(&C), Some(&A)).expect("cas"), "cas against the overwritten value refuses");
    assert!(!t.cas(&2, Some(&A), Some(&B)).expect("cas"), "cas against a deleted value refuses");
    assert_eq!(db.stats().writes, w, "refused operations after reopen append nothing");
    assert!(t.cas(&1, Some(&D), Some(&A)).expect("cas"), "cas against the recovered value writes");
    assert_eq!(t.update(&6, |cur| cur.map(|_| C)).expect("update"), Some(C));
    assert_eq!(t.delete(&6).expect("delete"), Some(C));
    assert!(t.insert(&2, &D).expect("insert"), "insert on a key deleted before reopen writes");
    assert_eq!(t.iter().collect::<Vec<_>>(), [(1u32, A), (2, D)]);
    db.close().expect("close");
}

#[test]
fn var_tree_conditional_semantics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    let t = db.var_tree::<u32>("v").expect("var tree");
    let writes = || db.stats().writes;
    let get = |k: u32| t.get(&k).expect("get").map(|b| b.to_vec());

    // insert: writes only when absent; an empty value is present.
    assert!(t.insert(&1, b"one").expect("insert"), "insert on an absent key writes");
    assert!(t.insert(&2, b"").expect("insert"), "insert of an empty value writes");
    assert_eq!(get(2), Some(Vec::new()), "an empty value is present, not absent");
    let w = writes();
    assert!(!t.insert(&1, b"uno").expect("insert"), "insert on a present key refuses");
    assert!(!t.insert(&2, b"two").expect("insert"), "insert on a key with an empty value refuses");
    assert_eq!(get(1).as_deref(), Some(&b"one"[..]));
    assert_eq!(get(2).as_deref(), Some(&b""[..]));
    assert_eq!(writes(), w, "a refused insert appends nothing");

    // cas with expected Some / None, matching and not.
    assert!(!t.cas(&1, Some(b"uno"), Some(b"x")).expect("cas"), "cas with a wrong value refuses");
    assert!(!t.cas(&1, Some(b"on"), Some(b"x")).expect("cas"), "cas with a prefix of the value refuses");
    assert!(!t.cas(&1, None, Some(b"x")).expect("cas"), "cas expecting absence refuses on a present key");
    assert!(!t.cas(&2, None, Some(b"x")).expect("cas"), "an empty value is not absence");
    assert!(!t.cas(&3, Some(b""), Some(b"x")).expect("cas"), "absence is not an empty value");
    assert_eq!(get(3), None);
    assert_eq!(writes(), w, "a refused cas appends nothing");
    assert!(t.cas(&1, Some(b"one"), Some(b"ONE")).expect("cas"), "cas with the current value writes");
    assert_eq!(get(1).as_deref(), Some(&b"ONE"[..]));
    assert!(t.cas(&2, Some(b""), Some(b"two")).expect("cas"), "cas from an empty value writes");
    assert_eq!(get(2).as_deref(), Some(&b"two"[..]));
    assert!(t.cas(&3, None, Some(b"three")).expect("cas"), "cas expecting absence writes on an absent key");
    assert_eq!(get(3).as_deref(), Some(&b"three"[..]));

    // cas with new None deletes.
    assert!(!t.cas(&3, Some(b"tree"), None).expect("cas"));
    assert_eq!(get(3).as_deref(), Some(&b"three"[..]));
    assert!(t.cas(&3, Some(b"three"), None).expect("cas"), "a matching cas-delete writes");
    assert_eq!(get(3), None, "cas with new None deletes");
    assert!(!t.contains(&3));

    // update sees the current value; its result is the new value; None deletes.
    let mut seen = None;
    let new = t
        .update(&1, |cur| {
            seen = Some(cur.map(<[u8]>::to_vec));
            Some(b"updated".to_vec())
        })
        .expect("update");
    assert_eq!(seen, Some(Some(b"ONE".to_vec())), "update sees the current value");
    assert_eq!(new.as_deref(), Some(&b"updated"[..]), "update returns the new value");
    assert_eq!(get(1).as_deref(), Some(&b"updated"[..]));
    let mut seen = None;
    let new = t
        .update(&4, |cur| {
            seen = Some(cur.map(<[u8]>::to_vec));
            Some(Vec::new())
        })
        .expect("update");
    assert_eq!(seen, Some(None), "update of an absent key sees None");
    assert_eq!(new.as_deref(), Some(&b""[..]));
    assert_eq!(get(4), Some(Vec::new()), "update may create a key with an empty value");
    let mut seen = None;
    let new = t
        .update(&4, |cur| {
            seen = Some(cur.map(<[u8]>::to_vec));
            None
        })
        .expect("update");
    assert_eq!(seen, Some(Some(Vec::new())), "update sees an empty value as Some");
    assert_eq!(new, None, "update returning None returns None");
    assert_eq!(get(4), None, "update returning None deletes");
    let w = writes();
    assert_eq!(t.update(&5, |_| None).expect("update"), None);
    assert_eq!(writes(), w, "deleting an absent key appends nothing");

    // delete reports whether the key existed.
    t.put(&6, b"six").expect("put");
    t.put(&6, b"SIX").expect("put");
    assert_eq!(get(6).as_deref(), Some(&b"SIX"[..]), "put overwrites");
    assert!(t.delete(&6).expect("delete"), "delete of a present key returns true");
    assert!(!t.delete(&6).expect("delete"), "delete of an absent key returns false");
    assert_eq!(writes(), w + 3, "only the two puts and the first delete append");

    let expected: Vec<(u32, Vec<u8>)> = vec![(1, b"updated".to_vec()), (2, b"two".to_vec())];
    let dump = |t: &VarTree<u32>| var_pairs(t.iter(), "iter");
    assert_eq!(dump(&t), expected);
    drop(t);
    db.close().expect("close");

    let db = Db::open(dir.path(), config()).expect("reopen");
    let t = db.var_tree::<u32>("v").expect("var tree");
    assert_eq!(dump(&t), expected, "state after reopen");
    let w = db.stats().writes;
    assert!(!t.insert(&2, b"x").expect("insert"), "insert on a recovered key refuses");
    assert!(!t.cas(&1, Some(b"ONE"), Some(b"x")).expect("cas"), "cas against an overwritten value refuses");
    assert!(!t.cas(&4, Some(b""), Some(b"x")).expect("cas"), "cas against a deleted empty value refuses");
    assert!(!t.delete(&3).expect("delete"), "a key deleted before reopen stays deleted");
    assert_eq!(db.stats().writes, w, "refused operations after reopen append nothing");
    assert!(t.cas(&1, Some(b"updated"), Some(b"again")).expect("cas"), "cas against the recovered value");
    assert!(t.insert(&3, b"back").expect("insert"));
    assert_eq!(
        dump(&t),
        vec![(1, b"again".to_vec()), (2, b"two".to_vec()), (3, b"back".to_vec())],
        "writes after reopen"
    );
    db.close().expect("close");
}

/// The next value an `update` callback computes from the current one, so that
/// the model can compute the same thing.
fn const_next(cur: Option<&[u8; 4]>) -> Option<[u8; 4]> {
    match cur {
        None => Some(*b"new!"),
        Some(v) if v[0] % 3 == 0 => None,
        Some(v) => Some([v[1], v[2], v[3], v[0].wrapping_add(1)]),
    }
}

fn var_next(cur: Option<&[u8]>) -> Option<Vec<u8>> {
    match cur {
        None => Some(b"n".to_vec()),
        Some(v) if v.len() >= 3 => None,
        Some(v) => Some([v, b"+"].concat()),
    }
}

fn const_value(rng: &mut SmallRng) -> [u8; 4] {
    // Few distinct values, so that a random `expected` often matches.
    let b = rng.random_range(b'a'..=b'c');
    [b, b, b'-', rng.random_range(b'0'..=b'1')]
}

fn var_value(rng: &mut SmallRng) -> Vec<u8> {
    let len = rng.random_range(0..=3);
    (0..len).map(|_| rng.random_range(b'a'..=b'b')).collect()
}

fn check_const(t: &ConstTree<u16, 4>, model: &BTreeMap<u16, [u8; 4]>, when: &str) {
    let got: Vec<_> = t.iter().collect();
    let want: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(got, want, "const tree {when}");
}

fn check_var(t: &VarTree<u16>, model: &BTreeMap<u16, Vec<u8>>, when: &str) {
    let got = var_pairs(t.iter(), "iter");
    let want: Vec<_> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(got, want, "var tree {when}");
}

#[test]
fn random_conditional_ops_match_model_across_reopens() {
    const OPS: usize = 3000;
    const REOPEN_EVERY: usize = 300;
    const KEYS: u16 = 24;
    let seed = support::seed(DEFAULT_SEED);
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut const_model: BTreeMap<u16, [u8; 4]> = BTreeMap::new();
    let mut var_model: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    let mut db = Db::open(dir.path(), config()).expect("open");
    let mut ct = db.const_tree::<u16, 4>("c").expect("const tree");
    let mut vt = db.var_tree::<u16>("v").expect("var tree");
    for i in 0..OPS {
        let k = rng.random_range(0..KEYS);
        let ctx = format!("op {i}, key {k}, seed {seed}");
        if rng.random_bool(0.5) {
            let cur = const_model.get(&k).copied();
            match rng.random_range(0..5) {
                0 => {
                    let v = const_value(&mut rng);
                    assert_eq!(ct.put(&k, &v).expect("put"), const_model.insert(k, v), "put {ctx}");
                }
                1 => {
                    let v = const_value(&mut rng);
                    let wrote = ct.insert(&k, &v).expect("insert");
                    assert_eq!(wrote, cur.is_none(), "insert {ctx}");
                    if wrote {
                        const_model.insert(k, v);
                    }
                }
                2 => {
                    let expected = match rng.random_range(0..3) {
                        0 => None,
                        1 => cur,
                        _ => Some(const_value(&mut rng)),
                    };
                    let new = rng.random_bool(0.7).then(|| const_value(&mut rng));
                    let wrote = ct.cas(&k, expected.as_ref(), new.as_ref()).expect("cas");
                    assert_eq!(wrote, cur == expected, "cas {ctx}: expected {expected:?}, current {cur:?}");
                    if wrote {
                        match new {
                            Some(v) => const_model.insert(k, v),
                            None => const_model.remove(&k),
                        };
                    }
                }
                3 => {
                    let mut seen = None;
                    let new = ct
                        .update(&k, |c| {
                            seen = Some(c.copied());
                            const_next(c)
                        })
                        .expect("update");
                    assert_eq!(seen, Some(cur), "update sees the current value, {ctx}");
                    let want = const_next(cur.as_ref());
                    assert_eq!(new, want, "update result {ctx}");
                    match want {
                        Some(v) => const_model.insert(k, v),
                        None => const_model.remove(&k),
                    };
                }
                _ => {
                    assert_eq!(ct.delete(&k).expect("delete"), const_model.remove(&k), "delete {ctx}");
                }
            }
            assert_eq!(ct.get(&k), const_model.get(&k).copied(), "const get after {ctx}");
        } else {
            let cur = var_model.get(&k).cloned();
            match rng.random_range(0..5) {
                0 => {
                    let v = var_value(&mut rng);
                    vt.put(&k, &v).expect("put");
                    var_model.insert(k, v);
                }
                1 => {
                    let v = var_value(&mut rng);
                    let wrote = vt.insert(&k, &v).expect("insert");
                    assert_eq!(wrote, cur.is_none(), "insert {ctx}");
                    if wrote {
                        var_model.insert(k, v);
                    }
                }
                2 => {
                    let expected = match rng.random_range(0..3) {
                        0 => None,
                        1 => cur.clone(),
                        _ => Some(var_value(&mut rng)),
                    };
                    let new = rng.random_bool(0.7).then(|| var_value(&mut rng));
                    let wrote = vt.cas(&k, expected.as_deref(), new.as_deref()).expect("cas");
                    assert_eq!(wrote, cur == expected, "cas {ctx}: expected {expected:?}, current {cur:?}");
                    if wrote {
                        match new {
                            Some(v) => var_model.insert(k, v),
                            None => var_model.remove(&k),
                        };
                    }
                }
                3 => {
                    let mut seen = None;
                    let new = vt
                        .update(&k, |c| {
                            seen = Some(c.map(<[u8]>::to_vec));
                            var_next(c)
                        })
                        .expect("update");
                    assert_eq!(seen, Some(cur.clone()), "update sees the current value, {ctx}");
                    let want = var_next(cur.as_deref());
                    assert_eq!(new.as_deref(), want.as_deref(), "update result {ctx}");
                    match want {
                        Some(v) => var_model.insert(k, v),
                        None => var_model.remove(&k),
                    };
                }
                _ => {
                    assert_eq!(
                        vt.delete(&k).expect("delete"),
                        var_model.remove(&k).is_some(),
                        "delete {ctx}"
                    );
                }
            }
            let got = vt.get(&k).expect("get");
            assert_eq!(got.as_deref(), var_model.get(&k).map(Vec::as_slice), "var get after {ctx}");
        }
        if (i + 1) % REOPEN_EVERY == 0 {
            let when = format!("before reopen after op {i}, seed {seed}");
            check_const(&ct, &const_model, &when);
            check_var(&vt, &var_model, &when);
            drop((ct, vt));
            db.close().expect("close");
            db = Db::open(dir.path(), config()).expect("reopen");
            ct = db.const_tree::<u16, 4>("c").expect("const tree");
            vt = db.var_tree::<u16>("v").expect("var tree");
            let when = format!("after reopen after op {i}, seed {seed}");
            check_const(&ct, &const_model, &when);
            check_var(&vt, &var_model, &when);
        }
    }
    assert!(db.stats().recovery.files > 2, "the run should span several data files");
    drop((ct, vt));
    db.close().expect("close");
}
