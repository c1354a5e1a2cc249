//! Unwinding with live tokens: what a panic does to the ops in flight.

use std::cell::RefCell;
use std::io::{self, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use linear_uring::net::UnixStream;
use linear_uring::op::Timeout;
use linear_uring::{DropPolicy, Ring};

use crate::story::{abandoned_line, message, quote, step};

/// Runs `f`, catching a panic, and also returns the message of every panic raised
/// meanwhile, caught or not: the panic hook sees each one as it starts. (Like
/// `story::catch_panic`, but counting; the lesson prints what it saw.)
fn panics_during<T>(f: impl FnOnce() -> T) -> (Result<T, String>, Vec<String>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook = panic::take_hook();
    panic::set_hook(Box::new({
        let seen = seen.clone();
        move |info| {
            let mut seen = seen.lock().unwrap_or_else(|poison| poison.into_inner());
            seen.push(message(info.payload()));
        }
    }));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(hook);
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|poison| poison.into_inner()));
    (result.map_err(|payload| message(&*payload)), seen)
}

/// Lets the ring enter the kernel until nothing is in flight, so that the cancels
/// of abandoned ops are reaped. A nop is one trip into the kernel and back.
fn settle(ring: &Ring) -> io::Result<()> {
    for _ in 0..100 {
        if ring.stats().in_flight == 0 {
            break;
        }
        ring.block_on(ring.nop().complete())?;
    }
    Ok(())
}

/// The next step of a handler, which fails by panicking.
fn fail(why: &str) -> io::Result<()> {
    panic!("{why}")
}

/// Prints the sentences the `on_abandon` hook collected since the last call.
fn print_abandoned(log: &RefCell<Vec<String>>) {
    for sentence in log.borrow_mut().drain(..) {
        quote(&abandoned_line(&sentence));
    }
}

