//! Affine tokens: `complete(self)`, no `Clone`.

use std::io;
use std::marker::PhantomData;
use std::time::Duration;

use linear_uring::op::{Nop, Timeout};
use linear_uring::{CancelOutcome, DropPolicy, Op, Ring};

use crate::story::{quote, step};

pub(crate) fn run() -> io::Result<()> {
    println!(
        "Submitting an operation to io_uring gives you a token, `Op<K>`: a value that\n\
         stands for work the kernel is doing. The token has exactly two ways out:\n\
         \n\
         \x20 pub fn complete(self) -> Complete<K>   wait for the op's output\n\
         \x20 pub fn cancel(self) -> Cancel<K>       stop it, and learn what it did\n\
         \n\
         (`op.await` is shorthand for `op.complete().await`.) Both take `self`: calling\n\
         either moves the token into the call, and the name you held it by is dead. And\n\
         `Op` does not implement `Clone`, so there is never a second token for the same\n\
         op. One op, one completion, one token."
    );

    let ring = Ring::new()?;
    ring.block_on(async {
        step("submit a nop, then complete it");
        let op = ring.nop();
        println!("`ring.nop()` returned a token; its Debug form says what it stands for:");
        quote(&format!("{op:#?}"));
        // Ask the token its questions while you still hold it: `complete` takes it.
        println!("it was submitted at {}", op.location());
        let before = ring.stats();
        let result = op.complete().await;
        let after = ring.stats();
        println!(
            "`op.complete().await` took the token and gave {result:?}. The ring counted\n\
             submitted: {}, completed: {} (before the await: completed: {}).",
            after.submitted, after.completed, before.completed
        );
        println!(
            "From here on, `op` cannot be named: `op.location()`, or a second\n\
             `op.complete()`, is error E0382 (show 02)."
        );
        result?;

        step("submit a one-hour Timeout, then cancel it");
        let timer = Timeout::new(&ring, Duration::from_secs(3600)).submit();
        println!("the timer's token was submitted at {}", timer.location());
        let outcome = timer.cancel().await;
        match &outcome {
            CancelOutcome::Cancelled(()) => println!(
                "`timer.cancel().await` took the token and resolved to Cancelled(()): the\n\
                 kernel removed the timer before it fired."
            ),
            CancelOutcome::Completed(fired) => println!(
                "`timer.cancel().await` resolved to Completed({fired:?}): the timer had\n\
                 fired first (after an hour? unexpected)."
            ),
        }
        let stats = ring.stats();
        println!(
            "the ring counted submitted: {}, completed: {}, cancelled: {}, abandoned: {}, \
             in flight: {}.",
            stats.submitted, stats.completed, stats.cancelled, stats.abandoned, stats.in_flight
        );
        println!(
            "Cancelling is a way to consume the token, not a way around it: the token is\n\
             gone after `cancel()` exactly as after `complete()`."
        );
        Ok::<(), io::Error>(())
    })?;

    step("no Clone: one completion, one token");
    println!(
        "Which of these types implement Clone? The compiler answers (`Probe`,\n\
         in this lesson's source, asks it):\n\
         \x20 String          {}\n\
         \x20 Ring            {}   (a handle: clones share one ring)\n\
         \x20 Op<Nop>         {}\n\
         \x20 Op<Timeout>     {}",
        Probe::<String>::new().is_clone(),
        Probe::<Ring>::new().is_clone(),
        Probe::<Op<Nop>>::new().is_clone(),
        Probe::<Op<Timeout>>::new().is_clone(),
    );
    println!(
        "A clone would be a second token for the same op, and an op completes once:\n\
         one copy's `complete()` would have nothing to wait for, or the two would\n\
         race for a single output. So `timer.clone()` is error E0599 (show 02). If\n\
         two parts of a program care about one op, one of them owns the token and\n\
         hands the output on."
    );

    step("affine is \"at most once\": zero uses compile");
    // A ring of its own, whose policy only counts a lost token: lesson 05 is about
    // the policies.
    let lenient = Ring::builder().drop_policy(DropPolicy::Reclaim).build()?;
    lenient.block_on(async {
        let op = lenient.nop();
        let location = op.location();
        drop(op);
        // `abandoned` was counted by the drop itself; the sleep only lets the kernel
        // answer for the nop, so that nothing is in flight when the ring goes.
        lenient.sleep(Duration::from_millis(1)).await?;
        let stats = lenient.stats();
        println!(
            "a nop submitted at {location}\n\
             was dropped unconsumed with `drop(op)`. The compiler accepted it; the ring\n\
             counted abandoned: {}.",
            stats.abandoned
        );
        Ok::<(), io::Error>(())
    })?;
    println!(
        "\nMoves give Rust affine types: the compiler rejects a second use of a token, but\n\
         not zero uses. A token can still be dropped, left to go out of scope or thrown\n\
         away by `let _ =`. `#[must_use]` warns about some of these (lesson 03); the\n\
         drop policy catches the rest at run time (lesson 05)."
    );
    Ok(())
}

/// Asks the compiler whether `T` implements `Clone`, without requiring it: an
/// inherent method whose bound `T` does not meet is skipped, and method lookup
/// falls back to the trait's, which says no.
struct Probe<T>(PhantomData<T>);

impl<T> Probe<T> {
    fn new() -> Self {
        Probe(PhantomData)
    }
}

impl<T: Clone> Probe<T> {
    fn is_clone(&self) -> &'static str {
        "yes"
    }
}

trait NoClone {
    fn is_clone(&self) -> &'static str {
        "no"
    }
}

impl<T> NoClone for Probe<T> {}
