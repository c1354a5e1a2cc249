//! Lesson 07: async cancellation.

use crate::{assert_says, lessons};

#[test]
fn lesson_07_select_loses_the_connection_race_and_linked_timeout_do_not() {
    let story = lessons(&["07"]);
    // The select: the timer wins, the accept had completed, its stream is closed by
    // the ring and the client that connected gets nothing.
    assert_says(
        &story,
        &[
            "on_abandon said:",
            "| the Accept operation submitted at lessons/src/lessons/l07_async_cancellation.rs:",
            "|   was abandoned; it completed anyway (result",
            "the timer won; the select dropped the accept's future",
            "stats: abandoned 1, descriptors closed by the ring 1",
            "it reads: end of stream: the server closed it without a word",
        ],
    );
    // race: the same moment, the accept comes back and the client is served.
    assert_says(
        &story,
        &[
            "the timer won; `race` handed back the accept, still owed",
            "the client reads: \"served\\n\"",
        ],
    );
    // Linked timeout: a waiting client is accepted; nobody gives TimedOut.
    assert_says(
        &story,
        &[
            "a client was waiting: the accept completed, from 127.0.0.1:",
            "nobody connected: the accept failed with kind TimedOut",
        ],
    );
    // The timeout wrapper dropped an accept nobody had connected to: counted, and
    // cancelled in the kernel before it did anything.
    assert_says(
        &story,
        &[
            "the wrapper timed out and dropped the accept's future: abandoned 1 -> 2",
            "|   was abandoned; the kernel cancelled it before it did anything",
        ],
    );
    assert!(!story.contains("unexpected"), "{story}");
    // Only the select's and the wrapper's accepts were abandoned: the race and the
    // linked timeouts lost nothing.
    assert_eq!(story.matches("on_abandon said:").count(), 2, "{story}");
}
