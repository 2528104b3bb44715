//! The workspace package: its `examples/` and `tests/` exercise the armdb crates together.
