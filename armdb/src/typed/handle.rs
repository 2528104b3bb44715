//! `Index<R, F>`: a handle naming one secondary index of a record type.

use std::fmt;
use std::marker::PhantomData;

use super::record::{IndexDef, Record};

/// A secondary index of the record type `R` over a field of type `F`.
///
/// Obtained from the `R::by_<field>()` functions `#[derive(Tree)]` generates,
/// and passed to [`TypedTree::get_by`](crate::TypedTree::get_by) and
/// [`TypedTree::find_by`](crate::TypedTree::find_by). Copy, and free to make.
pub struct Index<R, F> {
    position: usize,
    marker: PhantomData<fn() -> (R, F)>,
}

impl<R, F> Clone for Index<R, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R, F> Copy for Index<R, F> {}

impl<R: Record, F> Index<R, F> {
    /// The handle of the index at `position` in `R::INDEXES`. Generated code
    /// calls this with a position that agrees with the field's type.
    #[doc(hidden)]
    pub const fn __new(position: usize) -> Self {
        Self { position, marker: PhantomData }
    }

    /// The index's position in `R::INDEXES`.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The index's definition, if `R` has an index at this position.
    pub fn def(&self) -> Option<&'static IndexDef> {
        R::INDEXES.get(self.position)
    }

    /// The index's name (its field's name), or `"?"` for a handle made by hand
    /// for a position `R` has no index at.
    pub fn name(&self) -> &'static str {
        self.def().map_or("?", IndexDef::name)
    }

    /// Whether the index is unique.
    pub fn is_unique(&self) -> bool {
        self.def().is_some_and(IndexDef::is_unique)
    }
}

impl<R: Record, F> fmt::Debug for Index<R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("tree", &R::NAME)
            .field("name", &self.name())
            .field("unique", &self.is_unique())
            .finish()
    }
}
