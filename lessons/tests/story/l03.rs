//! Lesson 03: `#[must_use]` is only a lint.

use crate::{assert_says, lessons, section};

#[test]
fn lesson_03_token_as_statement_is_abandoned_and_cancelled_by_the_kernel() {
    let story = lessons(&["03"]);
    let a = section(&story, "-- (a) a token as a statement");
    assert_says(
        a,
        &[
            "right after the statement: abandoned: 1, cancelled: 0",
            "| the Timeout operation submitted at lessons/src/lessons/l03_must_use_is_a_lint.rs:",
            "|   was abandoned; the kernel cancelled it before it did anything",
            "once the kernel answered: abandoned: 1, cancelled: 1",
        ],
    );
}

#[test]
fn lesson_03_let_underscore_drops_the_token_at_once() {
    let story = lessons(&["03"]);
    let b = section(&story, "-- (b) `let _ = ...`");
    assert_says(
        b,
        &[
            "right after the statement: abandoned: 2, cancelled: 1",
            "|   was abandoned; the kernel cancelled it before it did anything",
            "once the kernel answered: abandoned: 2, cancelled: 2",
        ],
    );
}

#[test]
fn lesson_03_map_insert_over_a_live_token_loses_it_with_every_lint_denied() {
    let story = lessons(&["03"]);
    let c = section(&story, "-- (c) `HashMap::insert`");
    assert_says(
        c,
        &[
            "right after the second insert: abandoned: 3, cancelled: 2",
            "|   was abandoned; the kernel cancelled it before it did anything",
            "once the kernel answered: abandoned: 3, cancelled: 3",
            "the token left under \"report\" was cancelled properly: Cancelled(())",
        ],
    );
    // One sentence from the hook per lost timer, no more.
    let sentences = story.matches("was abandoned;").count();
    assert_eq!(sentences, 3, "{story}");
    assert_says(
        &story,
        &["In all: abandoned: 3, cancelled: 4, in flight: 0."],
    );
}
