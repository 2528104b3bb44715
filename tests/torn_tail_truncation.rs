//! A log cut at every byte offset of its last 300 bytes — what a crash in the
//! middle of an append leaves — reopens as an exact prefix of the writes.
//!
//! One shard, `Durability::Flush`, a recorded trace of puts and deletes on a
//! VarTree and a ConstTree spanning two data files. For every cut of the active
//! file, recovery must keep exactly the entries that are whole (so the state
//! equals the model after the first k ops, with k non-decreasing as the cut
//! grows), report the cut-off bytes in `truncated_bytes`, and accept new
//! writes that survive another reopen. A second case tears an entry whose value
//! holds the bytes of a whole entry. Guards against refusing to open a torn
//! tail, keeping half an entry, taking bytes of a value for an entry, dropping
//! whole entries before the tear, miscounting truncated bytes, and appending
//! after a tail left in place.

mod support;

use armdb::{Config, CorruptionPolicy, Db, Durability};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use support::{
    ENTRY_HEADER_LEN, FILE_HEADER_LEN, TreesModel, encode_entry, entries_end, is_data_file, parse_entries,
    restore_dir_with_cut, snapshot_dir,
};

const DEFAULT_SEED: u64 = 0x0C0D_0004;
/// How much of the end of the active file is cut, one offset at a time.
const CUT_SPAN: usize = 300;

fn config() -> Config {
    Config { shards: 1, max_file_size: 4096, durability: Durability::Flush, ..Config::default() }
}

#[derive(Clone, Debug)]
enum Op {
    VarPut(u32, Vec<u8>),
    VarDelete(u32),
    ConstPut(u16, [u8; 8]),
    ConstDelete(u16),
}

/// A const tree with `u16` keys and a var tree with `u32` keys.
type Model = TreesModel<u16, 8, u32>;

impl Op {
    fn apply_to(&self, model: &mut Model) {
        match self {
            Op::VarPut(k, v) => {
                model.var.insert(*k, v.clone());
            }
            Op::VarDelete(k) => {
                model.var.remove(k);
            }
            Op::ConstPut(k, v) => {
                model.consts.insert(*k, *v);
            }
            Op::ConstDelete(k) => {
                model.consts.remove(k);
            }
        }
    }
}

/// Reads both trees of an open database.
fn state(db: &Db) -> Model {
    Model::read(db, "const", "var")
}

/// Picks the next op. Deletes only target present keys, so that every op
/// appends exactly one entry.
fn next_op(rng: &mut SmallRng, model: &Model, i: usize) -> Op {
    match rng.random_range(0..10) {
        0 if !model.var.is_empty() => {
            let k = *model.var.keys().nth(rng.random_range(0..model.var.len())).expect("key");
            Op::VarDelete(k)
        }
        1 if !model.consts.is_empty() => {
            let k = *model.consts.keys().nth(rng.random_range(0..model.consts.len())).expect("key");
            Op::ConstDelete(k)
        }
        2..=3 => {
            let mut v = [0u8; 8];
            v[..4].copy_from_slice(&(i as u32).to_le_bytes());
            v[4..].copy_from_slice(&rng.random::<[u8; 4]>());
            Op::ConstPut(rng.random_range(0..12), v)
        }
        _ => {
            let len = rng.random_range(0..48);
            let mut v = format!("op{i}:").into_bytes();
            v.extend((0..len).map(|_| rng.random_range(b'a'..=b'z')));
            Op::VarPut(rng.random_range(0..20), v)
        }
    }
}

fn apply_to_db(db: &Db, op: &Op) {
    let var = db.var_tree::<u32>("var").expect("var tree");
    let consts = db.const_tree::<u16, 8>("const").expect("const tree");
    match op {
        Op::VarPut(k, v) => var.put(k, v).expect("put"),
        Op::VarDelete(k) => assert!(var.delete(k).expect("delete"), "deletes target present keys"),
        Op::ConstPut(k, v) => {
            consts.put(k, v).expect("put");
        }
        Op::ConstDelete(k) => assert!(consts.delete(k).expect("delete").is_some()),
    }
}

