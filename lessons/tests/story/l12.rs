//! Lesson 12: Threads: tokens stay home.

use crate::{assert_says, lessons};

#[test]
fn lesson_12_received_vec_crosses_to_a_worker_and_its_answer_reaches_the_client() {
    let story = lessons(&["12"]);
    assert_says(
        &story,
        &[
            "on thread \"main\" the ring received \"count my words, please\" (22 bytes),",
            "   \"4 words, counted on thread \\\"word-counter\\\"\"",
            "the client read \"4 words, counted on thread \\\"word-counter\\\"\"",
        ],
    );
}

#[test]
fn lesson_12_into_std_stream_is_written_by_a_worker_thread() {
    let story = lessons(&["12"]);
    assert_says(
        &story,
        &[
            "the ring accepted a connection from 127.0.0.1, and `into_std()` took its descriptor",
            "out of the ring: a worker thread wrote 45 bytes to it with blocking std",
            "the client read \"written by thread \\\"replier\\\" with std's Write\"",
        ],
    );
}

#[test]
fn lesson_12_into_std_with_a_receive_in_flight_is_resource_busy_until_the_receive_ends() {
    let story = lessons(&["12"]);
    assert_says(
        &story,
        &[
            "into_std() with a receive in flight: ResourceBusy:",
            "cannot take the descriptor out of this UnixStream: 1 operation(s) on it are still in flight",
            "`into_std` consumed the stream, and the pair's descriptors still open are 2 of 2",
            "the receive, cancelled on the ring's thread: Cancelled, its buffer back (0 bytes)",
            "once the receive ended, descriptors of the pair still open: 1 (the peer's)",
        ],
    );
    assert!(!story.contains("(unexpected)"), "{story}");
}

#[test]
fn lesson_12_each_thread_has_its_own_ring_counting_only_its_own_ops() {
    let story = lessons(&["12"]);
    assert_says(
        &story,
        &[
            "the ring of thread \"main\": submitted 3, completed 3",
            "the ring of thread \"second-ring\": submitted 2, completed 2",
        ],
    );
}