pub(crate) fn run() -> io::Result<()> {
    println!(
        "A panic unwinds the stack: every frame it leaves drops its live values, and a\n\
         token is a value like any other. That is weakening, done by the language at a\n\
         point nobody chose. A linear type system must say what unwinding does with a\n\
         linear value, and each answer costs something: abort the process when unwinding\n\
         reaches one (every panic near a token becomes an abort), run a fallback (the\n\
         type is affine again on the panic path), or forbid panics wherever one is live\n\
         (indexing, `unwrap` and overflow all panic). linear-uring takes the fallback: a\n\
         token dropped while unwinding is cancelled in the kernel and counted, and the\n\
         drop policy does not panic again, because a panic while unwinding aborts."
    );

    let ring = Ring::builder().drop_policy(DropPolicy::Panic).build()?;
    let log = Rc::new(RefCell::new(Vec::new()));
    ring.on_abandon({
        let log = log.clone();
        move |abandoned| log.borrow_mut().push(abandoned.to_string())
    });
    let (ours, mut peer) = StdUnixStream::pair()?;
    let stream = UnixStream::from_std(&ring, ours)?;

    step("a future panics with a receive in flight, under DropPolicy::Panic");
    let (outcome, panics) = panics_during(|| {
        ring.block_on(async {
            let _recv = stream.recv(Vec::with_capacity(64)).submit();
            // One trip into the kernel, so that the receive is waiting there.
            ring.nop().complete().await?;
            fail("the handler failed while its receive was in flight")
        })
    });
    match outcome {
        Err(message) => println!("block_on panicked with: {message}"),
        Ok(_) => println!("block_on returned without a panic (unexpected)"),
    }
    println!(
        "panics raised while it ran: {}. The receive's token was dropped while that panic\n\
         unwound, and DropPolicy::Panic stayed quiet: a second panic then would have\n\
         aborted the process, and nothing after it would have been printed.",
        panics.len()
    );
    let stats = ring.stats();
    println!(
        "right after the panic: abandoned = {}, cancelled = {}, in_flight = {}",
        stats.abandoned, stats.cancelled, stats.in_flight
    );
    println!(
        "The drop counted the token and queued a cancel for the receive; the ring has\n\
         not entered the kernel since, so the receive is still in flight."
    );

    step("the ring runs again: the cancel is reaped");
    settle(&ring)?;
    let stats = ring.stats();
    println!(
        "after the ring ran: abandoned = {}, cancelled = {}, in_flight = {}",
        stats.abandoned, stats.cancelled, stats.in_flight
    );
    println!("the on_abandon hook said:");
    print_abandoned(&log);
    println!(
        "The Vec the receive owned was never the token's to free: it moved into the\n\
         ring's op table at submission, and the table lets go of it only once the\n\
         kernel's final completion is reaped, which is what just happened."
    );

    step("the ring is still usable");
    let (result, buf) = ring.block_on(async {
        let recv = stream.recv(Vec::with_capacity(64)).submit();
        peer.write_all(b"still here")?;
        Ok::<_, io::Error>(recv.complete().await)
    })?;
    let received = result?;
    println!(
        "a new receive on the same stream got {received} bytes: {:?}",
        String::from_utf8_lossy(&buf)
    );
    let stats = ring.stats();
    println!(
        "abandoned = {}, in_flight = {}: the new receive was completed, not abandoned",
        stats.abandoned, stats.in_flight
    );

    step("`catch_unwind(|| ring.block_on(..))`, with no `AssertUnwindSafe`");
    let before = ring.stats().abandoned;
    // Silent, as `story::catch_panic` is: the lesson prints the message itself.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    // No `AssertUnwindSafe` here: the closure borrows the ring, and that compiles.
    let caught = panic::catch_unwind(|| {
        ring.block_on(async {
            ring.nop().complete().await?;
            fail("a handler failed inside catch_unwind")
        })
    });
    panic::set_hook(hook);
    match caught {
        Err(payload) => println!("catch_unwind caught: {}", message(&*payload)),
        Ok(_) => println!("the block_on returned without a panic (unexpected)"),
    }
    println!(
        "abandoned {before} -> {}: no token was live when that handler panicked.",
        ring.stats().abandoned
    );
    println!(
        "That call, `std::panic::catch_unwind(|| ring.block_on(..))`, is in this lesson's\n\
         source as it is, and it compiled: `Ring` is `UnwindSafe` and `RefUnwindSafe`,\n\
         so a closure that borrows one is `UnwindSafe`. The ring says in its type that\n\
         it keeps its bookkeeping consistent through a panic in the code it runs. Your\n\
         own bookkeeping is another matter: by std's rule, a closure that holds `&mut`\n\
         to a value (your list of pending ops, say) is not `UnwindSafe`, because a panic\n\
         may leave that value half-updated; decide what a panic leaves behind, then say\n\
         so with `AssertUnwindSafe`."
    );

    step("a spawned task panics while holding a token");
    let (ours, _task_peer) = StdUnixStream::pair()?;
    let task_stream = UnixStream::from_std(&ring, ours)?;
    let task_ring = ring.clone();
    let handle = ring.spawn(async move {
        let _recv = task_stream.recv(Vec::with_capacity(64)).submit();
        task_ring.nop().complete().await?;
        fail("the task failed while its receive was in flight")
    });
    let before = ring.stats().abandoned;
    println!("The task is spawned; then a block_on whose future only waits on a timer runs.");
    let (outcome, panics) =
        panics_during(|| ring.block_on(async { ring.sleep(Duration::from_secs(10)).await }));
    match outcome {
        Err(message) => println!("block_on panicked with: {message}"),
        Ok(_) => println!("the block_on's timer fired without a panic (unexpected)"),
    }
    settle(&ring)?;
    let stats = ring.stats();
    println!(
        "panics raised: {}; abandoned {} -> {}, in_flight = {}",
        panics.len(),
        before,
        stats.abandoned,
        stats.in_flight
    );
    println!("the on_abandon hook said:");
    print_abandoned(&log);
    println!(
        "is_finished() = {}: the task is gone. Its panic unwound its own poll, which\n\
         dropped its token (quietly: the thread was unwinding); the executor caught the\n\
         panic and resumed it from the block_on that polled the task, whatever that\n\
         block_on was waiting for.",
        handle.is_finished()
    );
    let (joined, _) = panics_during(|| ring.block_on(handle));
    match joined {
        Err(message) => {
            println!("awaiting its JoinHandle panics:");
            quote(&message);
        }
        Ok(_) => println!("awaiting its JoinHandle gave an output (unexpected)"),
    }

    step("the block_on's own future goes down with it");
    let patient_ring = ring.clone();
    let patient = ring.spawn(async move {
        patient_ring.sleep(Duration::from_millis(5)).await?;
        Ok::<u32, io::Error>(42)
    });
    let task_ring = ring.clone();
    drop(ring.spawn(async move {
        task_ring.nop().complete().await?;
        fail("another task failed")
    }));
    let before = ring.stats().abandoned;
    println!(
        "Another task that panics is spawned, with a patient one beside it; this time\n\
         the block_on's future holds a token: it awaits a ten-second Timeout."
    );
    let (outcome, panics) = panics_during(|| {
        ring.block_on(async {
            let timer = Timeout::new(&ring, Duration::from_secs(10)).submit();
            timer.complete().await
        })
    });
    match outcome {
        Err(message) => println!("block_on panicked with: {message}"),
        Ok(_) => println!("the timer fired without a panic (unexpected)"),
    }
    let answer = ring.block_on(patient)?;
    settle(&ring)?;
    let stats = ring.stats();
    println!(
        "panics raised: {}; abandoned {} -> {}, in_flight = {}",
        panics.len(),
        before,
        stats.abandoned,
        stats.in_flight
    );
    if let Some(second) = panics.get(1) {
        println!("the second panic was:");
        quote(second.lines().next().unwrap_or_default());
    }
    println!("the on_abandon hook said:");
    print_abandoned(&log);
    println!("a patient task spawned alongside still finished: its JoinHandle gave {answer}");
    println!(
        "The task's panic ended the block_on, which dropped its own future, timer token\n\
         and all. By then the executor had caught the task's panic, so the thread was no\n\
         longer unwinding, and DropPolicy::Panic did panic: the ring caught that one too\n\
         and resumed the first. A panic in one task abandons the tokens of the future\n\
         that block_on was running; the other tasks stay on the ring."
    );
    println!(
        "\nUnwinding is the one place where linear-uring's tokens are affine on purpose:\n\
         the fallback is the cancel every dropped token gets. DropPolicy::Abort is the\n\
         exception, and aborts even while unwinding, by design. A proof-carrying scope\n\
         (lesson 13) cannot see a panic either: divergence never pays, and the tokens it\n\
         drops land here. Unwinding is the language dropping values; the next lesson is\n\
         library code doing the same, in every generic function of std."
    );
    Ok(())
}
