//! The capstone: the accept loop that motivates the whole library, run for real,
//! written with a `select` and with `race`.

use std::cell::Cell;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::{race, DropPolicy, Raced, Ring};

use super::l07_async_cancellation::{select_biased, Either};
use crate::story::{open_fds, step};

/// How many clients connect in each run.
const CLIENTS: usize = 300;
/// The server's deadline: when it passes without a connection, the server does
/// some side work and waits again.
const DEADLINE: Duration = Duration::from_millis(1);

/// What one run of the server saw, and what its clients saw.
struct Tally {
    /// Connections the server accepted and greeted.
    served: usize,
    /// Accepted connections the server never saw (counted by `on_abandon`).
    lost: usize,
    /// Clients that read the greeting.
    greeted: usize,
    /// Clients whose connection was closed without a greeting.
    dropped: usize,
    /// Clients whose connect failed: they never reached the server.
    failed: usize,
    /// Times the deadline passed.
    side_work: usize,
    /// Descriptors open after the run, minus before.
    leaked_fds: isize,
}

pub(crate) fn run() -> io::Result<()> {
    println!(
        "An accept loop with a deadline, the easiest loss to write on io_uring: a server\n\
         accepts connections, but also has work to do every millisecond, so it waits for\n\
         an accept with a deadline. {CLIENTS} clients connect about once per millisecond,\n\
         right around the deadlines, and each waits for a one-byte greeting. Each\n\
         connection gets a task of its own, which greets the client and then works for\n\
         0.2 to 1.8 ms (logging, accounting) on the ring's thread. The server is written\n\
         twice. First with a `select!` over the accept's future and a timer, one that\n\
         polls the timer first (`biased;`); an unbiased one does the same half the time.\n\
         Then with `race` over the token. Both rings use `DropPolicy::Reclaim` and count\n\
         what was lost with `on_abandon`."
    );

    step("with a select: the timer's win drops the accept");
    let select = serve(Strategy::Select)?;
    report(&select);
    if select.lost == select.dropped {
        println!(
            "server lost {}, clients closed without a greeting {}: the same connections,\n\
             counted at both ends.",
            select.lost, select.dropped
        );
    } else {
        println!(
            "server lost {}, but clients closed without a greeting {}: the two counts differ.",
            select.lost, select.dropped
        );
    }
    if select.lost == 0 {
        println!(
            "This run lost nothing: a loss needs the accept and the timer to finish while\n\
             the server is busy elsewhere, and that depends on timing. Run the lesson\n\
             again; the bug is there whether or not a run shows it."
        );
    } else {
        println!(
            "{} clients connected, were accepted by the kernel, and were closed by the\n\
             ring without a word: each time the timer and the accept both finished while\n\
             a handler was working, the select saw both at once, kept the timer, and\n\
             dropped the accept with its connection. The ring made the loss I/O-safe\n\
             (no descriptor leaked) and visible (on_abandon), but only the program could\n\
             have served them.",
            select.lost
        );
    }

    step("with race: the accept is handed back");
    let raced = serve(Strategy::Race)?;
    report(&raced);
    if raced.lost == 0 && raced.greeted == CLIENTS {
        println!(
            "Every client was served. When the timer wins, `race` gives back the accept,\n\
             still in flight, and the next round waits on it again: the side work runs and\n\
             no connection is dropped. That is the whole course in one loop: the token\n\
             cannot be dropped silently (lessons 02-05), a cancel would hand back what it\n\
             caught (06), a race returns its loser (07), and in a scope even a forgotten\n\
             accept is a compile error (13)."
        );
    } else {
        println!(
            "Not every client was served this run: {} of {CLIENTS} greeted, {} lost by the\n\
             server, {} closed without a greeting, {} connects failed. (Unexpected: `race`\n\
             hands the accept back, so the server drops none of its own accord.)",
            raced.greeted, raced.lost, raced.dropped, raced.failed
        );
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Select,
    Race,
}

fn report(t: &Tally) {
    println!(
        "server:  served {}, lost {}, side work {} times",
        t.served, t.lost, t.side_work
    );
    println!(
        "clients: greeted {}, closed without a greeting {}",
        t.greeted, t.dropped
    );
    if t.failed > 0 {
        println!("clients whose connect failed: {}", t.failed);
    }
    println!("descriptors leaked: {}", t.leaked_fds);
}

fn serve(strategy: Strategy) -> io::Result<Tally> {
    let fds_before = open_fds()?;
    let (served, lost, side_work, clients) = {
        let ring = Ring::builder().drop_policy(DropPolicy::Reclaim).build()?;
        let lost = Rc::new(Cell::new(0usize));
        let counter = Rc::clone(&lost);
        ring.on_abandon(move |abandoned| {
            if abandoned.lost_result() {
                counter.set(counter.get() + 1);
            }
        });
        let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
        // Set by the clients' thread when its last client is done: if a connect
        // failed, fewer than CLIENTS connections come, and the loop must still end.
        let done = Arc::new(AtomicBool::new(false));
        let clients = spawn_clients(listener.local_addr()?, Arc::clone(&done));
        let clients_left = || !done.load(Ordering::Acquire);
        let mut accepted = 0;
        let mut side_work = 0;
        let mut handlers = Vec::new();
        ring.block_on(async {
            match strategy {
                Strategy::Select => {
                    while accepted + lost.get() < CLIENTS && clients_left() {
                        let accept = listener.accept().submit().complete();
                        match select_biased(ring.sleep(DEADLINE), accept).await {
                            Either::Left(_) => side_work += 1,
                            Either::Right(connection) => {
                                let (stream, _) = connection?;
                                handlers.push(ring.spawn(handle(stream, accepted)));
                                accepted += 1;
                            }
                        }
                    }
                }
                Strategy::Race => {
                    let mut accept = listener.accept().submit();
                    while accepted < CLIENTS && clients_left() {
                        match race(accept, ring.sleep(DEADLINE)).await {
                            Raced::First(connection, _timer) => {
                                let (stream, _) = connection?;
                                handlers.push(ring.spawn(handle(stream, accepted)));
                                accepted += 1;
                                accept = listener.accept().submit();
                            }
                            Raced::Second(pending, _fired) => {
                                side_work += 1;
                                accept = pending;
                            }
                        }
                    }
                    // Nobody else will connect: stop the last accept, and serve what
                    // it caught if it caught anything.
                    if let Some(Ok((stream, _))) = accept.cancel().await.completed() {
                        handlers.push(ring.spawn(handle(stream, accepted)));
                    }
                }
            }
            let mut served = 0;
            for handler in handlers {
                if handler.await.is_ok() {
                    served += 1;
                }
            }
            Ok::<usize, io::Error>(served)
        })
        .map(|served| (served, lost.get(), side_work, clients))?
    };
    let (greeted, dropped, failed) = clients
        .join()
        .map_err(|_| io::Error::other("a client thread panicked"))?;
    Ok(Tally {
        served,
        lost,
        greeted,
        dropped,
        failed,
        side_work,
        leaked_fds: open_fds()? as isize - fds_before as isize,
    })
}

/// Serves connection number `n`: a one-byte greeting, then some work after the
/// reply (0.2 to 1.8 ms of it, standing for logging or accounting, done on the
/// ring's thread as a real handler's computation would be). While a handler works,
/// the server's accept and timer are in flight, and may both finish before the
/// server looks again.
async fn handle(stream: linear_uring::net::TcpStream, n: usize) -> io::Result<()> {
    stream.send(b"!").submit().complete().await.0?;
    thread::sleep(Duration::from_micros(200 + (n as u64 * 530) % 1600));
    stream.close().await
}

/// Connects the clients from a thread of their own, about one per deadline, one
/// after the other; returns how many were greeted, how many were closed without a
/// greeting and how many could not connect, and sets `done` when the last is done.
fn spawn_clients(
    addr: SocketAddr,
    done: Arc<AtomicBool>,
) -> thread::JoinHandle<(usize, usize, usize)> {
    thread::spawn(move || {
        let (mut greeted, mut dropped, mut failed) = (0, 0, 0);
        for i in 0..CLIENTS {
            // 900 to 1,100 microseconds apart: around the server's deadline.
            thread::sleep(Duration::from_micros(900 + (i as u64 * 37) % 200));
            let Ok(mut stream) = StdTcpStream::connect(addr) else {
                failed += 1;
                continue;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut byte = [0u8; 1];
            match stream.read(&mut byte) {
                Ok(1) => greeted += 1,
                _ => dropped += 1,
            }
        }
        done.store(true, Ordering::Release);
        (greeted, dropped, failed)
    })
}
