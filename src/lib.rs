//! io_uring operations as linear tokens: every submitted operation is completed or
//! cancelled, never silently lost.
//!
//! Async Rust cancels a future by dropping it. With io_uring the kernel keeps working
//! after the drop: a buffer may still be written, a connection may still be accepted
//! and then never served, its descriptor never closed. linear-uring makes a submitted
//! operation a value that must be consumed: [`Op`] is a `#[must_use]` token that only
//! [`Op::complete`] and [`Op::cancel`] consume, and `cancel` tells you whether the op
//! really was cancelled or finished first, handing back what it produced.
//!
//! Requires Linux 5.11 or later; 6.1 or later for the fastest setup
//! (`DEFER_TASKRUN`). Missing opcodes are detected at ring creation and reported as
//! [`ErrorKind::Unsupported`] when used.
//!
//! ```
//! use std::time::Duration;
//! use linear_uring::net::TcpListener;
//! use linear_uring::op::Timeout;
//! use linear_uring::{race, CancelOutcome, Raced, Ring};
//!
//! let ring = Ring::new()?;
//! let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
//! ring.block_on(async {
//!     // Submitting returns a token: the kernel is working on it.
//!     let timer = Timeout::new(&ring, Duration::from_millis(1)).submit();
//!     // Completing consumes the token and gives the output.
//!     timer.complete().await?;
//!
//!     // Cancelling consumes it too, and says what really happened: an accept that
//!     // lost the race against the cancel hands over its connection.
//!     let accept = listener.accept().submit();
//!     match accept.cancel().await {
//!         CancelOutcome::Cancelled(()) => println!("nobody connected"),
//!         CancelOutcome::Completed(accepted) => println!("accepted first: {:?}", accepted?.1),
//!     }
//!
//!     // Waiting with a deadline never drops the op: the loser of a race is handed
//!     // back, still in flight.
//!     let accept = listener.accept().submit();
//!     match race(accept, ring.sleep(Duration::from_millis(5))).await {
//!         Raced::First(accepted, _timer) => println!("served {:?}", accepted?.1),
//!         // Do some other work, then keep waiting with the same accept, or cancel it:
//!         Raced::Second(accept, _) => match accept.cancel().await {
//!             CancelOutcome::Cancelled(()) => println!("nobody connected in time"),
//!             CancelOutcome::Completed(accepted) => println!("just in time: {:?}", accepted?.1),
//!         },
//!     }
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! An operation is described first ([`Prepared`], free to build and to drop; options
//! such as a [linked timeout](Prepared::timeout) are set here), then submitted
//! ([`Prepared::submit`]), which pushes its entry to the submission queue at once and
//! returns the token. Many ops can be in flight before any is awaited; the executor
//! enters the kernel when it has nothing else to run, submitting and waiting in one
//! system call. A [`Ring`] is both the io_uring instance and a single-threaded
//! executor ([`Ring::block_on`], [`Ring::spawn`]).
//!
//! The operations live in [`op`], one type each (`Accept`, `Recv`, `Read`,
//! `Timeout`, ...); the resources that build them in [`net`] (TCP, UDP, Unix
//! sockets) and [`fs`] (files, pipes, any descriptor). Buffers are owned ([`IoBuf`],
//! [`IoBufMut`]): moved into the op, handed back with its output, after an error, and
//! by a cancel.
//!
//! Halt safety, that is, never throwing away work the kernel did, has its own tools,
//! so that no op ever needs `select!`: [`race`] and [`race_all`] return the losers
//! still in flight; [`Prepared::timeout`] lets the kernel time an op out with no race
//! window; the [`Linear`] trait makes a composite operation (a request handler made of
//! several ops) as safe to race and cancel as one op. A timer is not a resource, so
//! [`Ring::sleep`] returns a [`Sleep`] that may be dropped freely.
//!
//! # Safety model
//!
//! Everything the kernel may touch while an op is in flight (its buffers, addresses,
//! timespecs, the owner of its descriptor) is moved into the ring's op table at
//! submission and stays there until the kernel's final completion for that op has
//! been reaped, whatever happens to the token. Soundness therefore never depends on a
//! destructor running: `mem::forget` of a token leaks at most the table entry until
//! the ring shuts down. Shutdown cancels every op, reaps every completion, and only
//! then frees; if the kernel does not answer, the memory is leaked, never freed.
//!
//! # Cancellation and drop
//!
//! Dropping an unconsumed token (or a `complete()`/`cancel()` future before it
//! resolves) always does the I/O-safe part first: the op is orphaned, an async cancel
//! is submitted, its buffers stay owned by the ring until the kernel is done, and a
//! descriptor produced by a late completion is closed. Then the ring's
//! [`DropPolicy`] decides:
//!
//! | policy | when | then |
//! |---|---|---|
//! | [`DropPolicy::Panic`] | default with `debug_assertions` | panic naming the op and the `file:line:column` that submitted it |
//! | [`DropPolicy::Reclaim`] | default otherwise | nothing more; counted in [`Stats::abandoned`] |
//! | [`DropPolicy::Abort`] | opt-in | print the same message and abort |
//!
//! No panic happens while the thread is already panicking or the ring is shutting
//! down.
//!
//! # Compile-time guarantees and their holes
//!
//! Caught by the compiler: an ignored token or future (`#[must_use]`, an error with
//! `#![deny(unused_must_use)]`); a token used after `complete()` or `cancel()` (both
//! take `self`); `complete()` on a description that was not submitted (a
//! [`Prepared`] has no such method); a token sent to another thread (`Op` is
//! `!Send`).
//!
//! Caught only at run time, by the drop policy: a token bound to a variable and
//! dropped at the end of its scope, `drop(op)`, `?` returning past a live token, a
//! future holding a token dropped by `select!` or a timeout wrapper.
//!
//! Never caught, and still sound: `mem::forget`, `ManuallyDrop`, `Box::leak`, `Rc`
//! cycles and `process::exit`. The table owns what the kernel may touch, so the worst
//! outcome is a leak.
//!
//! Lints worth turning on in a crate that uses linear-uring:
//!
//! ```toml
//! [lints.rust]
//! unused_must_use = "deny"
//! let_underscore_drop = "deny"
//!
//! [lints.clippy]
//! let_underscore_must_use = "deny"
//! let_underscore_future = "deny"
//! mem_forget = "deny"
//! ```
//!
//! # Crate features
//!
//! None. The crate depends on `io-uring` (the kernel interface), `libc` and
//! `static_assertions`.

pub mod buf;
mod driver;
mod drop_policy;
mod error;
mod exec;
mod fd;
pub mod fs;
pub mod net;
pub mod op;
mod race;
mod ring;
mod table;
mod token;

pub use buf::{IoBuf, IoBufMut};
pub use drop_policy::DropPolicy;
pub use error::{Error, ErrorKind};
pub use exec::JoinHandle;
pub use op::{OpKind, Prepared};
pub use race::{
    cancel, complete, race, race_all, CancelLinear, CompleteLinear, Linear, Race, RaceAll, Raced,
    RacedAll,
};
pub use ring::{Ring, RingBuilder, Stats};
pub use token::{Cancel, CancelOutcome, Complete, Op, Sleep};
