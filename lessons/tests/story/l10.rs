//! Lesson 10: `mem::forget` is safe.

use crate::{assert_says, lessons};

#[test]
fn lesson_10_forgotten_lease_runs_no_drop_and_ends_its_borrow() {
    let story = lessons(&["10"]);
    assert_says(
        &story,
        &[
            "was forgotten; its Drop ran 0 times",
            "the very next line wrote the array again: stack_buf[0] = '!'",
        ],
    );
}

#[test]
fn lesson_10_forgotten_token_is_invisible_to_the_drop_policy() {
    let story = lessons(&["10"]);
    assert_says(
        &story,
        &[
            "`mem::forget(recv)` returned, and nothing panicked",
            "abandoned 0 -> 0, in_flight 1 -> 1, on_abandon calls: 0",
        ],
    );
}

#[test]
fn lesson_10_forgotten_receive_completes_into_the_rings_buffer() {
    let story = lessons(&["10"]);
    assert_says(
        &story,
        &[
            "the peer sent 24 bytes; the ring ran: in_flight 1 -> 0, abandoned = 0",
            "then a new receive on the same stream got 4 bytes: \"next\"",
            "The first 24 went to the forgotten receive.",
        ],
    );
}

#[test]
fn lesson_10_shutdown_cancels_and_reaps_a_forgotten_receive() {
    let story = lessons(&["10"]);
    assert_says(
        &story,
        &[
            "before `ring.shutdown()`: in_flight = 1, cancelled = 0",
            "in_flight = 0, cancelled = 1, is_shut_down() = true",
            "on_abandon calls in this whole lesson: 0.",
        ],
    );
}
