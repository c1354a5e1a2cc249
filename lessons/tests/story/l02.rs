//! Lesson 02: Affine tokens: `complete(self)`, no `Clone`.

use crate::{assert_says, lessons};

#[test]
fn lesson_02_nop_completed_and_timer_cancelled_consume_their_tokens() {
    let story = lessons(&["02"]);
    assert_says(
        &story,
        &[
            "| Op {",
            "kind: \"Nop\",",
            "it was submitted at lessons/src/lessons/l02_affine_tokens.rs:",
            "took the token and gave Ok(()). The ring counted",
            "submitted: 1, completed: 1 (before the await: completed: 0).",
            "the timer's token was submitted at lessons/src/lessons/l02_affine_tokens.rs:",
            "took the token and resolved to Cancelled(()): the",
            "submitted: 2, completed: 2, cancelled: 1, abandoned: 0, in flight: 0.",
        ],
    );
}

#[test]
fn lesson_02_clone_probe_says_tokens_are_not_clone_but_the_ring_is() {
    let story = lessons(&["02"]);
    let answer = |ty: &str| {
        story
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(ty))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("the story lacks the line for {ty}:\n{story}"))
    };
    assert_eq!(answer("String "), "yes");
    assert_eq!(answer("Ring "), "yes");
    assert_eq!(answer("Op<Nop> "), "no");
    assert_eq!(answer("Op<Timeout> "), "no");
}

#[test]
fn lesson_02_token_dropped_unconsumed_compiles_and_is_counted_abandoned() {
    let story = lessons(&["02"]);
    assert_says(
        &story,
        &[
            "was dropped unconsumed with `drop(op)`. The compiler accepted it; the ring",
            "counted abandoned: 1.",
        ],
    );
}
