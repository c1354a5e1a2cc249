//! Writing your own `Linear` type: a composite op that races and cancels like one.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use linear_uring::net::UnixStream;
use linear_uring::op::Recv;
use linear_uring::{race, CancelOutcome, DropPolicy, Linear, Op, Progress, Raced, Ring, WriteAll};

use crate::story::{abandoned_line, quote, step};

/// Room added to the reply buffer before each receive.
const REPLY_ROOM: usize = 64;

/// A request: a line sent, then a reply line received. Two kinds of token in
/// sequence, and to its caller one debt.
struct Request<'a> {
    stream: &'a UnixStream,
    /// Bytes of the request the kernel took, known once the send finished.
    sent: usize,
    /// Receives submitted so far: one, then one more after each part of a line.
    receives: usize,
    step: Step,
}

enum Step {
    /// The request going out: the library's own composite op, itself `Linear`.
    Sending(WriteAll<Vec<u8>>),
    /// The request sent (its buffer kept, to hand back), the reply coming in: each
    /// receive appends to the reply buffer it owns, until a newline arrives.
    Receiving {
        request: Vec<u8>,
        recv: Op<Recv<Vec<u8>>>,
    },
    /// Resolved: never polled again.
    Spent,
}

/// Both buffers, handed back however the request ends.
#[derive(Debug)]
struct Buffers {
    request: Vec<u8>,
    reply: Vec<u8>,
}

/// What a cancel that caught the request in time hands back: how far it got, and
/// the buffers, holding every byte of the reply that arrived.
#[derive(Debug)]
struct Stopped {
    sent: usize,
    received: usize,
    buffers: Buffers,
}

impl<'a> Request<'a> {
    /// Submits the request's first op now, like the library's composites: when
    /// `new` returns, the line is already on its way.
    fn new(stream: &'a UnixStream, line: &[u8]) -> Request<'a> {
        Request {
            stream,
            sent: 0,
            receives: 0,
            step: Step::Sending(stream.send_all(line.to_vec())),
        }
    }

    /// Takes the request buffer out of a finished `Receiving` step.
    fn take_request(&mut self) -> Vec<u8> {
        match std::mem::replace(&mut self.step, Step::Spent) {
            Step::Receiving { request, .. } => request,
            _ => unreachable!("called only in the Receiving step"),
        }
    }
}

fn end_of_stream() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the peer closed before replying",
    )
}

