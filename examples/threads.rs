//! Thread-per-core in a few lines: a `Runtime` of two threads, each with its own
//! ring; thread 0 makes a connected pair of sockets and hands one end to thread 1
//! through thread 1's mailbox (`IORING_OP_MSG_RING`); thread 1 answers through it.
//! The descriptor has one owner at every moment: if thread 1's mailbox were closed,
//! the send would hand it back.
//!
//! Run it with `cargo run --example threads`. A full server on the same runtime is
//! `examples/echo` with `--threads N [--hand-off]`.

use std::os::unix::net::UnixStream as StdUnixStream;

use linear_uring::net::UnixStream;
use linear_uring::runtime::{Runtime, Worker};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::builder().threads(2).build()?;
    let heard = runtime.run(|worker: Worker<StdUnixStream>| async move {
        let ring = worker.ring().clone();
        if worker.index() == 0 {
            let (mine, theirs) = StdUnixStream::pair()?;
            let handed = worker.peer(1).send(&ring, theirs).complete().await;
            handed.map_err(|undelivered| undelivered.into_parts().0)?;
            let mine = UnixStream::from_std(&ring, mine)?;
            let (received, buf) = mine.recv(Vec::with_capacity(64)).submit().complete().await;
            received?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        } else {
            let theirs = UnixStream::from_std(&ring, worker.recv().await)?;
            let answer = theirs.send(b"hello from thread 1").submit();
            let (sent, _) = answer.complete().await;
            sent?;
            Ok::<_, std::io::Error>(String::new())
        }
    })?;
    let heard = heard[0].as_ref().map_err(|e| e.to_string())?;
    println!("thread 0 heard: {heard:?}");
    Ok(())
}
