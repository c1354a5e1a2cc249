//! Proof-carrying scopes: a forgotten op is a type error.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::time::Duration;

use linear_uring::net::{TcpListener, UnixStream};
use linear_uring::op::Timeout;
use linear_uring::{race, CancelOutcome, DropPolicy, Raced, Ring};

use crate::story::{abandoned_line, catch_panic, quote, step};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn run() -> io::Result<()> {
    println!(
        "Lessons 05 to 10 showed the holes: a token dropped is caught at run time by the\n\
         drop policy, and `mem::forget` is caught by nothing. (A `?` that returns early\n\
         drops its tokens the same way; show 13 has one, rejected in a scope.) Rust has\n\
         no type that must be used. A scope gets close for structured code.\n\
         `ring.scope(async |s| ...)` hands the closure a `Scope` and wants back a `Paid`\n\
         receipt with its value. Only `s.paid()` makes a receipt, and `s.submit(op)`\n\
         consumes `s`: the scope goes into the debt, and comes back only from the debt's\n\
         `complete()` or `cancel()`. A closure that loses its op has no scope left to\n\
         pay with, and does not compile."
    );

    step("an accept in a scope, raced against 1 ms timers: the debt comes back each time");
    let ring = Ring::new()?;
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut client = None;
    let (ticks, accepted) = ring.block_on(ring.scope(async |s| {
        let mut accept = s.submit(listener.accept());
        let mut ticks = 0;
        loop {
            match race(accept, ring.sleep(Duration::from_millis(1))).await {
                // The accept's output comes with the scope back: now it can pay.
                Raced::First((accepted, s), _timer) => break (s.paid(), (ticks, accepted)),
                Raced::Second(owed, fired) => {
                    ticks += 1;
                    println!("timer {ticks}: {fired:?}; the accept came back still owed");
                    if ticks == 3 {
                        // A std client connects from this thread: the kernel does the
                        // handshake on its own, and the accept in flight can complete.
                        client = Some(std::net::TcpStream::connect(addr));
                        println!("a client connected");
                    }
                    accept = owed;
                }
            }
        }
    }));
    let (stream, peer) = accepted?;
    println!(
        "the accept won the next race: the scope returned (s.paid(), ..) with a connection\n\
         from {} after {ticks} timers",
        peer.ip()
    );

    step("the connection served in a second scope: each op gives the scope back");
    let mut client = client.unwrap_or_else(|| Err(io::Error::other("no client connected")))?;
    client.write_all(b"ping\n")?;
    let (got, request, sent) = ring.block_on(ring.scope(async |s| {
        let ((got, request), s) = s.submit(stream.recv(Vec::with_capacity(64))).await;
        let ((sent, _), s) = s.owe(stream.send_all(b"pong\n")).await;
        (s.paid(), (got, request, sent))
    }));
    println!(
        "the receive gave {got:?} with {:?}; the send_all (a composite op, owed like a\n\
         token through `s.owe`) gave {sent:?}",
        text(&request)
    );
    let mut reply = [0u8; 5];
    client.read_exact(&mut reply)?;
    println!("the client read {:?}", text(&reply));
    ring.block_on(stream.close())?;

    step("several reads at once: `Scope::each` gives each one a sub-scope");
    let mut streams = Vec::new();
    for word in ["one", "two", "three"] {
        let (mine, mut theirs) = StdUnixStream::pair()?;
        theirs.write_all(word.as_bytes())?;
        streams.push((UnixStream::from_std(&ring, mine)?, theirs));
    }
    let reads = ring.block_on(ring.scope(async |s| {
        let (s, reads) = s
            .each(&streams, async |sub, (mine, _)| {
                let debt = sub.submit(mine.recv(Vec::with_capacity(16)));
                // Every call submits before any awaits: the reads are in flight at once.
                let in_flight = ring.stats().in_flight;
                let ((got, buf), sub) = debt.await;
                (sub.paid(), (in_flight, got, buf))
            })
            .await;
        (s.paid(), reads)
    }));
    for (i, (in_flight, got, buf)) in reads.iter().enumerate() {
        println!(
            "read {i}: in flight when it was submitted: {in_flight}; it gave {got:?}, {:?}",
            text(buf)
        );
    }
    println!(
        "Each call of the closure got a sub-scope with a brand of its own and paid it;\n\
         `each` gave the parent scope back only once all {} had.",
        reads.len()
    );

    step("two sub-scopes raced: `split`, a receive against a timer");
    let (mine, _silent) = UnixStream::pair(&ring)?;
    let (fired, outcome) = ring.block_on(ring.scope(async |s| {
        let (s, raced) = s
            .split(async |x, y| {
                let recv = x.submit(mine.recv(Vec::with_capacity(16)));
                let timer = y.submit(Timeout::new(&ring, Duration::from_millis(5)));
                match race(recv, timer).await {
                    Raced::First(((got, buf), x), timer) => {
                        let (fired, y) = timer.cancel().await;
                        let outcome = CancelOutcome::Completed((got, buf));
                        (x.paid(), y.paid(), (fired.completed(), outcome))
                    }
                    Raced::Second(recv, (fired, y)) => {
                        let (outcome, x) = recv.cancel().await;
                        (x.paid(), y.paid(), (Some(fired), outcome))
                    }
                }
            })
            .await;
        (s.paid(), raced)
    }));
    match (fired, outcome) {
        (Some(fired), CancelOutcome::Cancelled(buf)) => println!(
            "the timer's sub-scope won ({fired:?}); the receive came back owed, and its\n\
             cancel gave Cancelled with the buffer ({} bytes). Both receipts were returned.",
            buf.len()
        ),
        (None, CancelOutcome::Cancelled(_)) => {
            println!("the receive was cancelled, the timer never fired (unexpected)")
        }
        (_, CancelOutcome::Completed((got, buf))) => println!(
            "the receive finished: {got:?}, {:?} (unexpected: nobody sent anything)",
            text(&buf)
        ),
    }

    step("what a brand is, in plain words");
    println!(
        "`Scope<'b>`, `Debt<'b, K>` and `Paid<'b>` carry a lifetime `'b` that names no\n\
         borrow: it is a brand, a name for one scope. The closure must work for every\n\
         `'b` (`for<'b> AsyncFnOnce(Scope<'b>) -> (Paid<'b>, R)`), so it cannot know\n\
         which `'b` it got, and can only return a receipt made from the scope it was\n\
         given. `'b` is invariant: the compiler may neither shorten nor lengthen it, so\n\
         a receipt of one scope never passes for another's (the sub-scopes of `split`\n\
         included), and a debt cannot be carried out of its scope in the value `R`."
    );
    println!(
        "The brand costs nothing at run time: it is a `PhantomData`. `Paid<'_>` holds\n\
         only the brand, and std::mem::size_of says it is {} bytes; a `Scope<'_>`,\n\
         which also holds the ring (an `Rc`) and the scope's id, is {} bytes.",
        std::mem::size_of::<linear_uring::scope::Paid<'_>>(),
        std::mem::size_of::<linear_uring::scope::Scope<'_>>()
    );

    step("limit 1: an op submitted with the ring, not the scope, is not tracked");
    let reclaim = Ring::builder().drop_policy(DropPolicy::Reclaim).build()?;
    let seen = Rc::new(RefCell::new(Vec::new()));
    reclaim.on_abandon({
        let seen = seen.clone();
        move |abandoned| seen.borrow_mut().push(abandoned.to_string())
    });
    let before = reclaim.stats().abandoned;
    let fired = reclaim.block_on(reclaim.scope(async |s| {
        // `reclaim.nop()`, not `s.submit(..)`: the scope knows nothing of this op.
        let stray = reclaim.nop();
        let (fired, s) = s
            .submit(Timeout::new(&reclaim, Duration::from_millis(1)))
            .await;
        drop(stray);
        (s.paid(), fired)
    }));
    let after = reclaim.stats().abandoned;
    println!(
        "the scope compiled and returned its receipt (its timer: {fired:?}), yet a nop\n\
         submitted with `reclaim.nop()` inside it was dropped: stats().abandoned went \
         {before} -> {after}"
    );
    if let Some(message) = seen.borrow().last() {
        quote(&abandoned_line(message));
    }

    step("limit 2: divergence skips payment; the drop policy is the net");
    let before = reclaim.stats().abandoned;
    let header = "count: ten";
    let caught = catch_panic(|| {
        reclaim.block_on(reclaim.scope(async |s| {
            let debt = s.submit(Timeout::new(&reclaim, Duration::from_secs(10)));
            let (_, value) = header.split_once(": ").unwrap_or(("", header));
            // The closure never returns: it panics with the debt unpaid.
            let count: u32 = value.parse().expect("the header names a number");
            let (fired, s) = debt.await;
            (s.paid(), (count, fired))
        }))
    });
    match caught {
        Err(message) => println!("the closure panicked: {message}"),
        Ok((count, fired)) => println!("the closure returned {count}, {fired:?} (unexpected)"),
    }
    // The dropped timer's cancel is reaped the next time the ring runs.
    reclaim.block_on(reclaim.nop().complete())?;
    let stats = reclaim.stats();
    println!(
        "unwinding dropped the debt: stats().abandoned went {before} -> {}, and the ring\n\
         cancelled its 10 s timer (ops in flight now: {})",
        stats.abandoned, stats.in_flight
    );
    if let Some(message) = seen.borrow().last() {
        quote(&abandoned_line(message));
    }
    println!(
        "A receipt proves the closure returned. A panic, an endless loop or\n\
         `process::exit` never returns, so no receipt is owed; what the scope held is\n\
         dropped by unwinding (or never dropped at all), and only the drop policy and\n\
         the ring's shutdown see it. The same goes for the scope's own future, dropped\n\
         before it finishes."
    );

    println!(
        "\nWithin those limits, every way of losing an op that lessons 05 to 10 caught at\n\
         run time, or not at all, is rejected by the compiler in a scope: show 13 has\n\
         the programs. The cost is a closure per scope and the scope threaded through\n\
         every op. Lesson 14 puts it all to work in an accept loop."
    );
    Ok(())
}
