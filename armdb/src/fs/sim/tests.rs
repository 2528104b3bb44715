use super::*;

fn fs_with_dir() -> SimFs {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/d")).expect("mkdir");
    fs.sync_dir(Path::new("/")).expect("sync root");
    fs
}

#[test]
fn only_synced_bytes_and_names_survive_a_power_cut() {
    let fs = fs_with_dir();
    let a = fs.open(Path::new("/d/a"), OpenMode::CreateNew).expect("create a");
    a.write_all_at(b"hello", 0).expect("write");
    a.sync_data().expect("sync");
    a.write_all_at(b" world", 5).expect("write");
    let b = fs.open(Path::new("/d/b"), OpenMode::CreateNew).expect("create b");
    b.write_all_at(b"x", 0).expect("write");
    b.sync_data().expect("sync");
    fs.sync_dir(Path::new("/d")).expect("sync dir");
    fs.rename(Path::new("/d/b"), Path::new("/d/c")).expect("rename");
    fs.restart(Loss::DropUnsynced);
    assert!(a.len().is_err(), "a handle from before the cut is dead");
    assert_eq!(fs.read_file(Path::new("/d/a")).as_deref(), Some(&b"hello"[..]));
    assert_eq!(fs.read_file(Path::new("/d/b")).as_deref(), Some(&b"x"[..]), "the rename was not synced");
    assert_eq!(fs.read_file(Path::new("/d/c")), None);
}

#[test]
fn a_file_whose_directory_was_never_synced_is_lost() {
    let fs = fs_with_dir();
    let a = fs.open(Path::new("/d/a"), OpenMode::CreateNew).expect("create");
    a.write_all_at(b"data", 0).expect("write");
    a.sync_data().expect("sync");
    fs.restart(Loss::DropUnsynced);
    assert_eq!(fs.read_file(Path::new("/d/a")), None);
}

#[test]
fn the_nth_sync_cuts_the_power() {
    let fs = fs_with_dir();
    fs.cut_power_at_sync(2);
    let a = fs.open(Path::new("/d/a"), OpenMode::CreateNew).expect("create");
    a.sync_data().expect("first sync");
    assert!(a.sync_data().is_err());
    assert!(fs.is_power_cut());
    assert!(fs.open(Path::new("/d/b"), OpenMode::CreateNew).is_err());
}

#[test]
fn faults_fail_the_nth_call_and_leave_half_a_write() {
    let fs = fs_with_dir();
    let a = fs.open(Path::new("/d/a"), OpenMode::CreateNew).expect("create");
    fs.inject(Fault::once(OpKind::Write, 2, FaultError::NoSpace));
    a.write_all_at(b"1234", 0).expect("first write");
    let e = a.write_all_at(b"abcd", 4).expect_err("second write fails");
    assert!(crate::fs::is_no_space(&e));
    assert_eq!(fs.read_file(Path::new("/d/a")).as_deref(), Some(&b"1234ab"[..]));
    a.write_all_at(b"abcd", 4).expect("third write");
    fs.inject(Fault::once(OpKind::Sync, 1, FaultError::Eio));
    assert!(a.sync_data().is_err());
    assert_eq!(fs.read_file(Path::new("/d/a")).as_deref(), Some(&b""[..]), "dirty pages dropped");
}

#[test]
fn random_pages_keep_whole_pages_of_either_image() {
    let durable = vec![1u8; PAGE + 10];
    let written = vec![2u8; 3 * PAGE];
    let images = (Contents::from_vec(durable.clone()), Contents::from_vec(written.clone()));
    for seed in 0..64 {
        let out = survive(&images.0, &images.1, &mut SplitMix(seed)).to_vec();
        assert!(out.len() == durable.len() || out.len() == written.len());
        for (page, chunk) in out.chunks(PAGE).enumerate() {
            let at = page * PAGE;
            let from_written =
                chunk.iter().enumerate().all(|(i, &b)| written.get(at + i).copied().unwrap_or(0) == b);
            let from_durable =
                chunk.iter().enumerate().all(|(i, &b)| durable.get(at + i).copied().unwrap_or(0) == b);
            assert!(from_written || from_durable, "seed {seed} page {page}");
        }
    }
}

#[test]
fn a_grown_file_reads_zeros_and_stores_none_of_them() {
    let fs = fs_with_dir();
    let a = fs.open(Path::new("/d/a"), OpenMode::CreateNew).expect("create");
    a.write_all_at(b"head", 0).expect("write");
    a.set_len(1 << 30).expect("grow by a gigabyte");
    assert_eq!(a.len().expect("len"), 1 << 30);
    let mut buf = [9u8; 8];
    a.read_exact_at(&mut buf, 2).expect("read across the hole's start");
    assert_eq!(&buf, b"ad\0\0\0\0\0\0");
    assert!(a.read_exact_at(&mut buf, (1 << 30) - 4).is_err(), "read past the end");
    a.set_len(6).expect("cut");
    a.sync_data().expect("fsync");
    fs.sync_dir(Path::new("/d")).expect("fsync the directory");
    fs.restart(Loss::KeepRandomPages { seed: 3 });
    assert_eq!(fs.read_file(Path::new("/d/a")).as_deref(), Some(&b"head\0\0"[..]));
}

#[test]
fn a_lock_is_exclusive_until_dropped_or_restart() {
    let fs = fs_with_dir();
    let l = fs.try_lock(Path::new("/d/LOCK")).expect("lock").expect("free");
    assert!(fs.try_lock(Path::new("/d/LOCK")).expect("lock").is_none());
    drop(l);
    let l2 = fs.try_lock(Path::new("/d/LOCK")).expect("lock").expect("free again");
    fs.restart(Loss::DropUnsynced);
    assert!(fs.try_lock(Path::new("/d/LOCK")).expect("lock").is_some());
    drop(l2);
}
