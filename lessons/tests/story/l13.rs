//! Lesson 13: Proof-carrying scopes: a forgotten op is a type error.

use crate::{assert_says, lessons};

#[test]
fn lesson_13_accept_in_a_scope_survives_three_timers_then_is_paid_with_the_connection() {
    let story = lessons(&["13"]);
    assert_says(
        &story,
        &[
            "timer 1: Ok(()); the accept came back still owed",
            "timer 2: Ok(()); the accept came back still owed",
            "timer 3: Ok(()); the accept came back still owed",
            "a client connected",
            "the accept won the next race: the scope returned (s.paid(), ..) with a connection",
            "from 127.0.0.1 after 3 timers",
        ],
    );
    assert!(!story.contains("timer 4:"), "{story}");
}

#[test]
fn lesson_13_connection_is_served_in_a_second_scope() {
    let story = lessons(&["13"]);
    assert_says(
        &story,
        &[
            "the receive gave Ok(5) with \"ping\\n\"; the send_all (a composite op, owed like a",
            "token through `s.owe`) gave Ok(())",
            "the client read \"pong\\n\"",
        ],
    );
}

#[test]
fn lesson_13_each_has_every_read_in_flight_at_once_and_paid() {
    let story = lessons(&["13"]);
    assert_says(
        &story,
        &[
            "read 0: in flight when it was submitted: 1; it gave Ok(3), \"one\"",
            "read 1: in flight when it was submitted: 2; it gave Ok(3), \"two\"",
            "read 2: in flight when it was submitted: 3; it gave Ok(5), \"three\"",
            "`each` gave the parent scope back only once all 3 had.",
        ],
    );
}

#[test]
fn lesson_13_split_races_a_receive_against_a_timer_and_cancels_the_loser() {
    let story = lessons(&["13"]);
    assert_says(
        &story,
        &[
            "the timer's sub-scope won (Ok(())); the receive came back owed, and its",
            "cancel gave Cancelled with the buffer (0 bytes). Both receipts were returned.",
        ],
    );
    assert!(!story.contains("(unexpected"), "{story}");
}

#[test]
fn lesson_13_op_submitted_with_the_ring_inside_a_scope_is_caught_only_by_the_policy() {
    let story = lessons(&["13"]);
    assert_says(
        &story,
        &[
            "the scope compiled and returned its receipt (its timer: Ok(())), yet a nop",
            "inside it was dropped: stats().abandoned went 0 -> 1",
            "| the Nop operation submitted at lessons/src/lessons/l13_scopes.rs:",
            "|   was abandoned; it completed anyway (result 0), and that result was lost",
        ],
    );
}

#[test]
fn lesson_13_panic_in_a_scope_skips_payment_and_the_policy_counts_the_debt() {
    let story = lessons(&["13"]);
    assert_says(
        &story,
        &[
            "the closure panicked: the header names a number: ParseIntError { kind: InvalidDigit }",
            "unwinding dropped the debt: stats().abandoned went 1 -> 2, and the ring",
            "cancelled its 10 s timer (ops in flight now: 0)",
            "| the Timeout operation submitted at lessons/src/lessons/l13_scopes.rs:",
            "|   was abandoned; the kernel cancelled it before it did anything",
        ],
    );
}

#[test]
fn lesson_13_paid_receipt_is_zero_sized() {
    let story = lessons(&["13"]);
    assert_says(
        &story,
        &["only the brand, and std::mem::size_of says it is 0 bytes;"],
    );
}
