//! Threads: tokens stay on their ring's thread; outputs travel.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::thread;

use linear_uring::net::{TcpListener, TcpStream, UnixStream};
use linear_uring::{CancelOutcome, Ring, Stats};

use crate::story::{open_fds, step};

/// The current thread's name, for the story.
fn thread_name() -> String {
    thread::current().name().unwrap_or("(unnamed)").to_string()
}

/// A client on a thread of its own: connects, sends `request` (if any), closes its
/// sending side, and returns everything the server sent until it closed.
fn client(
    addr: std::net::SocketAddr,
    request: &'static [u8],
) -> thread::JoinHandle<io::Result<String>> {
    thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr)?;
        stream.write_all(request)?;
        stream.shutdown(Shutdown::Write)?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        Ok(reply)
    })
}

/// Receives on `stream` until the peer closes its sending side.
async fn recv_to_end(stream: &TcpStream) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    loop {
        bytes.reserve(64);
        let (got, back) = stream.recv(bytes).submit().await;
        bytes = back;
        if got? == 0 {
            return Ok(bytes);
        }
    }
}

fn joined<T>(handle: thread::JoinHandle<io::Result<T>>) -> io::Result<T> {
    handle
        .join()
        .map_err(|_| io::Error::other("a thread of the lesson panicked"))?
}

pub(crate) fn run() -> io::Result<()> {
    println!(
        "A token holds an `Rc` of its ring, and a `Ring` holds an `Rc`: both are `!Send`,\n\
         so the compiler keeps them on the thread that made the ring (show 12 has the\n\
         errors). That is not caution for its own sake. The ring's table of ops in\n\
         flight is a plain `RefCell`, shared by every token without locks; the kernel\n\
         posts each completion to the completion queue of the ring that submitted the\n\
         op, which only its own thread reaps; and on Linux 6.1 and later the ring is\n\
         set up `SINGLE_ISSUER`, a promise to the kernel that one thread alone submits.\n\
         What crosses threads is what an op produces: bytes, counts, a descriptor\n\
         turned back into a std type."
    );

    step("the bytes cross: a receive's Vec<u8> moved to a worker thread");
    let ring = Ring::new()?;
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    let caller = client(listener.local_addr()?, b"count my words, please");
    let (stream, request) = ring.block_on(async {
        let (stream, _peer) = listener.accept().submit().await?;
        let request = recv_to_end(&stream).await?;
        Ok::<_, io::Error>((stream, request))
    })?;
    // The Vec is the receive's output: plain data, `Send`. The stream stays here.
    let bytes = request.clone();
    let worker = thread::Builder::new()
        .name("word-counter".to_string())
        .spawn(move || {
            let words = bytes.split(|b| b.is_ascii_whitespace()).count();
            format!("{words} words, counted on thread {:?}\n", thread_name())
        })?;
    let answer = worker
        .join()
        .map_err(|_| io::Error::other("the word counter panicked"))?;
    ring.block_on(async {
        let (sent, _) = stream.send_all(answer.clone().into_bytes()).await;
        sent?;
        stream.close().await
    })?;
    println!(
        "on thread {:?} the ring received {:?} ({} bytes),\nand moved the Vec to a \
         worker thread, which returned\n   {:?}",
        thread_name(),
        String::from_utf8_lossy(&request),
        request.len(),
        answer.trim_end()
    );
    println!(
        "the ring sent it back; the client read {:?}",
        joined(caller)?.trim_end()
    );

    step("the connection crosses: `into_std()` gives an ordinary std::net::TcpStream");
    let caller = client(listener.local_addr()?, b"");
    let (written, peer) = ring.block_on(async {
        let (stream, peer) = listener.accept().submit().await?;
        // No op is in flight on the stream: its descriptor can leave the ring.
        let mut plain: std::net::TcpStream = stream.into_std()?;
        let worker = thread::Builder::new()
            .name("replier".to_string())
            .spawn(move || {
                let reply = format!("written by thread {:?} with std's Write\n", thread_name());
                plain.write_all(reply.as_bytes())?;
                Ok::<_, io::Error>(reply.len())
            })?;
        Ok::<_, io::Error>((worker, peer))
    })?;
    let written = joined(written)?;
    println!(
        "the ring accepted a connection from {}, and `into_std()` took its descriptor\n\
         out of the ring: a worker thread wrote {written} bytes to it with blocking std\n\
         I/O, then closed it.",
        peer.ip()
    );
    println!("the client read {:?}", joined(caller)?.trim_end());

    step("a stream with an op in flight cannot leave its ring");
    let before = open_fds()?;
    let (mine, _peer) = UnixStream::pair(&ring)?;
    let with_pair = open_fds()?;
    let outcome = ring.block_on(async {
        let recv = mine.recv(Vec::with_capacity(64)).submit();
        match mine.into_std() {
            Ok(_) => println!("into_std() succeeded with a receive in flight (unexpected)"),
            Err(err) => println!(
                "into_std() with a receive in flight: {:?}:\n   {err}",
                err.kind()
            ),
        }
        let open = open_fds()?;
        println!(
            "`into_std` consumed the stream, and the pair's descriptors still open are {} \
             of {}",
            open - before,
            with_pair - before
        );
        Ok::<_, io::Error>(recv.cancel().await)
    })?;
    match outcome {
        CancelOutcome::Cancelled(buf) => println!(
            "the receive, cancelled on the ring's thread: Cancelled, its buffer back ({} \
             bytes)",
            buf.len()
        ),
        CancelOutcome::Completed((got, _)) => {
            println!("the receive completed first: {got:?} (unexpected)")
        }
    }
    println!(
        "once the receive ended, descriptors of the pair still open: {} (the peer's)",
        open_fds()? - before
    );
    println!(
        "The kernel could still write into that receive's buffer for this ring, so the\n\
         op holds a share of the descriptor until it ends, and the descriptor cannot\n\
         become a std stream before then. Finish or cancel the ops, then hand it over."
    );

    step("one ring per thread");
    // A builder is only settings: it is `Send`, and the ring it builds stays where it
    // was built.
    let builder = Ring::builder().entries(64);
    let other = thread::Builder::new()
        .name("second-ring".to_string())
        .spawn(move || {
            let ring = builder.build()?;
            ring.block_on(async {
                ring.nop().complete().await?;
                ring.sleep(std::time::Duration::from_millis(1)).await
            })?;
            Ok::<(String, Stats), io::Error>((thread_name(), ring.stats()))
        })?;
    let here = Ring::new()?;
    here.block_on(async {
        for _ in 0..3 {
            here.nop().complete().await?;
        }
        Ok::<(), io::Error>(())
    })?;
    let (there, theirs) = joined(other)?;
    let ours = here.stats();
    println!(
        "the ring of thread {:?}: submitted {}, completed {}",
        thread_name(),
        ours.submitted,
        ours.completed
    );
    println!(
        "the ring of thread {there:?}: submitted {}, completed {}",
        theirs.submitted, theirs.completed
    );
    println!(
        "Each ring saw only the completions of the ops it submitted. What came back\n\
         across the join was plain data, a thread's name and its ring's `Stats` (a Copy\n\
         struct), never the ring itself."
    );

    println!(
        "\nSo a program with many threads runs one ring on each, and hands work between\n\
         them as data: bytes, std streams, results. Within one thread, a ring can run\n\
         many tasks (`ring.spawn` needs no `Send`). Next, lesson 13: inside one thread,\n\
         a scope turns a forgotten op into a compile error."
    );
    Ok(())
}
