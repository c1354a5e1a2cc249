//! Lesson 01: The substructural rules, with no ring.

use crate::{assert_says, lessons};

#[test]
fn lesson_01_copy_duplicates_and_the_bomb_panics_only_when_armed() {
    let story = lessons(&["01"]);
    assert_says(
        &story,
        &[
            "gives a = 7 and b = 7; n is still 7",
            "the bomb \"first\" was defused",
            "went out of scope armed, and panicked: the bomb \"second\" was dropped without being defused",
        ],
    );
}
