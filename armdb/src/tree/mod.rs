//! The logical layer: trees over the shared log set.

mod const_tree;
pub(crate) mod core;
mod index;
mod var_tree;

pub(crate) use const_tree::ConstSlot;
pub use const_tree::ConstTree;
pub use var_tree::VarTree;
