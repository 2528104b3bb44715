//! armdb's typed layer: `TypedTree<Pair>` of a `#[derive(Tree)]` record, the
//! counterpart of native_db's typed records. Records are encoded with the
//! default codec (postcard) in the log and held decoded in memory.

use armdb::{Batch, Db, Prefix, TypedTree};
use serde::{Deserialize, Serialize};

use super::armdb::TreeKind;
use crate::Result;
use crate::data::{Key, Value, verify};

/// The benchmark's pair as a typed record, written the way a user would.
#[derive(armdb::Tree, Serialize, Deserialize, Debug)]
#[tree(name = "bench")]
pub struct Pair {
    #[key]
    key: Key,
    value: Vec<u8>,
}

/// `TypedTree<Pair>`: records decoded in memory.
#[derive(Debug)]
pub struct Typed;

impl TreeKind for Typed {
    type Tree = TypedTree<Pair>;
    fn open_tree(db: &Db) -> armdb::Result<Self::Tree> {
        db.tree::<Pair>()
    }
    fn put(batch: &mut Batch, tree: &Self::Tree, key: &Key, value: &Value) {
        batch.put(tree, &Pair { key: *key, value: value.to_vec() });
    }
    fn put_one(tree: &Self::Tree, key: &Key, value: &Value) -> armdb::Result<()> {
        tree.put(&Pair { key: *key, value: value.to_vec() }).map(drop)
    }
    fn delete(batch: &mut Batch, tree: &Self::Tree, key: &Key) {
        batch.delete(tree, key);
    }
    fn len(tree: &Self::Tree) -> usize {
        tree.len()
    }
    fn get(tree: &Self::Tree, key: &Key) -> Result<bool> {
        let Some(pair) = tree.get(key)? else { return Ok(false) };
        verify(key, &pair.value)?;
        Ok(true)
    }
    fn range(tree: &Self::Tree, from: &Key, n: usize) -> Result<usize> {
        let mut read = 0;
        for pair in tree.range(from..).take(n) {
            verify(&pair.key, &pair.value)?;
            read += 1;
        }
        Ok(read)
    }
    fn prefix(tree: &Self::Tree, prefix: Prefix<Key>) -> Result<usize> {
        let mut read = 0;
        for pair in tree.prefix(prefix) {
            verify(&pair.key, &pair.value)?;
            read += 1;
        }
        Ok(read)
    }
}
