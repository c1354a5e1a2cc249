//! Lesson 04: Typestate: description, token, output.

use crate::{assert_says, lessons};

#[test]
fn lesson_04_description_built_and_dropped_submits_nothing() {
    let story = lessons(&["04"]);
    assert_says(
        &story,
        &[
            "`Timeout::new(&ring, one hour)` is a Prepared<Timeout>:",
            "| Prepared { op: \"Timeout\", .. }",
            "built and dropped: submitted: 0 before, 0 after; abandoned: 0, in flight: 0.",
        ],
    );
}

#[test]
fn lesson_04_linked_timeout_on_unanswered_accept_gives_timed_out() {
    let story = lessons(&["04"]);
    assert_says(
        &story,
        &[
            "is still a Prepared<Accept<TcpStream>>:",
            "`.submit()` took the description and returned an Op<Accept<TcpStream>>,",
            "submitted at lessons/src/lessons/l04_typestate.rs:",
            "`complete().await` gave an error of kind TimedOut, which says:",
            "| the Accept operation timed out",
        ],
    );
}

#[test]
fn lesson_04_each_state_is_a_type_and_complete_gives_the_output() {
    let story = lessons(&["04"]);
    assert_says(
        &story,
        &[
            "1. Prepared<Timeout>",
            "2. Op<Timeout>   after `.submit()`",
            "3. Result<(), Error>   after `.complete().await`: Ok(())",
            "the ring counted submitted: 2, completed: 2, in flight: 0",
        ],
    );
}
