//! A tree's shape (kind, key length, value length) is fixed when it is created:
//! opening the name with another shape is `Error::TreeMismatch` naming the tree,
//! in the same process and after reopen, and leaves the tree intact. Opening
//! the same tree twice shares its data; another key type of the same length in
//! the same process is refused. Bad tree names and bad `Config` values are
//! `Error::InvalidArgument`.
//!
//! Guards against a tree silently reinterpreting another tree's entries (a
//! const tree decoding var entries, 8-byte keys read as 4-byte ones), two
//! handles of one tree with separate indexes, and bad arguments that reach the
//! disk instead of being refused.

use armdb::limits::{MAX_SHARDS, MAX_TREE_NAME_LEN, MIN_FILE_SIZE};
use armdb::{Config, Db, Durability, Error};

fn config() -> Config {
    Config { max_file_size: 4096, shards: 2, durability: Durability::Flush, ..Config::default() }
}

#[track_caller]
fn assert_mismatch<T: std::fmt::Debug>(result: armdb::Result<T>, name: &str, what: &str) {
    match result {
        Err(e) => {
            let message = e.to_string();
            match e {
                Error::TreeMismatch { tree, reason } => {
                    assert_eq!(tree, name, "{what}: the error names the tree");
                    assert!(!reason.is_empty(), "{what}: the error says what differs");
                    assert!(message.contains(name), "{what}: message {message:?} names the tree");
                }
                other => panic!("{what}: expected Error::TreeMismatch, got {other:?}"),
            }
        }
        Ok(t) => panic!("{what}: expected Error::TreeMismatch, the tree opened: {t:?}"),
    }
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: armdb::Result<T>, what: &str) {
    match result {
        Err(Error::InvalidArgument(message)) => {
            assert!(!message.is_empty(), "{what}: the error says what is wrong");
        }
        other => panic!("{what}: expected Error::InvalidArgument, got {other:?}"),
    }
}

/// Every way to open `consts` (a `const_tree::<u32, 8>`) or `vars` (a
/// `var_tree::<u32>`) with the wrong shape.
fn assert_every_wrong_shape_refused(db: &Db, when: &str) {
    assert_mismatch(db.var_tree::<u32>("consts"), "consts", &format!("{when}: const tree opened as var"));
    assert_mismatch(
        db.const_tree::<u64, 8>("consts"),
        "consts",
        &format!("{when}: const tree opened with 8-byte keys"),
    );
    assert_mismatch(
        db.const_tree::<u16, 8>("consts"),
        "consts",
        &format!("{when}: const tree opened with 2-byte keys"),
    );
    assert_mismatch(
        db.const_tree::<u32, 16>("consts"),
        "consts",
        &format!("{when}: const tree opened with 16-byte values"),
    );
    assert_mismatch(
        db.const_tree::<u32, 4>("consts"),
        "consts",
        &format!("{when}: const tree opened with 4-byte values"),
    );
    assert_mismatch(db.const_tree::<u32, 8>("vars"), "vars", &format!("{when}: var tree opened as const"));
    assert_mismatch(db.var_tree::<u64>("vars"), "vars", &format!("{when}: var tree opened with 8-byte keys"));
    assert_mismatch(db.var_tree::<u8>("vars"), "vars", &format!("{when}: var tree opened with 1-byte keys"));
}

#[test]
fn another_shape_is_a_tree_mismatch_in_process_and_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), config()).expect("open");
        let consts = db.const_tree::<u32, 8>("consts").expect("const tree");
        let vars = db.var_tree::<u32>("vars").expect("var tree");
        for k in 0..200u32 {
            consts.put(&k, &u64::from(k).to_le_bytes()).expect("put const");
            vars.put(&k, format!("v{k}").as_bytes()).expect("put var");
        }
        assert_every_wrong_shape_refused(&db, "same process");
        // A refused open changes nothing: no new tree, the data is intact.
        assert_eq!(db.stats().trees, 2, "a refused open must not create a tree");
        assert_eq!(consts.len(), 200);
        assert_eq!(vars.get(&7).expect("get").as_deref(), Some(&b"v7"[..]));
        drop((consts, vars));
        db.close().expect("close");
    }
    {
        // After reopen, before the right shape is opened: the check uses the stored catalog.
        let db = Db::open(dir.path(), config()).expect("reopen");
        assert_every_wrong_shape_refused(&db, "after reopen, nothing opened yet");
        let consts = db.const_tree::<u32, 8>("consts").expect("const tree");
        let vars = db.var_tree::<u32>("vars").expect("var tree");
        assert_every_wrong_shape_refused(&db, "after reopen, both trees opened");
        assert_eq!(db.stats().trees, 2);
        assert_eq!(consts.len(), 200);
        assert_eq!(consts.get(&199), Some(199u64.to_le_bytes()));
        assert_eq!(vars.len(), 200);
        assert_eq!(vars.get(&199).expect("get").as_deref(), Some(&b"v199"[..]));
        drop((consts, vars));
        db.close().expect("close");
    }
}

