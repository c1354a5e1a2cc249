//! Lesson 11: Writing your own `Linear` type.

use crate::{assert_says, lessons};

#[test]
fn lesson_11_request_with_an_answering_peer_wins_the_race_with_the_reply() {
    let story = lessons(&["11"]);
    assert_says(
        &story,
        &[
            "the peer received \"GET /weather\\n\" (Ok(())) and answered",
            "race(request, ring.sleep(5 s)) -> Raced::First: the request finished first, Ok(()),",
            "reply \"sunny, 21 C\\n\"; request buffer handed back: \"GET /weather\\n\" (13 bytes)",
        ],
    );
}

#[test]
fn lesson_11_request_with_a_silent_peer_loses_the_race_and_cancels_with_the_request_sent() {
    let story = lessons(&["11"]);
    assert_says(
        &story,
        &[
            "race(request, ring.sleep(20 ms)) -> Raced::Second: the timer fired (Ok(())),",
            "and the request came back unfinished: 13 bytes sent, ops in flight: 1",
            "cancel(request) resolved to Cancelled: sent 13 bytes, received 0 bytes of reply,",
            "buffers handed back: request \"GET /weather\\n\", reply \"\"",
            "No reply was lost, because none had come.",
        ],
    );
}

#[test]
fn lesson_11_request_with_half_a_reply_survives_two_races_and_cancels_with_the_bytes() {
    let story = lessons(&["11"]);
    assert_says(
        &story,
        &[
            "The peer then read \"GET /weather\\n\"",
            "the second race, of the same request: the timer won again; ops in flight: 1",
            "cancel(request) resolved to Cancelled: sent 13 bytes, received 4 bytes of reply,",
            "buffers handed back: request \"GET /weather\\n\", reply \"clou\"",
            "The residue holds the 4 bytes",
        ],
    );
    assert!(!story.contains("(unexpected"), "{story}");
    // What the story says of the receives follows the count it printed.
    let receives: usize = story
        .lines()
        .find_map(|l| l.strip_prefix("receives the request had submitted: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the story lacks the count of receives:\n{story}"));
    if receives > 1 {
        assert_says(&story, &[&format!("the next receive: {receives} in all")]);
    } else {
        assert_says(
            &story,
            &["`poll_cancel` found it completed, with no newline"],
        );
    }
}

#[test]
fn lesson_11_request_dropped_unfinished_is_abandoned_through_its_receive_token() {
    let story = lessons(&["11"]);
    assert_says(
        &story,
        &[
            "stats().abandoned went 0 -> 1; on_abandon said:",
            "| the Recv operation submitted at lessons/src/lessons/l11_your_own_linear.rs:",
            "|   was abandoned; the kernel cancelled it before it did anything",
        ],
    );
}
