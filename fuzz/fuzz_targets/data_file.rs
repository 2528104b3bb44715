//! Coverage-guided fuzzing of the data file decoder: the input replaces
//! a data file of a shard of a tiny valid database in a simulated file
//! system, which is then opened, read back, written to and reopened. The pass
//! criterion (no panic, no oversized allocation, only clear `armdb::Error`s,
//! idempotent recovery) is in `fuzz/src/targets.rs`.

#![no_main]

use armdb_fuzz::targets::{Target, run};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run(Target::DataFile, data);
});
