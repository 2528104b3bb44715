//! A write, a close and a reopen keep both tree kinds' data.

use armdb::{Config, Db};

#[test]
fn reopen_keeps_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config { max_file_size: 4096, shards: 3, ..Config::default() };
    {
        let db = Db::open(dir.path(), config.clone()).expect("open");
        let c = db.const_tree::<u32, 8>("c").expect("const tree");
        let v = db.var_tree::<u32>("v").expect("var tree");
        for i in 0..500u32 {
            c.put(&i, &u64::from(i).to_le_bytes()).expect("put");
            v.put(&i, format!("value-{i}").as_bytes()).expect("put");
        }
        for i in (0..500u32).step_by(3) {
            c.delete(&i).expect("delete");
            v.delete(&i).expect("delete");
        }
        assert_eq!(v.get(&1).expect("get").as_deref(), Some(&b"value-1"[..]));
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), config).expect("reopen");
    let c = db.const_tree::<u32, 8>("c").expect("const tree");
    let v = db.var_tree::<u32>("v").expect("var tree");
    assert_eq!(c.len(), 500 - 167);
    for i in 0..500u32 {
        let live = i % 3 != 0;
        assert_eq!(c.get(&i).is_some(), live, "const key {i}");
        let got = v.get(&i).expect("get");
        assert_eq!(got.is_some(), live, "var key {i}");
        if live {
            assert_eq!(got.as_deref(), Some(format!("value-{i}").as_bytes()));
        }
    }
    let stats = db.stats();
    assert!(stats.recovery.files > 3, "files should have rotated: {stats:?}");
    assert_eq!(stats.keys, 2 * (500 - 167));
}
