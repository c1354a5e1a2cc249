//! `mem::forget` is safe: a destructor may never run, so soundness cannot rest on one.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;

use linear_uring::net::UnixStream;
use linear_uring::{DropPolicy, Ring};

use crate::story::{catch_panic, quote, step};

/// Stands for a borrowed buffer lent to someone who may write into it until the
/// lease is dropped: the API this lesson shows cannot be sound.
struct Lease<'a> {
    buf: &'a mut [u8],
    returned: &'a Cell<u32>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.returned.set(self.returned.get() + 1);
    }
}

/// Lets the ring enter the kernel until nothing is in flight, or a hundred times.
fn settle(ring: &Ring) -> io::Result<()> {
    for _ in 0..100 {
        if ring.stats().in_flight == 0 {
            break;
        }
        ring.block_on(ring.nop().complete())?;
    }
    Ok(())
}

pub(crate) fn run() -> io::Result<()> {
    println!(
        "`std::mem::forget` takes a value and makes sure its destructor never runs, and\n\
         it is a safe function. It was `unsafe` until May 2015: the \"leakpocalypse\"\n\
         showed that a destructor could be skipped in safe code anyway (put a value in\n\
         an `Rc` cycle), and `thread::scoped`, whose `JoinGuard` joined the thread in\n\
         its `Drop` and so let the thread borrow the parent's stack, became unsound.\n\
         RFC 1066 drew the conclusion: not running a destructor is safe, so soundness\n\
         may never depend on one. `thread::scoped` was made unstable before Rust 1.0,\n\
         and removed later (`std::thread::scope`, in 1.63, joins in a closure instead).\n\
         lessons/WHY.md tells the story with its links. For linear-uring it means that\n\
         the drop policy of lesson 05 is a net, not a guarantee."
    );

    step("a borrow ends when its holder is forgotten");
    let returned = Cell::new(0);
    let mut stack_buf = [0u8; 16];
    let lease = Lease {
        buf: &mut stack_buf,
        returned: &returned,
    };
    lease.buf[0] = b'k';
    std::mem::forget(lease);
    stack_buf[0] = b'!';
    println!(
        "a Lease borrowed a stack array and was forgotten; its Drop ran {} times, and\n\
         the very next line wrote the array again: stack_buf[0] = {:?}. The borrow\n\
         checker ends a borrow when its holder is moved away, forgotten included.",
        returned.get(),
        stack_buf[0] as char
    );
    println!(
        "Now suppose a receive borrowed its buffer, `recv(&mut stack_buf)`, and its\n\
         token's Drop cancelled the op and waited for the kernel. Forget the token:"
    );
    quote(
        "let op = stream.recv(&mut stack_buf).submit(); // the kernel holds &mut stack_buf\n\
         std::mem::forget(op);                          // safe: no Drop, no cancel\n\
         return;                                        // the frame is gone, and reused\n\
         // ... the peer sends: the kernel writes into someone else's stack",
    );
    println!(
        "Safe code would corrupt memory. So linear-uring never lends the kernel memory\n\
         that can go away: a receive takes its buffer by value, and at submission the\n\
         buffer moves into the ring's op table, which owns it until the kernel's final\n\
         completion for that op, whatever happens to the token. `recv(&mut stack_buf)`\n\
         does not compile (show 10). The rest of this lesson forgets a real token."
    );

    let ring = Ring::builder().drop_policy(DropPolicy::Panic).build()?;
    let hook_calls = Rc::new(RefCell::new(Vec::new()));
    ring.on_abandon({
        let hook_calls = hook_calls.clone();
        move |abandoned| hook_calls.borrow_mut().push(abandoned.to_string())
    });
    let (ours, mut peer) = StdUnixStream::pair()?;
    let stream = UnixStream::from_std(&ring, ours)?;

    step("forget a receive token, under DropPolicy::Panic");
    let recv = stream.recv(Vec::with_capacity(64)).submit();
    // One trip into the kernel, so that the receive is waiting there.
    ring.block_on(ring.nop().complete())?;
    let before = ring.stats();
    let forgot = catch_panic(|| std::mem::forget(recv));
    match forgot {
        Ok(()) => println!("`mem::forget(recv)` returned, and nothing panicked"),
        Err(message) => println!("`mem::forget(recv)` panicked (unexpected): {message}"),
    }
    let after = ring.stats();
    println!(
        "abandoned {} -> {}, in_flight {} -> {}, on_abandon calls: {}",
        before.abandoned,
        after.abandoned,
        before.in_flight,
        after.in_flight,
        hook_calls.borrow().len()
    );
    println!(
        "No Drop ran, so the drop policy never heard of the token: not a panic, not a\n\
         count, not a sentence. The receive is still in the kernel, with its Vec."
    );

    step("the peer sends: the kernel writes into the buffer the ring owns");
    let message = b"written after the forget";
    peer.write_all(message)?;
    let before = ring.stats();
    settle(&ring)?;
    let after = ring.stats();
    println!(
        "the peer sent {} bytes; the ring ran: in_flight {} -> {}, abandoned = {}",
        message.len(),
        before.in_flight,
        after.in_flight,
        after.abandoned
    );
    let (result, buf) = ring.block_on(async {
        let recv = stream.recv(Vec::with_capacity(64)).submit();
        peer.write_all(b"next")?;
        Ok::<_, io::Error>(recv.complete().await)
    })?;
    let received = result?;
    println!(
        "then a new receive on the same stream got {received} bytes: {:?}, only what the\n\
         peer sent after. The first {} went to the forgotten receive.",
        String::from_utf8_lossy(&buf),
        message.len()
    );
    println!(
        "The kernel wrote them into the Vec that the ring's op table has owned since\n\
         submission, never into freed memory. Nobody will read them: the table keeps\n\
         the Vec for a token that never comes back, and the forgotten token keeps its\n\
         share of the ring alive. A leak, never a use-after-free."
    );

    step("a shutdown cancels and reaps what was forgotten");
    let (ours, _quiet_peer) = StdUnixStream::pair()?;
    let quiet = UnixStream::from_std(&ring, ours)?;
    std::mem::forget(quiet.recv(Vec::with_capacity(64)).submit());
    ring.block_on(ring.nop().complete())?;
    let before = ring.stats();
    ring.shutdown();
    let after = ring.stats();
    println!("a second receive, on a stream whose peer never sends, was forgotten too");
    println!(
        "before `ring.shutdown()`: in_flight = {}, cancelled = {}",
        before.in_flight, before.cancelled
    );
    println!(
        "after it:                 in_flight = {}, cancelled = {}, is_shut_down() = {}",
        after.in_flight,
        after.cancelled,
        ring.is_shut_down()
    );
    println!(
        "on_abandon calls in this whole lesson: {}. The shutdown cancels every op the\n\
         kernel still has, forgotten or not, and waits for each completion before it\n\
         frees anything.",
        hook_calls.borrow().len()
    );
    drop((stream, quiet));
    println!(
        "\nA destructor is a convenience, never a proof: `mem::forget`, `ManuallyDrop`,\n\
         `Box::leak`, an `Rc` cycle and `process::exit` all skip it in safe code. So\n\
         everything the kernel may touch is owned by the ring, not lent by the token,\n\
         and the worst a forgotten token costs is memory. Clippy's `mem_forget` lint\n\
         flags the first of these. Inside a proof-carrying scope (lesson 13), a debt\n\
         forgotten, leaked or put in `ManuallyDrop` is a compile error (show 10 has\n\
         the forget); only divergence escapes it. Next, lesson 11: a type of your own\n\
         that races and cancels like a token."
    );
    Ok(())
}
