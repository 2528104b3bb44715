//! The bodies of armdb's decoder fuzz targets (suite 8): see `targets.rs`,
//! which `tests/fuzz_smoke.rs` includes too, so that the coverage-guided
//! fuzzers and the stable smoke run in CI check exactly the same things.

pub mod targets;
