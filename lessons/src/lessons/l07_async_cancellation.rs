//! Async cancellation: a `select` drops the loser; `race` hands it back; a linked
//! timeout lets the kernel decide.

use std::future::{poll_fn, Future};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::{race, DropPolicy, Raced, Ring};

use crate::story::{abandoned_line, quote, step};

/// Which side of a [`select_biased`] finished first.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// What `select!` does, in a few lines: poll both futures, return the first that is
/// ready, and drop the other. `a` is polled first (tokio's `biased;`); an unbiased
/// select picks at random, and does the same half of the time.
pub(crate) async fn select_biased<A: Future, B: Future>(
    a: A,
    b: B,
) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        if let Poll::Ready(out) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(out));
        }
        Poll::Pending
    })
    .await
}

pub(crate) fn run() -> io::Result<()> {
    println!(
        "A future is affine too: dropping it is how async Rust cancels. With epoll, a\n\
         single readiness-based read or accept that is dropped did nothing: it takes the\n\
         data or the connection inside `poll`, once it is ready, so if it is never polled\n\
         again, nothing was taken. With io_uring the kernel works on its own, so a\n\
         dropped future may have finished its work already. Below, the same moment\n\
         three times: an accept waits with a 1 ms deadline; a client connects; the\n\
         deadline passes; and only then does the program look. (The ring uses\n\
         `DropPolicy::Reclaim`, so that the mistake in the first step is counted rather\n\
         than a panic.)"
    );
    let ring = Ring::builder().drop_policy(DropPolicy::Reclaim).build()?;
    ring.on_abandon(|abandoned| {
        println!("on_abandon said:");
        quote(&abandoned_line(&abandoned.to_string()));
    });
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    let addr = listener.local_addr()?;

    step("a select between the accept's future and a timer");
    let mut client = ring.block_on(async {
        let accept = listener.accept().submit().complete();
        let timer = ring.sleep(Duration::from_millis(1));
        let client = both_happen(&ring, addr).await?;
        match select_biased(timer, accept).await {
            Either::Left(_) => println!("the timer won; the select dropped the accept's future"),
            Either::Right(_) => println!("the accept won (unexpected here)"),
        }
        Ok::<_, io::Error>(client)
    })?;
    let stats = ring.stats();
    println!(
        "stats: abandoned {}, descriptors closed by the ring {}",
        stats.abandoned, stats.fds_closed
    );
    println!(
        "the client connected and waits for a greeting; it reads: {}",
        greeting(&mut client)
    );
    println!(
        "The kernel had accepted the connection before the deadline was seen. The select\n\
         threw the accepted stream away with the future; the ring closed its descriptor\n\
         (I/O-safe: nothing leaks), but a client that connected was never served: the\n\
         select is not halt-safe (halt safety: work that happened is not thrown away).\n\
         No `select!` can do better: it only has a future, and a dropped future cannot\n\
         hand anything back."
    );

    step("a timeout wrapper: a select that looks at the future first");
    let before = ring.stats().abandoned;
    let timed_out = ring.block_on(async {
        // Nobody connects: the deadline passes with the accept still in the kernel.
        let accept = listener.accept().submit().complete();
        with_timeout(&ring, Duration::from_millis(2), accept)
            .await
            .is_none()
    });
    ring.block_on(ring.sleep(Duration::from_millis(5)))?;
    let stats = ring.stats();
    println!(
        "the wrapper {}: abandoned {} -> {}",
        if timed_out {
            "timed out and dropped the accept's future"
        } else {
            "returned the accept (unexpected here)"
        },
        before,
        stats.abandoned
    );
    println!(
        "A timeout wrapper (`tokio::time::timeout`, `async_std::future::timeout`) is the\n\
         same select with the future polled first. When the op is done by the time it\n\
         looks, the op wins; here it was not, so the wrapper dropped it, and the ring\n\
         cancelled it in the kernel. Nothing was lost this time, but a connection that\n\
         arrived between the deadline and that cancel would have been accepted and\n\
         closed, as in the select above."
    );

    step("race: the loser comes back, still in flight");
    let mut client = ring.block_on(async {
        let accept = listener.accept().submit();
        let timer = ring.sleep(Duration::from_millis(1));
        let client = both_happen(&ring, addr).await?;
        match race(timer, accept).await {
            Raced::First(_fired, accept) => {
                println!("the timer won; `race` handed back the accept, still owed");
                let (stream, peer) = accept.complete().await?;
                stream.send(b"served\n").submit().complete().await.0?;
                stream.close().await?;
                println!("completing it gave the connection from {peer}; it was served");
            }
            Raced::Second(_timer, _) => println!("the accept won (unexpected here)"),
        }
        Ok::<_, io::Error>(client)
    })?;
    println!("the client reads: {}", greeting(&mut client));
    println!(
        "`race` takes tokens, not futures (`Linear` values, lesson 11), so it can give\n\
         the loser back: side work on a deadline costs no connection."
    );

    step("a linked timeout: the kernel decides");
    ring.block_on(async {
        let early = StdTcpStream::connect(addr)?;
        let accepted = listener
            .accept()
            .timeout(Duration::from_millis(1))
            .submit()
            .complete()
            .await;
        match accepted {
            Ok((stream, peer)) => {
                println!("a client was waiting: the accept completed, from {peer}");
                stream.close().await?;
            }
            Err(err) => println!("the accept failed: {err} (unexpected here)"),
        }
        drop(early);
        let accepted = listener
            .accept()
            .timeout(Duration::from_millis(1))
            .submit()
            .complete()
            .await;
        match accepted {
            Ok(_) => println!("the second accept completed (unexpected: nobody connected)"),
            Err(err) => println!(
                "nobody connected: the accept failed with kind {:?} ({err})",
                err.kind()
            ),
        }
        Ok::<_, io::Error>(())
    })?;
    println!(
        "With `timeout(d)` set on the description, the kernel links a timer to the op\n\
         and settles the race itself: either the op completed (and you have its output)\n\
         or the timer cut it off before it did anything. There is no window in which\n\
         both happened."
    );

    step("why not cancel in `Drop`?");
    println!(
        "A destructor cannot `.await`: Rust has no async `Drop` (show 08 has the error).\n\
         So a token's `Drop` can only ask: it submits a cancel and returns, the ring's\n\
         table keeps the op's buffers and reaps its completion later, and a descriptor\n\
         that arrives late is closed. That makes a drop safe. It cannot make it lossless:\n\
         only code that waits for the outcome, `cancel().await`, can get the result back."
    );
    Ok(())
}

