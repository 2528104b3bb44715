//! Injected faults: which call fails, and with what.

use std::io;

pub(super) const EIO: i32 = 5;
const ENOSPC: i32 = 28;

/// The kinds of calls a [`Fault`] can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// A positional write, or a change of length that grows the file.
    Write,
    /// An fsync of a file.
    Sync,
    /// An fsync of a directory.
    SyncDir,
    /// A rename.
    Rename,
    /// The creation of a file (`OpenMode::CreateNew` or `CreateTruncate`).
    Create,
    /// A positional read.
    Read,
    /// The removal of a file.
    Remove,
}

/// The error a [`Fault`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// `EIO`: the device failed.
    Eio,
    /// `ENOSPC`: the disk is full.
    NoSpace,
}

impl FaultError {
    pub(super) fn to_io(self) -> io::Error {
        match self {
            Self::Eio => io::Error::from_raw_os_error(EIO),
            Self::NoSpace => io::Error::from_raw_os_error(ENOSPC),
        }
    }
}

/// Fails the `nth` call of kind `op` (counted from when the fault is injected,
/// from 1), and with `persist` every later one too until [`SimFs::clear_faults`].
#[derive(Clone, Debug)]
pub struct Fault {
    /// The kind of call to fail.
    pub op: OpKind,
    /// Which call of that kind fails first (1 = the next one).
    pub nth: u64,
    /// The error returned.
    pub error: FaultError,
    /// Keep failing after the `nth` call.
    pub persist: bool,
    /// Count and fail only calls on paths containing this text.
    pub path_contains: Option<String>,
}

impl Fault {
    /// The `nth` call of kind `op` fails once with `error`.
    pub fn once(op: OpKind, nth: u64, error: FaultError) -> Self {
        Self { op, nth, error, persist: false, path_contains: None }
    }

    /// From the `nth` call of kind `op` on, every call fails with `error`.
    pub fn from(op: OpKind, nth: u64, error: FaultError) -> Self {
        Self { persist: true, ..Self::once(op, nth, error) }
    }

    /// Restricts the fault to paths containing `text`.
    pub fn on_paths(mut self, text: &str) -> Self {
        self.path_contains = Some(text.to_owned());
        self
    }
}

#[derive(Debug)]
pub(super) struct Armed {
    pub(super) fault: Fault,
    pub(super) seen: u64,
}