impl Linear for Request<'_> {
    /// Whether a whole reply line arrived, and the buffers.
    type Output = (io::Result<()>, Buffers);
    type Residue = Stopped;

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match &mut self.step {
                Step::Sending(send) => {
                    let (result, request) = ready!(send.poll_complete(cx));
                    if let Err(err) = result {
                        self.step = Step::Spent;
                        let reply = Vec::new();
                        return Poll::Ready((Err(err), Buffers { request, reply }));
                    }
                    self.sent = request.len();
                    let recv = self.stream.recv(Vec::with_capacity(REPLY_ROOM)).submit();
                    self.receives += 1;
                    self.step = Step::Receiving { request, recv };
                }
                Step::Receiving { recv, .. } => {
                    let (result, mut reply) = ready!(recv.poll_complete(cx));
                    let request = self.take_request();
                    let result = match result {
                        Ok(0) => Err(end_of_stream()),
                        Ok(_) if reply.contains(&b'\n') => Ok(()),
                        // Part of the line: receive the rest after it.
                        Ok(_) => {
                            reply.reserve(REPLY_ROOM);
                            let recv = self.stream.recv(reply).submit();
                            self.receives += 1;
                            self.step = Step::Receiving { request, recv };
                            continue;
                        }
                        Err(err) => Err(err),
                    };
                    return Poll::Ready((result, Buffers { request, reply }));
                }
                Step::Spent => panic!("a Request was polled after it resolved"),
            }
        }
    }

    fn start_cancel(&mut self) {
        match &mut self.step {
            Step::Sending(send) => send.start_cancel(),
            Step::Receiving { recv, .. } => recv.start_cancel(),
            Step::Spent => {}
        }
    }

    fn poll_cancel(&mut self, cx: &mut Context<'_>) -> Poll<CancelOutcome<Self::Output, Stopped>> {
        match &mut self.step {
            Step::Sending(send) => {
                // The send's own cancel says how much of the line went out.
                let outcome = ready!(send.poll_cancel(cx));
                self.step = Step::Spent;
                let (sent, request) = match outcome {
                    CancelOutcome::Cancelled(Progress { done, buf }) => (done, buf),
                    // The whole line went out first; no receive was submitted yet.
                    CancelOutcome::Completed((Ok(()), buf)) => (buf.len(), buf),
                    CancelOutcome::Completed((Err(err), request)) => {
                        let reply = Vec::new();
                        let output = (Err(err), Buffers { request, reply });
                        return Poll::Ready(CancelOutcome::Completed(output));
                    }
                };
                let buffers = Buffers {
                    request,
                    reply: Vec::new(),
                };
                Poll::Ready(CancelOutcome::Cancelled(Stopped {
                    sent,
                    received: 0,
                    buffers,
                }))
            }
            Step::Receiving { recv, .. } => {
                let outcome = ready!(recv.poll_cancel(cx));
                let request = self.take_request();
                let (result, reply) = match outcome {
                    // The reply's bytes so far are in the buffer the cancel gave back.
                    CancelOutcome::Cancelled(reply) => (None, reply),
                    CancelOutcome::Completed((Ok(0), reply)) => (Some(Err(end_of_stream())), reply),
                    CancelOutcome::Completed((Ok(_), reply)) if reply.contains(&b'\n') => {
                        (Some(Ok(())), reply)
                    }
                    // More bytes, still no whole line: reported, not lost.
                    CancelOutcome::Completed((Ok(_), reply)) => (None, reply),
                    CancelOutcome::Completed((Err(err), reply)) => (Some(Err(err)), reply),
                };
                let buffers = Buffers { request, reply };
                Poll::Ready(match result {
                    Some(result) => CancelOutcome::Completed((result, buffers)),
                    None => CancelOutcome::Cancelled(Stopped {
                        sent: self.sent,
                        received: buffers.reply.len(),
                        buffers,
                    }),
                })
            }
            Step::Spent => panic!("a Request was polled after it resolved"),
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Prints what a cancel of a request reported, and returns the bytes of reply it
/// handed back, if it was cancelled.
fn report(outcome: CancelOutcome<(io::Result<()>, Buffers), Stopped>) -> Option<Vec<u8>> {
    match outcome {
        CancelOutcome::Cancelled(stopped) => {
            println!(
                "cancel(request) resolved to Cancelled: sent {} bytes, received {} bytes \
                 of reply,\nbuffers handed back: request {:?}, reply {:?}",
                stopped.sent,
                stopped.received,
                text(&stopped.buffers.request),
                text(&stopped.buffers.reply),
            );
            Some(stopped.buffers.reply)
        }
        CancelOutcome::Completed((result, buffers)) => {
            println!(
                "cancel(request) resolved to Completed({result:?}): the reply {:?} arrived \
                 first (unexpected here)",
                text(&buffers.reply)
            );
            None
        }
    }
}

pub(crate) fn run() -> io::Result<()> {
    println!(
        "A composite op is a small program of tokens: send a request, then receive the\n\
         reply. Each of its tokens is a debt, so the composite is one too: dropped half\n\
         way, it abandons whichever op it had in flight. The library's `race`, `cancel`\n\
         and scopes accept any type that implements `linear_uring::Linear`, the trait\n\
         by which a debt says how it finishes (`poll_complete`) and how it stops\n\
         (`start_cancel`, then `poll_cancel`, which reports what was done). This lesson\n\
         writes one: `Request`, a line sent on a Unix stream, then a reply line received."
    );

    let ring = Ring::new()?;
    let line = b"GET /weather\n";

    step("the contract, in the code of this lesson");
    println!(
        "`Request` holds one token at a time: a `WriteAll` (the library's composite\n\
         send) while the line goes out, then a `Recv` that appends to the reply buffer\n\
         until a newline arrives.\n\
         \x20 poll_complete  polls the token in flight; when one finishes, submits the next\n\
         \x20 start_cancel   asks the token in flight to stop; never blocks\n\
         \x20 poll_cancel    waits for that token's own outcome and turns it into the\n\
         \x20                request's: Cancelled(Stopped {{ sent, received, buffers }}) if\n\
         \x20                no whole reply arrived, Completed(output) if one did\n\
         Its residue is its own design: what a caller needs to carry on, here how far the\n\
         request got and both buffers. Its Drop is the tokens' Drop: nothing to write."
    );

    step("raced against a timer, with a peer that answers: the request wins");
    let (mine, peer) = UnixStream::pair(&ring)?;
    let (raced, heard) = ring.block_on(async {
        // The peer is a task on the same ring: it reads the line, then answers.
        let answering = ring.spawn(async move {
            let (got, asked) = peer.recv(Vec::with_capacity(REPLY_ROOM)).submit().await;
            let (sent, _) = peer.send_all(b"sunny, 21 C\n").await;
            (got.and(sent), asked)
        });
        let request = Request::new(&mine, line);
        let raced = match race(request, ring.sleep(Duration::from_secs(5))).await {
            Raced::First(output, _timer) => Ok(output),
            Raced::Second(request, fired) => Err((linear_uring::cancel(request).await, fired)),
        };
        (raced, answering.await)
    });
    let (peer_result, asked) = heard;
    println!(
        "the peer received {:?} ({peer_result:?}) and answered",
        text(&asked)
    );
    match raced {
        Ok((result, buffers)) => println!(
            "race(request, ring.sleep(5 s)) -> Raced::First: the request finished first, \
             {result:?},\nreply {:?}; request buffer handed back: {:?} ({} bytes)",
            text(&buffers.reply),
            text(&buffers.request),
            buffers.request.len()
        ),
        Err((outcome, fired)) => {
            println!("the timer won ({fired:?}) although the peer answered (unexpected)");
            report(outcome);
        }
    }

    step("raced against a timer, with a peer that never answers: the timer wins");
    let (mine, silent) = UnixStream::pair(&ring)?;
    let kept = ring.block_on(async {
        let request = Request::new(&mine, line);
        match race(request, ring.sleep(Duration::from_millis(20))).await {
            Raced::First((result, _), _timer) => {
                println!("the request finished ({result:?}) with nobody answering (unexpected)");
                None
            }
            Raced::Second(request, fired) => {
                println!(
                    "race(request, ring.sleep(20 ms)) -> Raced::Second: the timer fired \
                     ({fired:?}),\nand the request came back unfinished: {} bytes sent, \
                     ops in flight: {}",
                    request.sent,
                    ring.stats().in_flight
                );
                report(linear_uring::cancel(request).await)
            }
        }
    });
    // The peer kept its end open and never wrote to it.
    drop(silent);
    if kept.is_some_and(|reply| reply.is_empty()) {
        println!(
            "The request was sent and its receive was still waiting: `cancel` stopped\n\
             that receive and reported it. No reply was lost, because none had come."
        );
    }

    step("half a reply, then silence: the progress survives two races and a cancel");
    let (mine, peer) = UnixStream::pair(&ring)?;
    let (kept, receives) = ring.block_on(async {
        let request = Request::new(&mine, line);
        let Raced::Second(request, _) = race(request, ring.sleep(Duration::from_millis(20))).await
        else {
            println!("the request finished with nobody answering (unexpected)");
            return Ok((None, 0));
        };
        // The request is in flight, still owed; meanwhile the peer reads it and
        // starts an answer it does not finish.
        let (got, asked) = peer.recv(Vec::with_capacity(REPLY_ROOM)).submit().await;
        got?;
        let (sent, _) = peer.send_all(b"clou").await;
        sent?;
        println!(
            "the first race: the timer won. The peer then read {:?}\nand sent \"clou\", \
             with no newline.",
            text(&asked)
        );
        Ok::<_, io::Error>(
            match race(request, ring.sleep(Duration::from_millis(20))).await {
                Raced::First((result, buffers), _) => {
                    println!(
                        "the second race: the request finished, {result:?} with {:?} (unexpected)",
                        text(&buffers.reply)
                    );
                    (None, 0)
                }
                Raced::Second(request, _) => {
                    println!(
                        "the second race, of the same request: the timer won again; ops in \
                         flight: {}",
                        ring.stats().in_flight
                    );
                    let receives = request.receives;
                    println!("receives the request had submitted: {receives}");
                    (report(linear_uring::cancel(request).await), receives)
                }
            },
        )
    })?;
    if let Some(reply) = kept {
        if receives > 1 {
            println!(
                "A receive brought the bytes, no newline among them, and `Request` submitted\n\
                 the next receive: {receives} in all. The cancel stopped the last one."
            );
        } else {
            println!(
                "The one receive had brought the bytes by the time the cancel reached it;\n\
                 `poll_cancel` found it completed, with no newline, and reported them."
            );
        }
        println!(
            "The residue holds the {} bytes: what finished ops produced is the\n\
             composite's to report, and this `poll_cancel` does.",
            reply.len()
        );
    }

    step("dropped unfinished: as safe as dropping its tokens, and as loud");
    let reclaim = Ring::builder().drop_policy(DropPolicy::Reclaim).build()?;
    let seen = Rc::new(RefCell::new(Vec::new()));
    reclaim.on_abandon({
        let seen = seen.clone();
        move |abandoned| seen.borrow_mut().push(abandoned.to_string())
    });
    let (mine, _silent) = UnixStream::pair(&reclaim)?;
    let before = reclaim.stats().abandoned;
    reclaim.block_on(async {
        let request = Request::new(&mine, line);
        if let Raced::Second(request, _) =
            race(request, reclaim.sleep(Duration::from_millis(5))).await
        {
            // The mistake this step shows: the request, still owed, is dropped.
            drop(request);
        }
        // Let the ring reap the receive's final completion.
        reclaim.sleep(Duration::from_millis(5)).await
    })?;
    let after = reclaim.stats().abandoned;
    println!(
        "on a Reclaim ring, a Request dropped while it waited for the reply:\n\
         stats().abandoned went {before} -> {after}; on_abandon said:"
    );
    for message in seen.borrow().iter() {
        quote(&abandoned_line(message));
    }
    println!(
        "No code of `Request` ran for this: its receive token was dropped with it, and\n\
         the token's own Drop cancelled the op and applied the drop policy."
    );

    println!(
        "\n`Request` is now as safe to race, cancel or give a deadline as a single op. What\n\
         the compiler cannot check is that it follows the contract: a `poll_cancel` that\n\
         returned Cancelled after bytes had arrived, and dropped them, would compile.\n\
         Next: the tokens inside are `!Send`, and so is every debt built from them;\n\
         lesson 12 shows what crosses threads instead."
    );
    Ok(())
}
