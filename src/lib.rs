//! The workspace package: its `examples/` and `tests/` exercise the armdb crates together.
//!
//! The README follows, so that `cargo test` compiles its example.
#![doc = include_str!("../README.md")]
