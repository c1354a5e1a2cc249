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

/// The lines of `story` from the one containing `from` up to the next step (the
/// next line beginning with `-- `), or to the end.
#[track_caller]
pub(crate) fn section<'a>(story: &'a str, from: &str) -> &'a str {
    let start = story
        .find(from)
        .unwrap_or_else(|| panic!("the story lacks {from:?}:\n{story}"));
    let rest = &story[start..];
    let end = rest[1..].find("\n-- ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

#[test]
fn list_names_every_lesson_in_order() {
    let list = lessons(&[]);
    let numbers: Vec<u32> = list
        .lines()
        .filter_map(|l| l.trim_start().split_once("  "))
        .filter_map(|(n, _)| n.parse().ok())
        .collect();
    assert_eq!(numbers, (1..=14).collect::<Vec<u32>>(), "{list}");
}

/// `show` prints rustc's errors as the installed rustc words them; the text checked
/// here is rustc 1.95's (stable), the toolchain the `broken/` snapshots were made with.
#[rustversion::stable(1.95)]
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
