//! Which files a compaction pass rewrites: a pure function of file statistics.

/// What selection knows about one sealed file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct FileStat {
    pub id: u32,
    /// Bytes of entries (the header not counted).
    pub bytes: u64,
    /// Bytes of entries no index points at.
    pub dead: u64,
}

impl FileStat {
    fn ratio(&self) -> f64 {
        if self.bytes == 0 { 1.0 } else { self.dead.min(self.bytes) as f64 / self.bytes as f64 }
    }
}

/// The files whose dead ratio is at least `min_ratio` (and that hold any dead
/// byte), most garbage first, until their sizes add up to `budget` bytes (the
/// first file is taken whatever its size). Returned in id order.
pub(crate) fn select(files: &[FileStat], min_ratio: f64, budget: u64) -> Vec<u32> {
    let mut candidates: Vec<&FileStat> =
        files.iter().filter(|f| (f.dead > 0 || f.bytes == 0) && f.ratio() >= min_ratio).collect();
    candidates.sort_by(|a, b| b.ratio().total_cmp(&a.ratio()).then(a.id.cmp(&b.id)));
    let mut taken = Vec::new();
    let mut total = 0u64;
    for f in candidates {
        if !taken.is_empty() && total + f.bytes > budget {
            break;
        }
        total += f.bytes;
        taken.push(f.id);
    }
    taken.sort_unstable();
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: u32, bytes: u64, dead: u64) -> FileStat {
        FileStat { id, bytes, dead }
    }

    #[test]
    fn takes_the_most_garbage_first_within_budget() {
        let files = [f(1, 100, 90), f(2, 100, 10), f(3, 100, 60), f(4, 100, 100)];
        assert_eq!(select(&files, 0.5, 1000), vec![1, 3, 4]);
        assert_eq!(select(&files, 0.5, 150), vec![4]);
        assert_eq!(select(&files, 0.5, 200), vec![1, 4]);
        assert_eq!(select(&files, 0.0, u64::MAX), vec![1, 2, 3, 4]);
    }

    #[test]
    fn files_without_garbage_are_left_alone() {
        assert!(select(&[f(1, 100, 0)], 0.0, u64::MAX).is_empty());
        assert_eq!(select(&[f(1, 0, 0)], 0.5, 10), vec![1]);
    }
}
