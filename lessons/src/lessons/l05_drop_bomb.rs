//! The drop bomb: one lost receive under each drop policy, each in a process of its
//! own.

use std::io::{self, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::Duration;

use linear_uring::net::UnixStream;
use linear_uring::{DropPolicy, Ring};

use crate::story::{child as run_child, ending, quote_child, step};

/// What the peer sends first: the bytes the dropped receive holds.
const FIRST: &[u8] = b"hello, linear world";
/// What the peer sends after the drop.
const SECOND: &[u8] = b"second message";

pub(crate) fn run() -> io::Result<()> {
    println!(
        "A token dropped before it was consumed is the mistake linear types would reject\n\
         at compile time. Rust cannot, so a token's `Drop` does what the toy bomb of\n\
         lesson 01 did, and more: it first makes the drop I/O-safe (the op is cancelled\n\
         in the kernel, the ring keeps the buffer until the kernel is done with it, a\n\
         late descriptor is closed), then the ring's drop policy decides how loud to be.\n\
         \n\
         Here the mistake costs something. A receive is submitted with a 64-byte buffer;\n\
         the peer sends {} bytes; the kernel completes the receive, so the bytes are out\n\
         of the socket and in the buffer; then the token is dropped. Each policy runs in\n\
         a child process, because two of them end it.",
        FIRST.len()
    );
    for (policy, name, about) in [
        (
            "panic",
            "DropPolicy::Panic",
            "the default with debug assertions: panic, naming the line that submitted the op",
        ),
        (
            "reclaim",
            "DropPolicy::Reclaim",
            "the default in release builds: count it (`stats().abandoned`) and go on",
        ),
        (
            "abort",
            "DropPolicy::Abort",
            "for strict linearity in production: print the same message and abort",
        ),
    ] {
        step(&format!("{name}: {about}"));
        let output = run_child("l05_drop_bomb", policy)?;
        println!("The child {}. It printed:", ending(&output));
        quote_child(&output);
    }
    println!(
        "\nThe same mistake three times, and the same loss three times: the {} bytes were\n\
         taken out of the socket by the kernel and went to nobody. No policy can undo\n\
         that; it can only make sure you hear of it. `Panic` says where, during\n\
         development; `Reclaim` keeps a release build serving, and `on_abandon` (the\n\
         \"on_abandon:\" lines) lets it log or count what was lost; `Abort` refuses to go\n\
         on. The fix is never a policy: consume the token, with `complete().await`, or\n\
         with `cancel().await`, which would have handed the bytes back (lesson 06).",
        FIRST.len()
    );
    Ok(())
}

/// In a child process: lose a receive that holds bytes under the policy `arg`.
pub(crate) fn child(arg: &str) {
    let policy = match arg {
        "panic" => DropPolicy::Panic,
        "reclaim" => DropPolicy::Reclaim,
        "abort" => DropPolicy::Abort,
        other => {
            eprintln!("unknown policy {other:?}");
            std::process::exit(2);
        }
    };
    if let Err(err) = lose_a_receive(policy) {
        eprintln!("the lesson failed: {err}");
        std::process::exit(1);
    }
}

fn lose_a_receive(policy: DropPolicy) -> io::Result<()> {
    let ring = Ring::builder().drop_policy(policy).build()?;
    ring.on_abandon(|abandoned| println!("on_abandon: {abandoned}"));
    let (ours, mut theirs) = StdUnixStream::pair()?;
    let ours = UnixStream::from_std(&ring, ours)?;
    ring.block_on(async {
        let recv = ours.recv(Vec::with_capacity(64)).submit();
        theirs.write_all(FIRST)?;
        // While this waits, the kernel completes the receive: the bytes are in its
        // buffer, and its completion is in the ring.
        ring.sleep(Duration::from_millis(5)).await?;
        println!(
            "the peer sent {} bytes; dropping the receive that holds them",
            FIRST.len()
        );
        std::io::stdout().flush()?;
        drop(recv); // The mistake.

        // Only `Reclaim` gets here.
        theirs.write_all(SECOND)?;
        let (n, buf) = ours.recv(Vec::with_capacity(64)).submit().complete().await;
        let n = n?;
        println!(
            "the next receive got {n} bytes, {:?}: the first {} never arrive",
            String::from_utf8_lossy(&buf),
            FIRST.len()
        );
        Ok::<(), io::Error>(())
    })?;
    let stats = ring.stats();
    println!(
        "stats: abandoned {}, in flight {}",
        stats.abandoned, stats.in_flight
    );
    Ok(())
}
