//! `#[must_use]` is only a lint.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{CancelOutcome, DropPolicy, Ring};

use crate::story::{abandoned_line, quote, step};

/// Long enough that none of the lesson's timers fires by itself.
const HOUR: Duration = Duration::from_secs(3600);

pub(crate) fn run() -> io::Result<()> {
    println!(
        "`Op` is declared `#[must_use]`. That attribute feeds one rustc lint,\n\
         `unused_must_use`: when the value of an expression statement has a\n\
         `#[must_use]` type, rustc warns. A warning, by default, and only for that one\n\
         shape of code. This lesson loses three in-flight one-hour timers, in three ways\n\
         the lint does not stop.\n\
         \n\
         The ring is built with `DropPolicy::Reclaim`, which only counts a lost token\n\
         (the default in debug builds panics: lesson 05), and `ring.on_abandon` prints\n\
         the library's sentence for each lost op once the kernel has answered for it."
    );
    let ring = Ring::builder().drop_policy(DropPolicy::Reclaim).build()?;
    ring.on_abandon(|abandoned| quote(&abandoned_line(&abandoned.to_string())));

    ring.block_on(async {
        step("(a) a token as a statement: rustc only warns");
        #[allow(unused_must_use)] // Without it, `cargo build` warns, then builds anyway.
        Timeout::new(&ring, HOUR).submit();
        counters(&ring, "right after the statement");
        settle(&ring, 0).await?;
        counters(&ring, "once the kernel answered");
        println!(
            "Without the `#[allow(unused_must_use)]` on that statement, rustc prints\n\
             \"warning: unused `Op` that must be used\" and builds the program all the\n\
             same. Only denying the lint, `#![deny(unused_must_use)]` or the same in\n\
             Cargo.toml, makes it an error (show 03)."
        );

        step("(b) `let _ = ...`: what rustc's own help suggests");
        let _ = Timeout::new(&ring, HOUR).submit();
        counters(&ring, "right after the statement");
        settle(&ring, 0).await?;
        counters(&ring, "once the kernel answered");
        println!(
            "The help under rustc's unused_must_use message reads \"use `let _ = ...` to\n\
             ignore the resulting value\". It does ignore it, silently: `_` is not a\n\
             binding, so the token is dropped at the end of that very statement: the\n\
             counter moved at once, before the kernel's answer was reaped. The lint is\n\
             satisfied and the op is lost. This line compiled without a word."
        );

        step("(c) `HashMap::insert` over a live token");
        lost_in_a_map(&ring).await?;
        Ok::<(), io::Error>(())
    })?;

    let stats = ring.stats();
    println!(
        "\nIn all: abandoned: {}, cancelled: {}, in flight: {}. None of the three losses\n\
         stopped the build.",
        stats.abandoned, stats.cancelled, stats.in_flight
    );
    println!(
        "\nThe crate docs ask a user of linear-uring to turn the lints up, in Cargo.toml:\n\
         \n\
         \x20 [lints.rust]\n\
         \x20 unused_must_use = \"deny\"           # (a) becomes an error\n\
         \x20 let_underscore_drop = \"deny\"       # (b) becomes an error\n\
         \n\
         \x20 [lints.clippy]\n\
         \x20 let_underscore_must_use = \"deny\"   # (b), for every #[must_use] value\n\
         \x20 let_underscore_future = \"deny\"     # `let _ = op.complete();`\n\
         \x20 mem_forget = \"deny\"                # `std::mem::forget(op)` (lesson 10)\n\
         \n\
         and (c) still compiles. A lint looks at the shape of one expression; it cannot\n\
         follow a value into a map and out again. What sees every lost token is its\n\
         destructor, at run time: the drop policy, lesson 05. Lesson 04 first shows\n\
         what the types themselves do forbid."
    );
    Ok(())
}

/// Case (c), compiled with every lint the crate docs recommend denied: rustc and
/// clippy accept it all the same.
#[deny(unused_must_use, let_underscore_drop)]
#[deny(clippy::let_underscore_must_use, clippy::let_underscore_future)]
#[deny(clippy::mem_forget)]
async fn lost_in_a_map(ring: &Ring) -> io::Result<()> {
    let mut pending = HashMap::new();
    pending.insert("report", Timeout::new(ring, HOUR).submit());
    pending.insert("report", Timeout::new(ring, HOUR).submit());
    counters(ring, "right after the second insert");
    settle(ring, 1).await?;
    counters(ring, "once the kernel answered");
    println!(
        "The second `insert` under the same key returned the first token, in an\n\
         `Option<Op<Timeout>>`, and the statement dropped it. The lint looks at the type\n\
         of a statement's value and sees `Option`, which is not `#[must_use]`: it looks\n\
         inside a tuple or a `Box`, not inside an `Option` (nor a `Vec`). No `let _`\n\
         appears, so the let_underscore lints see nothing either. This function is\n\
         compiled with all five recommended lints denied (see its attributes), and it\n\
         compiled."
    );
    for (key, op) in pending.drain() {
        match op.cancel().await {
            CancelOutcome::Cancelled(()) => {
                println!("the token left under {key:?} was cancelled properly: Cancelled(())")
            }
            CancelOutcome::Completed(fired) => {
                println!("the token left under {key:?} had completed: {fired:?}")
            }
        }
    }
    Ok(())
}

/// Prints the two counters this lesson is about.
fn counters(ring: &Ring, when: &str) {
    let stats = ring.stats();
    println!(
        "{when}: abandoned: {}, cancelled: {}",
        stats.abandoned, stats.cancelled
    );
}

/// Lets the ring reap the kernel's answers until only `keep` ops are in flight: the
/// cancelled timers' final completions, which fire the `on_abandon` hook.
async fn settle(ring: &Ring, keep: u64) -> io::Result<()> {
    for _ in 0..1000 {
        if ring.stats().in_flight <= keep {
            return Ok(());
        }
        ring.sleep(Duration::from_millis(1)).await?;
    }
    Err(io::Error::other(
        "the kernel did not answer for the abandoned ops",
    ))
}
