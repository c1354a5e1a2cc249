//! Every rejected program of the lessons, kept honest by trybuild.
//!
//! `cargo run -p lessons -- show NN` compiles these programs afresh and prints what
//! rustc says now; this test pins that output in the `.stderr` beside each program,
//! so that a change in the library or the compiler that changes a lesson's error
//! fails CI instead of going unnoticed. Like `ui-tests/`, the snapshots are only
//! meaningful for the toolchain that wrote them, rustc 1.95 (stable); on any other,
//! the test is ignored and says why. Re-bless with
//! `TRYBUILD=overwrite cargo test -p lessons --test broken` and read the diff.

/// Each program in `broken/*/` fails to compile with the stored diagnostics.
#[rustversion::stable(1.95)]
#[test]
fn broken_programs_fail_with_their_lessons_error() {
    trybuild::TestCases::new().compile_fail("broken/*/*.rs");
}

/// Stands in for the test above on a toolchain the snapshots were not made with.
#[rustversion::not(stable(1.95))]
#[test]
#[ignore = "the broken/ .stderr snapshots were made with rustc 1.95 (stable); run on 1.95, \
            or re-bless with `TRYBUILD=overwrite cargo test -p lessons --test broken` and \
            read the diff"]
fn broken_programs_fail_with_their_lessons_error() {}
