//! Lesson 08: Unwinding with live tokens.

use crate::{assert_says, lessons};

#[test]
fn lesson_08_panic_with_receive_in_flight_drops_it_quietly_and_cancels_it() {
    let story = lessons(&["08"]);
    assert_says(
        &story,
        &[
            "block_on panicked with: the handler failed while its receive was in flight",
            // The drop policy did not panic again while the stack unwound.
            "panics raised while it ran: 1.",
            "right after the panic: abandoned = 1, cancelled = 0, in_flight = 1",
            "after the ring ran: abandoned = 1, cancelled = 1, in_flight = 0",
            "the Recv operation submitted at lessons/src/lessons/l08_unwinding.rs:",
            "the kernel cancelled it before it did anything",
        ],
    );
}

#[test]
fn lesson_08_ring_after_the_panic_still_completes_a_receive() {
    let story = lessons(&["08"]);
    assert_says(
        &story,
        &[
            "a new receive on the same stream got 10 bytes: \"still here\"",
            "abandoned = 1, in_flight = 0: the new receive was completed, not abandoned",
        ],
    );
}

#[test]
fn lesson_08_catch_unwind_around_block_on_compiles_unwrapped_and_catches_the_panic() {
    let story = lessons(&["08"]);
    assert_says(
        &story,
        &[
            "catch_unwind caught: a handler failed inside catch_unwind",
            "abandoned 1 -> 1: no token was live when that handler panicked.",
        ],
    );
}

#[test]
fn lesson_08_spawned_task_panic_comes_out_of_block_on_and_its_token_is_cancelled() {
    let story = lessons(&["08"]);
    assert_says(
        &story,
        &[
            "block_on panicked with: the task failed while its receive was in flight",
            "panics raised: 1; abandoned 1 -> 2, in_flight = 0",
            "is_finished() = true: the task is gone.",
            "the awaited task was dropped before it finished: it panicked, or its ring shut down",
        ],
    );
}

#[test]
fn lesson_08_task_panic_abandons_the_block_on_futures_token_and_keeps_the_first_panic() {
    let story = lessons(&["08"]);
    assert_says(
        &story,
        &[
            "block_on panicked with: another task failed",
            "panics raised: 2; abandoned 2 -> 3, in_flight = 0",
            "linear-uring: the Timeout operation submitted at lessons/src/lessons/l08_unwinding.rs:",
            "the Timeout operation submitted at lessons/src/lessons/l08_unwinding.rs:",
            "a patient task spawned alongside still finished: its JoinHandle gave 42",
        ],
    );
}
