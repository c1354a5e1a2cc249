//! Each lesson's printed story: the outcomes it says happen, happen.
//!
//! The tests run the lessons binary as a user would (`lessons NN`) and check the
//! lines that carry a lesson's claims. Those lines are printed from what the
//! program observed (a panic's message, a child's exit status, a counter of the
//! ring), so a change in behaviour changes them.

use std::process::Command;

mod l01;
mod l02;
mod l03;
mod l04;
mod l05;
mod l06;
mod l07;
mod l08;
mod l09;
mod l10;
mod l11;
mod l12;
mod l13;
mod l14;

/// Runs `lessons <args>` and returns its standard output; fails if it failed.
pub(crate) fn lessons(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_lessons"))
        .args(args)
        .output()
        .expect("the lessons binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "lessons {args:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Asserts that `story` has a line containing each of `claims`.
#[track_caller]
pub(crate) fn assert_says(story: &str, claims: &[&str]) {
    for claim in claims {
        assert!(
            story.lines().any(|l| l.contains(claim)),
            "the story lacks {claim:?}:\n{story}"
        );
    }
}

#[test]
fn list_names_every_lesson_in_order() {
    let list = lessons(&[]);
    let numbers: Vec<u32> = list
        .lines()
        .filter_map(|l| l.trim_start().split_once("  "))
        .filter_map(|(n, _)| n.parse().ok())
        .collect();
    assert!(numbers.len() >= 12, "{list}");
    assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());
}

#[test]
fn show_compiles_the_rejected_programs_now_and_prints_rustcs_errors() {
    let shown = lessons(&["show", "01"]);
    assert_says(
        &shown,
        &[
            "4 rejected programs",
            "error[E0382]: use of moved value: `bomb`",
            "error[E0184]: the trait `Copy` cannot be implemented for this type",
            "help: use `let _ = ...` to ignore the resulting value",
        ],
    );
    assert!(!shown.contains("this program compiled"), "{shown}");
}
