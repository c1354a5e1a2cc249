//! Lesson 05: The drop bomb: `Panic`, `Reclaim` and `Abort`.

use crate::{assert_says, lessons};

#[test]
fn lesson_05_each_policy_loses_the_bytes_and_says_so_as_it_promises() {
    let story = lessons(&["05"]);
    // Panic: the process ends with a panic naming the line that submitted the receive.
    assert_says(
        &story,
        &[
            "The child exited with code 101. It printed:",
            "panicked at",
            "linear-uring: the Recv operation submitted at lessons/src/lessons/l05_drop_bomb.rs:",
        ],
    );
    // Reclaim: the process goes on, the next receive gets only the second message,
    // and the abandon is counted.
    assert_says(
        &story,
        &[
            "The child exited with code 0. It printed:",
            "the next receive got 14 bytes, \"second message\": the first 19 never arrive",
            "stats: abandoned 1, in flight 0",
        ],
    );
    // Abort: killed by SIGABRT after printing the same message.
    assert_says(
        &story,
        &["The child was killed by signal 6 (SIGABRT): the process aborted. It printed:"],
    );
    // Every policy's hook saw the same loss: the receive completed with 19 bytes.
    let lost = story
        .lines()
        .filter(|l| l.contains("on_abandon: the Recv operation submitted at"))
        .filter(|l| l.contains("it completed anyway (result 19), and that result was lost"))
        .count();
    assert_eq!(lost, 3, "{story}");
    let aborted_message = story
        .split("DropPolicy::Abort: ")
        .nth(1)
        .expect("the Abort step");
    assert!(
        aborted_message.contains("(DropPolicy::Abort;"),
        "{aborted_message}"
    );
}
