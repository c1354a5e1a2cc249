//! The drop bomb: one lost receive under each drop policy, each in a process of its
//! own.

use std::io::{self, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::Duration;

use linear_uring::net::UnixStream;
use linear_uring::{DropPolicy, Ring};

use crate::story::{abandoned_line, child as run_child, ending, quote_child, step};

/// What the peer sends first: the bytes the dropped receive holds.
const FIRST: &[u8] = b"hello, linear world";
/// What the peer sends after the drop.
const SECOND: &[u8] = b"second message";

pub(crate) fn run() -> io::Result<()> {
    println!(
        "A token dropped before it was consumed is the mistake linear types would reject\n\
         at compile time. Rust cannot, so a token's `Drop` does what the toy bomb of\n\
         lesson 01 did, and more. It first makes the drop I/O-safe: nothing the kernel\n\
         may still touch is freed, and nothing leaks (the op is cancelled in the kernel,\n\
         the ring keeps the buffer until the kernel is done with it, a late descriptor\n\
         is closed). Then the ring's drop policy decides how loud to be.\n\
         \n\
         Here the mistake costs something. A receive is submitted with a 64-byte buffer;\n\
         the peer sends {} bytes; the kernel completes the receive, so the bytes are out\n\
         of the socket and in the buffer; then the token is dropped. Each policy runs in\n\
         a child process, because two of them end it.",
        FIRST.len()
    );
    let mut lost = 0;
    for (policy, name, about) in [
        (
            "panic",
            "DropPolicy::Panic",
            "the default with debug assertions: panic, naming the op's line",
        ),
        (
            "reclaim",
            "DropPolicy::Reclaim",
            "the default in release builds: count it and go on",
        ),
        (
            "abort",
            "DropPolicy::Abort",
            "strict linearity in production: print the message, abort",
        ),
    ] {
        step(&format!("{name}: {about}"));
        let output = run_child("l05_drop_bomb", policy)?;
        println!("The child {}. It printed:", ending(&output));
        quote_child(&output);
        let stdout = String::from_utf8_lossy(&output.stdout);
        // The hook's sentence, second line: what became of the receive.
        let completed = format!(
            "was abandoned; it completed anyway (result {})",
            FIRST.len()
        );
        lost += stdout.lines().filter(|l| l.contains(&completed)).count();
        if policy == "panic" {
            where_it_panicked(&output.stderr);
        }
    }
    println!(
        "\nThe same mistake in three children, and the hook reported the same loss in {lost}\n\
         of them: a receive that completed anyway, with {} bytes the kernel had taken\n\
         out of the socket, delivered to nobody. No policy can undo that; it can only\n\
         make sure you hear of it. `Panic` says where, during development; `Reclaim`\n\
         keeps a release build serving, and `on_abandon` (the \"was abandoned\" lines)\n\
         lets it log or count what was lost; `Abort` refuses to go on. The fix is never\n\
         a policy: consume the token, with `complete().await`, or with\n\
         `cancel().await`, which would have handed the bytes back (lesson 06).",
        FIRST.len()
    );
    Ok(())
}

/// Says where the Panic child's panic points: its header names the library's line
/// that raised it, its message the line that submitted the receive.
fn where_it_panicked(stderr: &[u8]) {
    let stderr = String::from_utf8_lossy(stderr);
    let raised = stderr.lines().find_map(|l| {
        l.split_once(" panicked at ")
            .map(|(_, at)| at.trim_end_matches(':'))
    });
    let submitted = stderr.lines().find_map(|l| {
        let (_, rest) = l.split_once(" submitted at ")?;
        rest.split_whitespace().next()
    });
    if let (Some(raised), Some(submitted)) = (raised, submitted) {
        println!(
            "The panic's header names {raised}: the library's line, where the\n\
             panic is raised. Its message names {submitted}:\n\
             your line, the one that submitted the receive."
        );
    }
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
    ring.on_abandon(|abandoned| println!("{}", abandoned_line(&abandoned.to_string())));
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
