//! Cancel is a race: both outcomes.

use std::io::{self, Read};
use std::time::Duration;

use linear_uring::net::{TcpListener, UnixStream};
use linear_uring::{CancelOutcome, Ring};

use crate::story::step;

/// Long enough for the kernel to finish an op whose data is already there, so that
/// its completion is in before the cancel is asked for.
const SETTLE: Duration = Duration::from_millis(5);

pub(crate) fn run() -> io::Result<()> {
    println!(
        "`op.cancel().await` asks the kernel to stop an op. But the op may finish\n\
         first: the bytes arrive, the connection is accepted, while the cancel request\n\
         is on its way. So a cancel has two outcomes, and `CancelOutcome` has a variant\n\
         for each:\n\
         \n\
         \x20 Cancelled(residue)   the op did nothing; what it owned (a buffer) comes back\n\
         \x20 Completed(output)    the op finished first; here is its output, exactly what\n\
         \x20                      `complete()` would have given\n\
         \n\
         Which one you get is a race. This lesson runs each side of it on purpose,\n\
         with a receive and with an accept, and prints what came back."
    );
    let ring = Ring::new()?;
    ring.block_on(async {
        let (ours, peer) = UnixStream::pair(&ring)?;

        step("a receive with nothing sent, cancelled");
        let recv = ours.recv(Vec::with_capacity(64)).submit();
        match recv.cancel().await {
            CancelOutcome::Cancelled(buf) => println!(
                "Cancelled(buf): the buffer came back with {} bytes in it (capacity {}).",
                buf.len(),
                buf.capacity()
            ),
            CancelOutcome::Completed((received, buf)) => println!(
                "Completed(({received:?}, buf)) with {:?} (unexpected: nothing was sent)",
                String::from_utf8_lossy(&buf)
            ),
        }
        cancelled(&ring);

        step("a receive that the peer answers before the cancel");
        let recv = ours.recv(Vec::with_capacity(64)).submit();
        let (sent, _) = peer.send(b"hello").submit().complete().await;
        println!("the peer sent {} bytes: \"hello\"", sent?);
        // The receive's completion comes in while the ring waits in the kernel.
        ring.sleep(SETTLE).await?;
        match recv.cancel().await {
            CancelOutcome::Completed((received, buf)) => println!(
                "Completed(({received:?}, buf)): the receive had finished, and the bytes are\n\
                 in hand: {:?}",
                String::from_utf8_lossy(&buf)
            ),
            CancelOutcome::Cancelled(buf) => println!(
                "Cancelled(buf) with {} bytes (unexpected: the bytes had arrived)",
                buf.len()
            ),
        }
        cancelled(&ring);
        ours.close().await?;
        peer.close().await?;

        let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
        let addr = listener.local_addr()?;

        step("an accept that nobody connects to, cancelled");
        let accept = listener.accept().submit();
        match accept.cancel().await {
            CancelOutcome::Cancelled(()) => {
                println!("Cancelled(()): nobody connected to {addr}, and no connection was taken.")
            }
            CancelOutcome::Completed(accepted) => println!(
                "Completed: {:?} (unexpected: nobody connected)",
                accepted.map(|(_, peer)| peer)
            ),
        }
        cancelled(&ring);

        step("an accept that a client beats to it");
        let mut client = std::net::TcpStream::connect(addr)?;
        client.set_read_timeout(Some(Duration::from_secs(5)))?;
        println!(
            "a std client connected to {addr} from {}",
            client.local_addr()?
        );
        let accept = listener.accept().submit();
        ring.sleep(SETTLE).await?;
        match accept.cancel().await {
            CancelOutcome::Completed(Ok((stream, from))) => {
                println!(
                    "Completed(Ok((stream, addr))): the accept had taken the connection from\n\
                     {from}. The cancel handed it over instead of closing it, so serve it:"
                );
                let (sent, _) = stream
                    .send(b"welcome: your connection was not lost")
                    .submit()
                    .complete()
                    .await;
                sent?;
                stream.close().await?;
                let mut greeting = String::new();
                client.read_to_string(&mut greeting)?;
                println!("the client read {greeting:?}, then the end of the stream.");
            }
            CancelOutcome::Completed(Err(err)) => println!("Completed(Err({err})) (unexpected)"),
            CancelOutcome::Cancelled(()) => {
                println!("Cancelled(()) (unexpected: the client had connected)")
            }
        }
        cancelled(&ring);
        listener.close().await?;
        Ok::<(), io::Error>(())
    })?;

    let stats = ring.stats();
    println!(
        "\nIn all: abandoned: {}, descriptors the ring had to close for lost ops: {},\n\
         in flight: {}.",
        stats.abandoned, stats.fds_closed, stats.in_flight
    );
    println!(
        "\nHow `cancel()` decides: it sends the kernel a cancel request, then waits for\n\
         the op's own final completion, and that completion alone decides. ECANCELED\n\
         (or EINTR, for an op stopped inside a kernel worker): the op did nothing,\n\
         Cancelled. Anything else: the op finished, Completed, with its output. Whether\n\
         the cancel request found the op in time is never asked. That is why the\n\
         counter of ECANCELED completions moved only for the two Cancelled outcomes."
    );
    println!(
        "\nA cancel that loses the race hands back the result instead of throwing it\n\
         away. `CancelOutcome` is `#[must_use]`, and a `match` on it must have both arms,\n\
         so the compiler makes you handle the result that won (show 06). A plain\n\
         `select!` has no such outcome to hand back: lesson 07."
    );
    Ok(())
}

/// Prints how many completions so far reported an op cancelled (`ECANCELED`).
fn cancelled(ring: &Ring) {
    println!(
        "ring.stats().cancelled: {} (completions that said ECANCELED, so far)",
        ring.stats().cancelled
    );
}
