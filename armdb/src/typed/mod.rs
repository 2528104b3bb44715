//! Typed trees: the records of a `#[derive(Tree)]` struct, encoded with a
//! [`Codec`](codec::Codec) in the log and held decoded in memory as `Arc<R>`,
//! with secondary indexes beside the primary one.

mod batch;
pub mod codec;
pub(crate) mod core;
mod find;
mod handle;
mod index_value;
#[doc(hidden)]
pub mod private;
mod record;
mod secondary;
mod typed_tree;

pub use find::FindBy;
pub use handle::Index;
pub use index_value::{IndexBuf, IndexValue};
pub use record::{IndexDef, Record};
pub use typed_tree::TypedTree;