#[test]
fn opening_a_tree_twice_shares_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    let c1 = db.const_tree::<u32, 4>("c").expect("const tree");
    let c2 = db.const_tree::<u32, 4>("c").expect("const tree again");
    let v1 = db.var_tree::<u32>("v").expect("var tree");
    let v2 = db.clone().var_tree::<u32>("v").expect("var tree again, through a Db clone");

    c1.put(&1, b"one!").expect("put");
    assert_eq!(c2.get(&1), Some(*b"one!"), "a write through one handle is seen by the other");
    assert!(!c2.insert(&1, b"two!").expect("insert"), "insert sees the key written through the other handle");
    assert_eq!(c2.delete(&1).expect("delete"), Some(*b"one!"));
    assert_eq!(c1.get(&1), None, "a delete through one handle is seen by the other");
    assert_eq!(c1.len(), c2.len());

    v1.put(&1, b"first").expect("put");
    assert_eq!(v2.get(&1).expect("get").as_deref(), Some(&b"first"[..]));
    assert!(v2.cas(&1, Some(b"first"), Some(b"second")).expect("cas"));
    assert_eq!(v1.get(&1).expect("get").as_deref(), Some(&b"second"[..]));
    assert!(v1.delete(&1).expect("delete"));
    assert!(!v2.contains(&1));
    assert_eq!(db.stats().trees, 2, "opening twice does not create a second tree");
    drop((c1, c2, v1, v2));
    db.close().expect("close");
}

#[test]
fn another_key_type_of_the_same_length_is_refused_in_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), config()).expect("open");
        let c = db.const_tree::<u32, 8>("c").expect("const tree");
        let v = db.var_tree::<u32>("v").expect("var tree");
        c.put(&0x0102_0304, &[7; 8]).expect("put");
        v.put(&0x0102_0304, b"seven").expect("put");
        assert_mismatch(db.const_tree::<[u8; 4], 8>("c"), "c", "const tree reopened with [u8; 4] keys");
        assert_mismatch(db.const_tree::<i32, 8>("c"), "c", "const tree reopened with i32 keys");
        assert_mismatch(db.var_tree::<[u8; 4]>("v"), "v", "var tree reopened with [u8; 4] keys");
        assert_mismatch(db.var_tree::<i32>("v"), "v", "var tree reopened with i32 keys");
        // The handle in use still works, and dropping it does not lift the check.
        assert_eq!(c.get(&0x0102_0304), Some([7; 8]));
        drop(c);
        assert_mismatch(db.const_tree::<[u8; 4], 8>("c"), "c", "after dropping the u32 handle");
        drop(v);
        db.close().expect("close");
    }
    // In a new process (a reopen), the stored shape is all that is checked: a
    // key type of the same length opens and sees the big-endian encoding.
    let db = Db::open(dir.path(), config()).expect("reopen");
    let c = db.const_tree::<[u8; 4], 8>("c").expect("same key length, other key type");
    assert_eq!(c.iter().collect::<Vec<_>>(), vec![([1, 2, 3, 4], [7; 8])]);
    assert_mismatch(db.const_tree::<u32, 8>("c"), "c", "u32 after [u8; 4] in the same process");
    drop(c);
    db.close().expect("close");
}

#[test]
fn tree_names_must_be_1_to_255_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    assert_invalid(db.const_tree::<u32, 8>(""), "empty const tree name");
    assert_invalid(db.var_tree::<u32>(""), "empty var tree name");
    let too_long = "n".repeat(MAX_TREE_NAME_LEN + 1);
    assert_invalid(db.const_tree::<u32, 8>(&too_long), "256-byte const tree name");
    assert_invalid(db.var_tree::<u32>(&too_long), "256-byte var tree name");
    // The limit is in bytes of UTF-8, not characters: 128 two-byte characters are 256 bytes.
    let too_long_utf8 = "é".repeat(128);
    assert_eq!(too_long_utf8.len(), 256);
    assert_invalid(db.var_tree::<u32>(&too_long_utf8), "128 two-byte characters");
    assert_eq!(db.stats().trees, 0, "no refused name reached the catalog");

    // The boundaries themselves are accepted and survive a reopen.
    let longest = "L".repeat(MAX_TREE_NAME_LEN);
    let t = db.const_tree::<u32, 8>(&longest).expect("255-byte name");
    t.put(&1, &[1; 8]).expect("put");
    let one = db.var_tree::<u32>("x").expect("1-byte name");
    one.put(&1, b"x").expect("put");
    drop((t, one));
    db.close().expect("close");

    let db = Db::open(dir.path(), config()).expect("reopen");
    assert_eq!(db.stats().trees, 2);
    let t = db.const_tree::<u32, 8>(&longest).expect("255-byte name after reopen");
    assert_eq!(t.get(&1), Some([1; 8]));
    let one = db.var_tree::<u32>("x").expect("1-byte name after reopen");
    assert_eq!(one.get(&1).expect("get").as_deref(), Some(&b"x"[..]));
    drop((t, one));
    db.close().expect("close");
}

#[test]
fn invalid_config_values_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = [
        ("shards 0", Config { shards: 0, ..config() }),
        ("shards above MAX_SHARDS", Config { shards: MAX_SHARDS + 1, ..config() }),
        ("max_file_size 0", Config { max_file_size: 0, ..config() }),
        ("max_file_size 512", Config { max_file_size: 512, ..config() }),
        ("max_file_size just under the minimum", Config { max_file_size: MIN_FILE_SIZE - 1, ..config() }),
        ("max_file_size u64::MAX", Config { max_file_size: u64::MAX, ..config() }),
        ("write_buffer_size 0", Config { write_buffer_size: 0, ..config() }),
        (
            "flush_every 0",
            Config {
                durability: Durability::Buffered { flush_every: std::time::Duration::ZERO },
                ..config()
            },
        ),
    ];
    for (what, c) in bad {
        assert_invalid(c.validate(), &format!("Config::validate with {what}"));
        assert_invalid(Db::open(dir.path(), c), &format!("Db::open with {what}"));
    }
    // A refused open holds no lock and leaves nothing half-created behind.
    let ok = Config { max_file_size: MIN_FILE_SIZE, shards: 1, ..config() };
    ok.validate().expect("the smallest valid file size and shard count");
    let db = Db::open(dir.path(), ok).expect("open with a valid config after refused ones");
    assert_eq!(db.stats().shards, 1);
    db.close().expect("close");
}
