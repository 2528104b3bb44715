//! Which operations of a batch count, and in which order their index changes
//! are made.

use std::collections::HashMap;

use super::batch::BatchOp;
use crate::log::Loc;

/// Batches of at least this many operations are deduplicated by one sort by
/// key, whose order then also serves the index updates (see [`apply_order`]).
const SORT_FROM: usize = 256;

/// The operations that count, the last one on each key of each tree, in the
/// order given; and for a batch of at least `SORT_FROM` operations, their
/// positions in key order.
///
/// A large batch sorts its operations once by (key, tree, position) instead of
/// hashing every key and sorting again for the index updates. The key's first
/// 8 bytes are held in the sorted array, so unless many keys share them (a
/// common leading field), the sort seldom reads an operation's key through its
/// box.
pub(crate) fn last_per_key(ops: Vec<Box<dyn BatchOp>>) -> (Vec<Box<dyn BatchOp>>, Option<Vec<usize>>) {
    if ops.len() < SORT_FROM {
        let mut last: HashMap<(u32, &[u8]), usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(ops.len(), foldhash::fast::RandomState::default());
        for (i, op) in ops.iter().enumerate() {
            last.insert((op.tree_id(), op.key_bytes()), i);
        }
        let mut keep = vec![false; ops.len()];
        last.into_values().for_each(|i| keep[i] = true);
        let kept = ops.into_iter().zip(keep).filter_map(|(op, keep)| keep.then_some(op)).collect();
        return (kept, None);
    }
    let mut sorted: Vec<(u64, u32, usize)> =
        ops.iter().enumerate().map(|(i, op)| (prefix(op.key_bytes()), op.tree_id(), i)).collect();
    let same_key = |a: &(u64, u32, usize), b: &(u64, u32, usize)| {
        a.0 == b.0 && a.1 == b.1 && ops[a.2].key_bytes() == ops[b.2].key_bytes()
    };
    sorted.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| ops[a.2].key_bytes().cmp(ops[b.2].key_bytes()))
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    // The last of each run of one key is its last operation.
    let mut keep = vec![false; ops.len()];
    let mut by_key: Vec<usize> = Vec::with_capacity(ops.len());
    for (n, entry) in sorted.iter().enumerate() {
        if sorted.get(n + 1).is_none_or(|next| !same_key(entry, next)) {
            keep[entry.2] = true;
            by_key.push(entry.2);
        }
    }
    drop(sorted);
    // Positions among the kept operations.
    let mut position = vec![usize::MAX; ops.len()];
    let mut next = 0;
    for (i, &k) in keep.iter().enumerate() {
        if k {
            position[i] = next;
            next += 1;
        }
    }
    by_key.iter_mut().for_each(|i| *i = position[*i]);
    let kept = ops.into_iter().zip(keep).filter_map(|(op, keep)| keep.then_some(op)).collect();
    (kept, Some(by_key))
}