#[test]
fn every_cut_of_the_tail_recovers_an_exact_prefix() {
    let seed = support::seed(DEFAULT_SEED);
    let mut rng = SmallRng::seed_from_u64(seed);
    let base = tempfile::tempdir().expect("tempdir");
    let original = base.path().join("original");

    // Write until the shard has rotated once and the second file holds more than
    // CUT_SPAN bytes of entries (every entry is at least 32 bytes).
    let mut ops = Vec::new();
    let mut model = Model::default();
    {
        let db = Db::open(&original, config()).expect("open");
        let mut after_rotation = 0;
        while after_rotation < 20 {
            let op = next_op(&mut rng, &model, ops.len());
            apply_to_db(&db, &op);
            op.apply_to(&mut model);
            ops.push(op);
            if db.stats().files > 1 {
                after_rotation += 1;
            }
        }
        assert_eq!(db.stats().files, 2, "the trace spans two files");
        assert_eq!(state(&db), model);
        db.close().expect("close");
    }
    let models: Vec<Model> = std::iter::once(Model::default())
        .chain(ops.iter().scan(Model::default(), |m, op| {
            op.apply_to(m);
            Some(m.clone())
        }))
        .collect();

    let pristine = snapshot_dir(&original);
    // Data files are named by their id: the last one is the active file.
    let (active, active_bytes) = pristine
        .iter()
        .rfind(|(rel, _)| is_data_file(rel))
        .map(|(rel, bytes)| (rel.clone(), bytes.clone()))
        .expect("a data file");
    let in_active = parse_entries(&active_bytes, FILE_HEADER_LEN);
    let before_active = ops.len() - in_active.len();
    for (i, e) in in_active.iter().enumerate() {
        assert_eq!(
            e.seq,
            (before_active + i + 1) as u64,
            "entry {i} of the active file is op {}",
            before_active + i
        );
    }
    let len = active_bytes.len();
    assert!(len >= FILE_HEADER_LEN + CUT_SPAN, "active file of {len} bytes is too short");
    println!(
        "{} ops, {before_active} in the sealed file, active file {} of {len} bytes",
        ops.len(),
        active.display()
    );

    let work = base.path().join("work");
    let mut prev_k = 0;
    for cut in len - CUT_SPAN..=len {
        restore_dir_with_cut(&work, &pristine, &active, cut);
        let whole = in_active.iter().take_while(|e| e.end <= cut).count();
        let valid_end = if whole == 0 { FILE_HEADER_LEN } else { in_active[whole - 1].end };
        let expected_k = before_active + whole;

        let db = Db::open(&work, config()).unwrap_or_else(|e| panic!("open after cut at {cut}: {e}"));
        let got = state(&db);
        let matching: Vec<usize> = (0..models.len()).filter(|&k| models[k] == got).collect();
        let k =
            matching.iter().copied().find(|&k| k >= prev_k).unwrap_or_else(|| {
                panic!("cut at {cut}: state is no prefix at or after op {prev_k}: {got:?}")
            });
        assert!(matching.contains(&expected_k), "cut at {cut}: expected the first {expected_k} ops, got {k}");
        prev_k = k;
        let report = db.stats().recovery;
        assert_eq!(report.truncated_bytes, (cut - valid_end) as u64, "truncated bytes for cut at {cut}");
        assert_eq!(report.corrupt_entries, 0, "cut at {cut}");
        let on_disk = std::fs::metadata(work.join(&active)).expect("stat").len();
        assert_eq!(on_disk, valid_end as u64, "cut at {cut}: the torn tail is cut off the file");

        // New writes go after the last whole entry and survive a reopen.
        let var = db.var_tree::<u32>("var").expect("var tree");
        let consts = db.const_tree::<u16, 8>("const").expect("const tree");
        let fresh = format!("after cut {cut}").into_bytes();
        var.put(&1000, &fresh).expect("put after recovery");
        consts.put(&1000, &(cut as u64).to_le_bytes()).expect("put after recovery");
        // Dropping the last handle is a process exit: with `Durability::Flush`
        // the writes are in the OS already. (Skipping `close` also skips an
        // fsync per cut, which keeps the test fast.)
        drop((var, consts, db));
        let mut want = models[expected_k].clone();
        want.var.insert(1000, fresh);
        want.consts.insert(1000, (cut as u64).to_le_bytes());
        let db = Db::open(&work, config()).unwrap_or_else(|e| panic!("second open after cut at {cut}: {e}"));
        assert_eq!(db.stats().recovery.truncated_bytes, 0, "cut at {cut}: the second open is clean");
        assert_eq!(state(&db), want, "cut at {cut}: writes after recovery survive a reopen");
        drop(db);
    }
    assert_eq!(prev_k, ops.len(), "the uncut file recovers every op");
}

/// A torn entry whose value holds the bytes of a whole entry — an application
/// that stores log files, backups or replication frames as values — is still a
/// torn tail. Recovery must truncate it, under either corruption policy, and
/// never take bytes of a value for an entry of the log.
#[test]
fn torn_value_holding_an_entry_image_is_still_a_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), config()).expect("open");
    let var = db.var_tree::<u32>("var").expect("var tree");
    var.put(&1, b"one").expect("put");
    let path = dir.path().join("shard-000").join("0000000001.log");
    let head = std::fs::read(&path).expect("read data file");
    let tree =
        u32::from_le_bytes(head[FILE_HEADER_LEN + 8..FILE_HEADER_LEN + 12].try_into().expect("4 bytes"));
    let outer_at = entries_end(&head);
    // The value starts 28 + 4 bytes into its entry, which is an 8-byte boundary:
    // the image lies where a scan looks for entries.
    let image = encode_entry(1 << 20, tree, &777u32.to_be_bytes(), b"never written by any put");
    let mut value = image.clone();
    value.extend_from_slice(&[0xAB; 64]);
    var.put(&2, &value).expect("put");
    drop(var);
    db.close().expect("close");

    let pristine = std::fs::read(&path).expect("read data file");
    let image_at = outer_at + ENTRY_HEADER_LEN + 4;
    assert_eq!(
        &pristine[image_at..image_at + image.len()],
        &image[..],
        "the image lies 8-byte aligned in the file"
    );
    for cut in image_at + image.len()..pristine.len() {
        for corruption in [CorruptionPolicy::Refuse, CorruptionPolicy::SkipEntry] {
            std::fs::write(&path, &pristine[..cut]).expect("write cut file");
            let ctx = format!("cut at {cut} of {}, {corruption:?}", pristine.len());
            let db = Db::open(dir.path(), Config { corruption, ..config() })
                .unwrap_or_else(|e| panic!("{ctx}: a torn tail must open: {e}"));
            let report = db.stats().recovery;
            assert_eq!(report.truncated_bytes, (cut - outer_at) as u64, "{ctx}: {report:?}");
            assert_eq!(report.corrupt_entries, 0, "{ctx}: {report:?}");
            let var = db.var_tree::<u32>("var").expect("var tree");
            assert_eq!(
                var.get(&777).expect("get").as_deref(),
                None,
                "{ctx}: bytes of a value became an entry"
            );
            assert_eq!(var.get(&2).expect("get").as_deref(), None, "{ctx}: the torn entry is gone");
            assert_eq!(var.get(&1).expect("get").as_deref(), Some(&b"one"[..]), "{ctx}");
            drop(var);
            db.close().expect("close");
        }
    }
}
