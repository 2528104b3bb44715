//! The bytes of a simulated file: a stored prefix, then zeros up to the
//! file's length. A file grown with `set_len` (as an active data file is,
//! ahead of its appends) stores nothing for its hole, like a sparse file on
//! disk, so fsyncs and power cuts copy only what was written. (A write far
//! into the hole stores the zeros before it: the engine only appends.)

/// A file's contents; bytes past `bytes` and below `len` read as zeros.
#[derive(Clone, Debug, Default)]
pub(super) struct Contents {
    bytes: Vec<u8>,
    len: u64,
}

impl Contents {
    pub(super) fn from_vec(bytes: Vec<u8>) -> Self {
        Self { len: bytes.len() as u64, bytes }
    }

    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Fills `buf` from `offset`; `false` if that reads past the end.
    pub(super) fn read(&self, buf: &mut [u8], offset: u64) -> bool {
        if offset.checked_add(buf.len() as u64).is_none_or(|end| end > self.len) {
            return false;
        }
        let start = offset as usize;
        let stored = self.bytes.len().saturating_sub(start).min(buf.len());
        if stored > 0 {
            buf[..stored].copy_from_slice(&self.bytes[start..start + stored]);
        }
        buf[stored..].fill(0);
        true
    }

    /// Writes `data` at `offset`, growing the file if it ends past it.
    pub(super) fn write(&mut self, data: &[u8], offset: u64) {
        let (start, end) = (offset as usize, offset as usize + data.len());
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[start..end].copy_from_slice(data);
        self.len = self.len.max(end as u64);
    }

    /// Cuts or grows the file to `len` bytes; growing stores nothing.
    pub(super) fn set_len(&mut self, len: u64) {
        self.bytes.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        self.len = len;
    }

    /// The byte at `at`: zero in the hole and past the end.
    pub(super) fn byte(&self, at: u64) -> u8 {
        usize::try_from(at).ok().and_then(|i| self.bytes.get(i)).copied().unwrap_or(0)
    }

    /// Bytes a copy of the file must store: no more than either image holds.
    pub(super) fn stored(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Every byte of the file, the hole included.
    pub(super) fn to_vec(&self) -> Vec<u8> {
        let mut out = self.bytes.clone();
        out.resize(self.len as usize, 0);
        out
    }
}
