//! Read-ahead for the scans of a var tree.
//!
//! A var tree's values live in its data files, at places unrelated to key
//! order, so each value a scan returns is a cache miss (and often a TLB miss)
//! in a file's memory map. Looking a few index entries ahead and prefetching
//! their bytes lets those misses overlap instead of queueing one by one.

use std::collections::VecDeque;

use crate::log::Loc;

/// Index entries a scan fetches ahead of the one it returns, once it has
/// returned that many: a short scan (`take(2)`) looks ahead less.
pub(crate) const READ_AHEAD: usize = 4;

/// The index entries of `inner`, with `prefetch` called on the next few (at
/// most `max_depth`; 0 reads nothing ahead) while the caller reads the
/// current one. Forward only: from the back it returns entries as `inner`
/// does. An entry fetched ahead may be stale by the time it is returned: the
/// caller looks its key up again (see `VarTree::scan`).
pub(crate) struct ReadAhead<K, I, F> {
    inner: I,
    prefetch: F,
    ahead: VecDeque<(K, Loc)>,
    depth: usize,
    max_depth: usize,
}

impl<K, I, F: Fn(Loc)> ReadAhead<K, I, F> {
    pub(crate) fn new(inner: I, max_depth: usize, prefetch: F) -> Self {
        Self { inner, prefetch, ahead: VecDeque::new(), depth: 0, max_depth }
    }
}

impl<K, I: Iterator<Item = (K, Loc)>, F: Fn(Loc)> Iterator for ReadAhead<K, I, F> {
    type Item = (K, Loc);

    fn next(&mut self) -> Option<(K, Loc)> {
        if self.max_depth == 0 {
            // Nothing is held back, so the deque is never allocated.
            let (key, loc) = self.inner.next()?;
            (self.prefetch)(loc);
            return Some((key, loc));
        }
        while self.ahead.len() <= self.depth {
            let Some((key, loc)) = self.inner.next() else { break };
            (self.prefetch)(loc);
            if self.ahead.capacity() == 0 {
                self.ahead.reserve_exact(self.max_depth + 1);
            }
            self.ahead.push_back((key, loc));
        }
        self.depth = (self.depth + 1).min(self.max_depth);
        self.ahead.pop_front()
    }
}

impl<K, I: DoubleEndedIterator<Item = (K, Loc)>, F: Fn(Loc)> DoubleEndedIterator for ReadAhead<K, I, F> {
    /// The entries fetched ahead from the front come last, once `inner` has
    /// none left.
    fn next_back(&mut self) -> Option<(K, Loc)> {
        self.inner.next_back().or_else(|| self.ahead.pop_back())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn entries(n: u32) -> Vec<(u32, Loc)> {
        (0..n).map(|i| (i, Loc { shard: 0, file: 1, offset: i * 8, len: 8 })).collect()
    }

    #[test]
    fn forward_returns_every_entry_in_order_after_prefetching_it() {
        for n in [0, 1, 2, 5, 40] {
            let fetched = RefCell::new(Vec::new());
            let it = ReadAhead::new(entries(n).into_iter(), READ_AHEAD, |loc: Loc| {
                fetched.borrow_mut().push(loc.offset / 8)
            });
            let mut got = Vec::new();
            for (key, _) in it {
                let fetched = fetched.borrow();
                assert!(fetched.contains(&key), "entry {key} returned before it was prefetched");
                assert!(
                    fetched.len() <= got.len() + 1 + READ_AHEAD,
                    "fetched {} entries after returning {}",
                    fetched.len(),
                    got.len()
                );
                got.push(key);
            }
            assert_eq!(got, (0..n).collect::<Vec<_>>());
            assert_eq!(*fetched.borrow(), got, "each entry prefetched once, in order");
        }
    }

    #[test]
    fn a_short_scan_reads_little_ahead() {
        let fetched = RefCell::new(0);
        let got: Vec<u32> =
            ReadAhead::new(entries(100).into_iter(), READ_AHEAD, |_| *fetched.borrow_mut() += 1)
                .take(2)
                .map(|(k, _)| k)
                .collect();
        assert_eq!(got, [0, 1]);
        assert_eq!(*fetched.borrow(), 3);
    }

    #[test]
    fn depth_zero_reads_nothing_ahead() {
        let fetched = RefCell::new(0);
        let mut it = ReadAhead::new(entries(10).into_iter(), 0, |_| *fetched.borrow_mut() += 1);
        for want in 0..10 {
            assert_eq!(it.next().map(|(k, _)| k), Some(want));
            assert_eq!(*fetched.borrow(), want as usize + 1);
        }
        assert_eq!(it.next(), None);
    }

    #[test]
    fn mixed_directions_return_every_entry_once_in_place() {
        // Each pattern bit: 0 takes from the front, 1 from the back.
        for pattern in 0u32..256 {
            let n = 12;
            let mut it = ReadAhead::new(entries(n).into_iter(), READ_AHEAD, |_| {});
            let mut model: VecDeque<u32> = (0..n).collect();
            for step in 0..=n {
                let back = step < 8 && pattern >> step & 1 == 1;
                let (got, want) =
                    if back { (it.next_back(), model.pop_back()) } else { (it.next(), model.pop_front()) };
                assert_eq!(got.map(|(k, _)| k), want, "pattern {pattern:08b}, step {step}");
            }
        }
    }
}