/// The first 8 bytes of `key`, zero-padded, as a big-endian number: ordered
/// as the keys are, except that ties need the whole keys.
fn prefix(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

/// The order in which a batch's `writes` (positions in `ops`, ascending, with
/// their locations) reach the indexes: as given, or for at least `SORT_FROM`
/// writes by key, since a skiplist takes ascending keys several times faster
/// than random ones once it outgrows the CPU caches. `by_key` is the key order
/// [`last_per_key`] returned.
pub(crate) fn apply_order(
    writes: &[usize],
    locs: Vec<Loc>,
    by_key: Option<Vec<usize>>,
    ops: usize,
) -> Vec<(usize, Loc)> {
    match by_key {
        Some(by_key) if writes.len() >= SORT_FROM => {
            let mut loc_of: Vec<Option<Loc>> = vec![None; ops];
            for (&i, loc) in writes.iter().zip(locs) {
                loc_of[i] = Some(loc);
            }
            by_key.into_iter().filter_map(|i| loc_of[i].map(|loc| (i, loc))).collect()
        }
        _ => writes.iter().copied().zip(locs).collect(),
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::SmallRng};

    use super::*;

    struct Op {
        tree: u32,
        key: Vec<u8>,
    }

    impl BatchOp for Op {
        fn tree_id(&self) -> u32 {
            self.tree
        }
        fn key_bytes(&self) -> &[u8] {
            &self.key
        }
        fn prepare(&mut self) -> crate::Result<bool> {
            Ok(true)
        }
        fn value<'a>(&'a self, _: &'a [u8]) -> Option<&'a [u8]> {
            None
        }
        fn apply(&mut self, _: Loc, _: &[u8]) {}
    }

    /// Operations on few distinct keys: tree 1 has 4-byte keys, tree 2 has
    /// 12-byte keys that share their first 8 bytes (ties on the prefix) and
    /// some that start with a tree-1 key (a key shorter than the prefix).
    fn ops(n: usize, rng: &mut SmallRng) -> Vec<(u32, Vec<u8>)> {
        (0..n)
            .map(|_| {
                if rng.random_bool(0.5) {
                    (1, vec![0, 0, rng.random_range(0..3), rng.random_range(0..8)])
                } else {
                    let mut key = vec![0, 0, rng.random_range(0..3), rng.random_range(0..8), 0, 0, 0, 7];
                    key.extend_from_slice(&[0, 0, 0, rng.random_range(0..20)]);
                    (2, key)
                }
            })
            .collect()
    }

    #[test]
    fn the_last_operation_on_each_key_counts_and_large_batches_come_in_key_order() {
        let mut rng = SmallRng::seed_from_u64(11);
        for n in [0, 1, 7, SORT_FROM - 1, SORT_FROM, 1000, 5000] {
            let given = ops(n, &mut rng);
            let boxed: Vec<Box<dyn BatchOp>> = given
                .iter()
                .map(|(tree, key)| Box::new(Op { tree: *tree, key: key.clone() }) as Box<dyn BatchOp>)
                .collect();
            let want: Vec<usize> =
                (0..n).filter(|&i| !given[i + 1..].iter().any(|later| *later == given[i])).collect();
            let (kept, by_key) = last_per_key(boxed);
            let ids: Vec<(u32, Vec<u8>)> =
                kept.iter().map(|op| (op.tree_id(), op.key_bytes().to_vec())).collect();
            let want_ids: Vec<(u32, Vec<u8>)> = want.iter().map(|&i| given[i].clone()).collect();
            assert_eq!(ids, want_ids, "{n} operations: the last on each key, in the given order");
            match by_key {
                None => assert!(n < SORT_FROM, "{n} operations have a key order"),
                Some(by_key) => {
                    assert!(n >= SORT_FROM);
                    let mut sorted_positions = by_key.clone();
                    sorted_positions.sort_unstable();
                    assert_eq!(sorted_positions, (0..kept.len()).collect::<Vec<_>>(), "a permutation");
                    let in_key_order: Vec<(&[u8], u32)> =
                        by_key.iter().map(|&i| (kept[i].key_bytes(), kept[i].tree_id())).collect();
                    assert!(
                        in_key_order.windows(2).all(|w| w[0] < w[1]),
                        "{n} operations in (key, tree) order"
                    );
                }
            }
        }
    }

    #[test]
    fn apply_order_follows_the_key_order_for_large_batches_only() {
        let loc = |i: u32| Loc { shard: 0, file: 1, offset: i, len: 8 };
        let writes: Vec<usize> = (0..SORT_FROM).map(|i| i * 2).collect();
        let locs: Vec<Loc> = (0..SORT_FROM as u32).map(loc).collect();
        let by_key: Vec<usize> = (0..SORT_FROM * 2).rev().collect();
        let order = apply_order(&writes, locs.clone(), Some(by_key), SORT_FROM * 2);
        let want: Vec<(usize, Loc)> = writes.iter().rev().map(|&i| (i, loc(i as u32 / 2))).collect();
        assert_eq!(order, want, "every write once, with its location, in key order");
        let few = apply_order(
            &writes[..3],
            locs[..3].to_vec(),
            Some((0..SORT_FROM * 2).rev().collect()),
            SORT_FROM * 2,
        );
        assert_eq!(few, vec![(0, loc(0)), (2, loc(1)), (4, loc(2))], "a few writes keep their order");
    }
}
