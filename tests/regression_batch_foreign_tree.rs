//! A batch refuses a tree of another database and writes nothing. Found in
//! review: the entries went into the wrong database's log under a tree id its
//! catalog did not know, which then refused to open.

use armdb::{Config, Db, Error};

#[test]
fn batch_with_a_tree_of_another_db_is_refused() {
    let (da, db_dir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = Db::open(da.path(), Config::default()).expect("open a");
    let b = Db::open(db_dir.path(), Config::default()).expect("open b");
    let ta = a.var_tree::<u64>("mine").expect("tree a");
    let tb = b.var_tree::<u64>("only_in_b").expect("tree b");
    let mut batch = a.batch();
    batch.put_var(&ta, &1, b"fine");
    batch.put_var(&tb, &2, b"foreign");
    match batch.commit() {
        Err(Error::InvalidArgument(what)) => assert!(what.contains("another database"), "{what}"),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    assert!(ta.get(&1).expect("get").is_none(), "nothing of the batch was written");
    assert!(tb.get(&2).expect("get").is_none());
    drop((ta, tb));
    a.close().expect("close a");
    b.close().expect("close b");
    assert!(Db::open(da.path(), Config::default()).is_ok(), "a still opens");
}
