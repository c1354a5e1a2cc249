//! Lesson 06: Cancel is a race: both outcomes.

use crate::{assert_says, lessons, section};

#[test]
fn lesson_06_recv_with_nothing_sent_is_cancelled_with_its_empty_buffer() {
    let story = lessons(&["06"]);
    let step = section(&story, "-- a receive with nothing sent");
    assert_says(
        step,
        &[
            "Cancelled(buf): the buffer came back with 0 bytes in it (capacity 64).",
            "ring.stats().cancelled: 1 ",
        ],
    );
}

#[test]
fn lesson_06_recv_answered_before_the_cancel_completes_with_the_bytes() {
    let story = lessons(&["06"]);
    let step = section(&story, "-- a receive that the peer answers");
    assert_says(
        step,
        &[
            "the peer sent 5 bytes",
            "Completed((Ok(5), buf)): the receive had finished",
            "in hand: \"hello\"",
            // The kernel cancelled nothing this time.
            "ring.stats().cancelled: 1 ",
        ],
    );
}

#[test]
fn lesson_06_accept_with_nobody_connecting_is_cancelled() {
    let story = lessons(&["06"]);
    let step = section(&story, "-- an accept that nobody connects to");
    assert_says(
        step,
        &[
            "Cancelled(()): nobody connected to 127.0.0.1:",
            "ring.stats().cancelled: 2 ",
        ],
    );
}

#[test]
fn lesson_06_accept_beaten_by_a_client_completes_and_the_connection_is_served() {
    let story = lessons(&["06"]);
    let step = section(&story, "-- an accept that a client beats to it");
    assert_says(
        step,
        &[
            "Completed(Ok((stream, addr))): the accept had taken the connection from",
            "the client read \"welcome: your connection was not lost\", then the end",
            "ring.stats().cancelled: 2 ",
        ],
    );
    // The accepted peer is the client itself.
    let client = step
        .lines()
        .find_map(|l| l.strip_prefix("a std client connected to "))
        .and_then(|l| l.split_once(" from "))
        .map(|(_, addr)| addr.trim())
        .expect("the client's address");
    assert!(
        step.lines().any(|l| l.trim()
            == format!("{client}. The cancel handed it over instead of closing it, so serve it:")),
        "the accept did not report the client's address {client}:\n{step}"
    );
    assert!(!story.contains("unexpected"), "{story}");
    assert_says(
        &story,
        &["In all: abandoned: 0, descriptors the ring had to close for lost ops: 0,"],
    );
}
