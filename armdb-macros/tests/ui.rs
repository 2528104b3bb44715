//! Compile-fail tests of `#[derive(Tree)]`: every misuse is a compile error
//! that points at the offending field, attribute or item, one misuse per file
//! in `tests/ui/`, its expected compiler output beside it.
//!
//! Guards against a mistake that compiles and misbehaves at run time (a
//! variable-size key, an unknown option silently ignored), and against errors
//! that point into generated code instead of at the user's line.
//!
//! Regenerate the `.stderr` files after an intended change with
//! `TRYBUILD=overwrite cargo test -p armdb-macros --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
