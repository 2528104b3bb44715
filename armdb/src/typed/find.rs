//! `FindBy`: the records with one value of a secondary index, in key order.

use std::sync::Arc;

use crossbeam_skiplist::set::Entry;

use super::core::TypedCore;
use super::index_value::IndexBuf;
use super::record::Record;
use super::secondary::{Pair, PairView};

/// The records whose value of a secondary index equals the one asked for, in
/// primary-key order, from either end. Returned by
/// [`TypedTree::find_by`](crate::TypedTree::find_by).
///
/// The walk is lock-free and sees concurrent writes as they land; every record
/// it yields has the asked-for value when it is yielded.
pub struct FindBy<'a, R: Record> {
    tree: &'a TypedCore<R>,
    position: usize,
    value: IndexBuf,
    /// The last pair the front has passed; `None` before the first step.
    front: Option<Entry<'a, Pair<R::Key>>>,
    /// The last pair the back has passed; `None` before the first step.
    back: Option<Entry<'a, Pair<R::Key>>>,
    done: bool,
}

impl<R: Record> std::fmt::Debug for FindBy<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FindBy")
            .field("tree", &self.tree.name())
            .field("index", &self.position)
            .field("value", &self.value)
            .field("done", &self.done)
            .finish()
    }
}

impl<'a, R: Record> FindBy<'a, R> {
    pub(crate) fn new(tree: &'a TypedCore<R>, position: usize, value: IndexBuf) -> Self {
        let done = tree.indexes.get(position).is_none();
        Self { tree, position, value, front: None, back: None, done }
    }

    /// Whether `e` is a pair of the asked-for value that the other end has not passed.
    fn within(
        &self,
        e: &Entry<'a, Pair<R::Key>>,
        other: Option<&Entry<'a, Pair<R::Key>>>,
        forward: bool,
    ) -> bool {
        let pair = e.value();
        pair.value() == self.value.as_slice()
            && other.is_none_or(|o| {
                let bound = o.value().key();
                if forward { pair.key() < bound } else { pair.key() > bound }
            })
    }
}

impl<R: Record> Iterator for FindBy<'_, R> {
    type Item = Arc<R>;

    fn next(&mut self) -> Option<Arc<R>> {
        let idx = self.tree.indexes.get(self.position)?;
        while !self.done {
            let step = match &self.front {
                None => idx.first(self.value.as_slice()),
                Some(e) => e.next(),
            };
            match step {
                Some(e) if self.within(&e, self.back.as_ref(), true) => {
                    let key = *e.value().key();
                    self.front = Some(e);
                    if let Some(r) = self.tree.matching(&key, self.position, self.value.as_slice()) {
                        return Some(r);
                    }
                }
                _ => self.done = true,
            }
        }
        None
    }
}

impl<R: Record> DoubleEndedIterator for FindBy<'_, R> {
    fn next_back(&mut self) -> Option<Arc<R>> {
        let idx = self.tree.indexes.get(self.position)?;
        while !self.done {
            let step = match &self.back {
                None => idx.last(self.value.as_slice()),
                Some(e) => e.prev(),
            };
            match step {
                Some(e) if self.within(&e, self.front.as_ref(), false) => {
                    let key = *e.value().key();
                    self.back = Some(e);
                    if let Some(r) = self.tree.matching(&key, self.position, self.value.as_slice()) {
                        return Some(r);
                    }
                }
                _ => self.done = true,
            }
        }
        None
    }
}

impl<R: Record> std::iter::FusedIterator for FindBy<'_, R> {}
