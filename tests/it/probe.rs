//! Skipping a test whose opcode the running kernel lacks.

use std::io;

/// Whether `err` says the ring's kernel lacks the op's opcode. If so, prints why the
/// test is skipped, or fails it under `CI=true`, where every opcode must be there.
pub(crate) fn unsupported(err: &io::Error, test: &str) -> bool {
    let missing = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<linear_uring::Error>())
        .is_some_and(|inner| inner.kind() == linear_uring::ErrorKind::Unsupported);
    if missing {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: the kernel lacks the opcode under CI: {err}"
        );
        eprintln!("skipped {test}: {err}");
    }
    missing
}
