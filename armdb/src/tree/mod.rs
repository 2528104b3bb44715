//! The logical layer: trees over the shared log set.

mod batch;
mod const_tree;
pub(crate) mod core;
mod index;
mod order;
mod read_ahead;
pub(crate) mod registry;
mod var_tree;

pub use batch::Batch;
pub(crate) use batch::BatchOp;
pub(crate) use const_tree::ConstSlot;
pub use const_tree::ConstTree;
pub use var_tree::VarTree;
