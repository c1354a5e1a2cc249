//! Compile-time guarantees of linear-uring, proved with trybuild.
//!
//! Every file in `ui-tests/fail/` is one misuse the compiler must reject, with the
//! exact diagnostic it must print in the `.stderr` beside it; every file in
//! `ui-tests/pass/` is the correct way to do the same thing, and is built and run
//! against the kernel. `ui-tests/README.md` has the table of cases and, for each,
//! what catches the neighbouring mistake the compiler cannot see.
//!
//! Diagnostics change between compiler releases (wording, spans, notes), so the
//! `.stderr` snapshots are only meaningful for the toolchain that wrote them. The
//! suite therefore runs only on that toolchain, selected with `rustversion`; on any
//! other toolchain it is an ignored test whose reason `cargo test` prints, rather
//! than a failure on a reworded note. After a toolchain change, re-bless with
//! `TRYBUILD=overwrite cargo test --test ui`, read the diff of every `.stderr`, and
//! move the `rustversion` gate below to the new version.

/// Builds every compile-fail case and checks its diagnostics against the snapshot,
/// then builds and runs every pass case.
///
/// The snapshots are made with the default features: an optional feature adds
/// implementations (`bytes` adds `IoBufMut` for `BytesMut`) that rustc lists in some
/// diagnostics, so with it on, the suite is skipped (see [`ui`] below).
#[rustversion::stable(1.95)]
#[cfg(not(feature = "bytes"))]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui-tests/fail/*.rs");
    t.pass("ui-tests/pass/*.rs");
}

/// Stands in for [`ui`] on a toolchain the snapshots were not made with: an ignored
/// test, so that `cargo test` shows the skip and its reason instead of a pass.
#[rustversion::not(stable(1.95))]
#[test]
#[ignore = "the ui-tests/ .stderr snapshots were made with rustc 1.95 (stable) and \
            diagnostics differ between releases; run on 1.95, or re-bless with \
            `TRYBUILD=overwrite cargo test --test ui` on this toolchain, read the diff and \
            update the gate in ui-tests/harness.rs"]
fn ui() {}

/// Stands in for [`ui`] when an optional feature is on: its implementations appear in
/// the lists of types rustc quotes, and the snapshots are made without them.
#[rustversion::stable(1.95)]
#[cfg(feature = "bytes")]
#[test]
#[ignore = "the ui-tests/ .stderr snapshots are made with the default features; the \
            `bytes` feature adds implementations that rustc lists in some of them. Run \
            `cargo test --test ui` without features"]
fn ui() {}