/// A timeout wrapper of the usual kind: `None` if `limit` passes first, in which
/// case `future` is dropped.
async fn with_timeout<F: Future>(ring: &Ring, limit: Duration, future: F) -> Option<F::Output> {
    match select_biased(future, ring.sleep(limit)).await {
        Either::Left(output) => Some(output),
        Either::Right(_) => None,
    }
}

/// Makes the accept and the deadline both happen before the program looks: enters
/// the kernel once so that both are in flight, connects a client, and waits 5 ms
/// without the ring, so that the 1 ms timer fires. Both completions are then in the
/// ring (the kernel accepted the connection), and the next poll sees them together.
async fn both_happen(ring: &Ring, addr: SocketAddr) -> io::Result<StdTcpStream> {
    ring.nop().await?;
    let client = StdTcpStream::connect(addr)?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    std::thread::sleep(Duration::from_millis(5));
    Ok(client)
}

/// What the client reads: the greeting, or the end of the stream.
fn greeting(client: &mut StdTcpStream) -> String {
    let mut got = Vec::new();
    match client.read_to_end(&mut got) {
        Ok(_) if got.is_empty() => "end of stream: the server closed it without a word".to_string(),
        Ok(_) => format!("{:?}", String::from_utf8_lossy(&got)),
        Err(err) => format!("an error: {err}"),
    }
}
