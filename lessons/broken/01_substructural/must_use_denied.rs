//! A `#[must_use]` bomb armed as a statement, with the lint made an error.
//! Lesson: `#[must_use]` only looks at one expression whose value is ignored. Read
//! rustc's help: `let _ = ...` is offered as the way to ignore the value, and it is
//! exactly the hole (lesson 03).
#![deny(unused_must_use)]

#[must_use = "a bomb must be defused: call `defuse()`"]
struct Bomb;

fn arm() -> Bomb {
    Bomb
}

fn main() {
    arm();
}
