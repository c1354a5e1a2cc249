//! Lesson 05: The drop bomb: `Panic`, `Reclaim` and `Abort`.

use crate::{assert_says, lessons, section};

/// The hook's line, second half: the receive had completed with the 19 bytes.
const LOST: &str = "|   was abandoned; it completed anyway (result 19), and that result was lost";

/// The `file:line:col` after " submitted at " on the first line of `section` that
/// contains `prefix`.
fn location<'a>(section: &'a str, prefix: &str) -> &'a str {
    section
        .lines()
        .find(|l| l.contains(prefix))
        .and_then(|l| l.split_once(" submitted at "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{section}"))
}

#[test]
fn lesson_05_panic_policy_panics_naming_the_line_that_submitted_the_receive() {
    let story = lessons(&["05"]);
    let panic = section(&story, "-- DropPolicy::Panic");
    assert_says(
        panic,
        &[
            "The child exited with code 101. It printed:",
            "| the Recv operation submitted at lessons/src/lessons/l05_drop_bomb.rs:",
            LOST,
            "panicked at",
            "(DropPolicy::Panic;",
        ],
    );
    // The panic's message names the same line as the hook: the one that submitted
    // the receive, in the lesson, not in the library.
    let hook = location(panic, "| the Recv operation submitted at ");
    let message = location(panic, "| linear-uring: the Recv operation submitted at ");
    assert_eq!(hook, message, "{panic}");
    assert!(
        hook.starts_with("lessons/src/lessons/l05_drop_bomb.rs:"),
        "{panic}"
    );
    assert_says(panic, &[&format!("Its message names {message}:")]);
}

#[test]
fn lesson_05_reclaim_policy_counts_the_loss_and_goes_on_without_the_bytes() {
    let story = lessons(&["05"]);
    let reclaim = section(&story, "-- DropPolicy::Reclaim");
    assert_says(
        reclaim,
        &[
            "The child exited with code 0. It printed:",
            LOST,
            "the next receive got 14 bytes, \"second message\": the first 19 never arrive",
            "stats: abandoned 1, in flight 0",
        ],
    );
    assert!(!reclaim.contains("linear-uring: "), "{reclaim}");
}

#[test]
fn lesson_05_abort_policy_prints_the_message_and_aborts() {
    let story = lessons(&["05"]);
    let abort = section(&story, "-- DropPolicy::Abort");
    assert_says(
        abort,
        &[
            "The child was killed by signal 6 (SIGABRT): the process aborted. It printed:",
            LOST,
            "| linear-uring: the Recv operation submitted at lessons/src/lessons/l05_drop_bomb.rs:",
            "(DropPolicy::Abort;",
        ],
    );
    assert!(!abort.contains("the next receive got"), "{abort}");
}

#[test]
fn lesson_05_every_policy_saw_the_same_loss() {
    let story = lessons(&["05"]);
    assert_eq!(story.matches(LOST).count(), 3, "{story}");
    assert_says(&story, &["and the hook reported the same loss in 3"]);
}
