//! A tour of linear tokens: one completed, one cancelled before it did anything, one
//! cancelled too late (it had finished, and the result is handed back), and a
//! receive abandoned with ten bytes in its buffer, with the message the `Panic` drop
//! policy gives and the ring's counters, each explained.
//!
//! Run it with `cargo run --release --example tour`.

use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use linear_uring::net::UnixStream;
use linear_uring::op::Timeout;
use linear_uring::{CancelOutcome, DropPolicy, Ring};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = Ring::new()?;
    ring.block_on(async {
        // 1. Submit, then complete: the token is consumed and gives the output.
        let start = Instant::now();
        let timer = Timeout::new(&ring, Duration::from_millis(20)).submit();
        timer.complete().await?;
        println!("completed: a 20 ms timer fired after {:?}", start.elapsed());

        // 2. Cancel an op that has not finished: the kernel confirms it did nothing.
        let timer = Timeout::new(&ring, Duration::from_secs(3600)).submit();
        match timer.cancel().await {
            CancelOutcome::Cancelled(()) => {
                println!("cancelled: the one-hour timer was removed before it fired")
            }
            CancelOutcome::Completed(result) => println!("unexpected: it fired: {result:?}"),
        }

        // 3. Cancel an op that already finished: its result comes back, not lost.
        let quick = Timeout::new(&ring, Duration::from_millis(1)).submit();
        // A plain wait: `ring.sleep` is a droppable timer, not a linear token.
        ring.sleep(Duration::from_millis(10)).await?;
        match quick.cancel().await {
            CancelOutcome::Completed(result) => println!(
                "too late to cancel: the 1 ms timer had already fired, result handed back: {result:?}"
            ),
            CancelOutcome::Cancelled(()) => println!("unexpected: cancelled"),
        }
        Ok::<(), std::io::Error>(())
    })?;

    // 4. Abandon a token that holds data: a receive the kernel has completed, so the
    //    bytes are out of the socket and in its buffer. Under the `Panic` policy (the
    //    default in debug builds) the drop is loud; the bytes are lost either way.
    let strict = Ring::builder().drop_policy(DropPolicy::Panic).build()?;
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair()?;
    let ours = UnixStream::from_std(&strict, ours)?;
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        strict.block_on(async {
            let recv = ours.recv(Vec::with_capacity(64)).submit();
            theirs.write_all(b"ten bytes!")?;
            // While the task waits, the kernel completes the receive.
            strict.sleep(Duration::from_millis(5)).await?;
            drop(recv); // A mistake: nobody will ever read the ten bytes in its buffer.
            Ok::<(), std::io::Error>(())
        })
    }));
    panic::set_hook(default_hook);
    let payload = caught.expect_err("the Panic policy panics on an abandoned token");
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or("(no message)");
    println!("abandoned: the Panic drop policy said:\n\n{message}\n");
    let stats = strict.stats();
    println!("the strict ring's counters after the abandon:");
    println!(
        "  submitted {}: the receive, and the 5 ms timer the task waited on",
        stats.submitted
    );
    println!(
        "  completed {}: both; the receive completed before it was dropped, with the bytes",
        stats.completed
    );
    println!(
        "  cancelled {}: nothing was left to cancel, the receive had already finished",
        stats.cancelled
    );
    println!(
        "  abandoned {}: the receive, dropped unconsumed; its ten bytes are lost",
        stats.abandoned
    );
    println!(
        "  fds_closed {}: a receive produces no descriptor (a dropped accept's would be closed)",
        stats.fds_closed
    );
    println!(
        "  in_flight {}: the kernel holds nothing of this ring any more",
        stats.in_flight
    );
    Ok(())
}
