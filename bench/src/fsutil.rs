//! Sizes on disk and in memory, read from the file system and `/proc`.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::Result;

/// Bytes the files under `dir` occupy on disk (allocated blocks, so sparse
/// files and preallocated space count as the disk sees them).
///
/// # Errors
/// I/O errors of the walk; a file removed during the walk is skipped.
pub fn disk_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        if meta.is_dir() {
            total += disk_bytes(&entry.path())?;
        } else {
            total += meta.blocks() * 512;
        }
    }
    Ok(total)
}

/// Deletes every `*.hint` file under `dir`; returns how many it deleted.
///
/// # Errors
/// I/O errors.
pub fn delete_hints(dir: &Path) -> Result<usize> {
    let mut deleted = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            deleted += delete_hints(&path)?;
        } else if path.extension().is_some_and(|e| e == "hint") {
            std::fs::remove_file(&path)?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Waits until the file system holding `dir` has written back everything
/// (`sync -f`, which calls `syncfs`), so the work left by the previous
/// engine (its deleted files' blocks, the journal) does not slow the
/// durable writes of the next. A `sync` that cannot run is reported and skipped.
pub fn settle(dir: &Path) {
    match std::process::Command::new("sync").arg("-f").arg(dir).status() {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("compare: `sync -f {}` failed ({status}); not settled", dir.display()),
        Err(e) => eprintln!("compare: cannot run `sync -f {}` ({e}); not settled", dir.display()),
    }
}

/// This process's resident set size in bytes (`VmRSS` of `/proc/self/status`).
///
/// # Errors
/// When `/proc` is unreadable or has no `VmRSS` line.
pub fn rss_bytes() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or("no VmRSS in /proc/self/status")?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse()?;
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_hints() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("shard-0")).expect("mkdir");
        std::fs::write(dir.path().join("shard-0/0001.hint"), [1u8; 5000]).expect("write");
        std::fs::write(dir.path().join("shard-0/0001.data"), [1u8; 5000]).expect("write");
        assert!(disk_bytes(dir.path()).expect("size") >= 10_000);
        assert_eq!(delete_hints(dir.path()).expect("delete"), 1);
        assert!(dir.path().join("shard-0/0001.data").exists());
        assert!(rss_bytes().expect("rss") > 0);
    }
}
