//! Lesson 09: Generic code drops.

use crate::{assert_says, lessons};

/// The story with runs of spaces squeezed to one, so that the claims do not depend
/// on how the lesson aligns its columns.
fn story() -> String {
    lessons(&["09"])
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn lesson_09_truncate_and_take_drop_the_tokens_they_do_not_keep() {
    let story = story();
    assert_says(
        &story,
        &[
            "`pending.truncate(1)` of 3 tokens abandoned 0 -> 2",
            "the same sentence 2 times",
            "the one token kept was cancelled properly: 1 confirmed by the kernel",
            "after that proper cancel abandoned 2 -> 2",
            "`.into_iter().take(1)` of 3 tokens abandoned 2 -> 4",
            "| the Timeout operation submitted at lessons/src/lessons/l09_generic_code_drops.rs:",
            "| was abandoned; the kernel cancelled it before it did anything",
        ],
    );
}

#[test]
fn lesson_09_assignment_drops_the_old_token_and_mem_replace_hands_it_back() {
    let story = story();
    assert_says(
        &story,
        &[
            "`conn.pending = hour(&ring);` abandoned 4 -> 5",
            "`mem::replace`, old one cancelled abandoned 5 -> 5",
            "(1 cancel confirmed; nothing abandoned)",
        ],
    );
}

#[test]
fn lesson_09_option_combinators_each_discard_one_token() {
    let story = story();
    assert_says(
        &story,
        &[
            "`first.or(second)` abandoned 5 -> 6",
            "`first.and(second)` abandoned 6 -> 7",
            "`first.unwrap_or(second)` abandoned 7 -> 8",
            "`slot.replace(new);` abandoned 8 -> 9",
            "`slot.insert(new)` abandoned 9 -> 10",
        ],
    );
    // Which token each one dropped, from the location its on_abandon sentence names.
    let dropped: Vec<&str> = story
        .lines()
        .filter_map(|l| l.trim().strip_prefix("dropped: "))
        .map(|rest| rest.split(" (").next().unwrap_or(rest))
        .collect();
    assert_eq!(
        dropped,
        [
            "the second",
            "the first",
            "the second",
            "the old",
            "the old"
        ],
        "{story}"
    );
}

#[test]
fn lesson_09_retain_clear_and_an_unbounded_generic_function_drop_tokens() {
    let story = story();
    assert_says(
        &story,
        &[
            "`retain` of the even ids, of 4 abandoned 10 -> 12",
            "`clear` of the 2 left abandoned 12 -> 14",
            "`ignore(token)` abandoned 14 -> 15",
            "in total: abandoned = 15, in_flight = 0.",
        ],
    );
}
