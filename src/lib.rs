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
//! `Timeout`, `OpenAt`, `Statx`, `Fsync`, `UnlinkAt`, ...); the resources that build
//! them in [`net`] (TCP, UDP, Unix sockets) and [`fs`] (files opened through the ring
//! with [`fs::File::open`] or [`fs::OpenOptions`], their metadata, sync and length;
//! the file system's free functions such as [`fs::rename`] and [`fs::remove_file`],
//! each taking the ring first; pipes; any descriptor). Buffers are owned ([`IoBuf`],
//! [`IoBufMut`]): moved into the op, handed back with its output, after an error, and
//! by a cancel. They follow std's `read_buf` contract ([`buf`] has the details): a
//! write or send transfers the initialised bytes; a read or receive appends to them,
//! filling the spare capacity (`Vec::with_capacity(n)`, or a `Vec` you `clear()`) and
//! growing the length by the count, so it never overwrites data; and a read into a
//! buffer with no room fails at once with `InvalidInput`, so `Ok(0)` always means end
//! of stream. [`IoBuf::slice`] makes a view of part of a buffer, to send from an
//! offset or cap a read, without copying.
//!
//! Vectored reads and writes ([`op::Readv`], [`op::Writev`]) take a `Vec` of owned
//! buffers, each read into by the same contract. Ops that work on any descriptor take
//! a [`Resource`] of the crate and hold its descriptor open until they are done:
//! [`op::Splice`] and [`op::Tee`] move or duplicate bytes between a pipe and another
//! descriptor inside the kernel, and [`op::PollAdd`] waits until one is ready.
//! [`op::Fadvise`] and [`op::Madvise`] pass on advice about a file or an owned
//! buffer. A Unix stream passes descriptors ([`op::SendMsg`], [`op::RecvMsg`]): the
//! descriptors received are owned values, closed by the ring if their op is
//! abandoned.
//!
//! Halt safety, that is, never throwing away work the kernel did, has its own tools,
//! so that no op ever needs `select!`: [`race`], [`select`] (over a tuple of values
//! of different kinds), [`race_all`] and [`first_k`] return the losers still in
//! flight; [`cancel_all`] cancels many at once and reports what each did;
//! [`deadline`] completes a value or cancels it when a timer fires;
//! [`Prepared::timeout`] lets the kernel time an op out with no race window, and says
//! so with [`io::ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut). The [`Linear`]
//! trait makes a composite operation as safe to race and cancel as one op; the
//! library's own ([`WriteAll`] from `send_all`/`write_all`, [`ReadExact`] from
//! `recv_exact`/`read_exact`, [`copy`]) report their progress when cancelled and hand
//! everything back. `.await` on a token completes it; on a description it submits and
//! completes it. A timer is not a resource, so [`Ring::sleep`] returns a [`Sleep`]
//! that may be dropped freely. A stream splits into owned halves
//! ([`net::TcpStream::into_split`]) for both directions at once.
//!
//! An op with many completions is a linear stream: a multishot accept
//! ([`net::TcpListener::incoming`]) is one submission that yields every connection, a
//! [`Multishot`] token whose [`next`](Multishot::next) takes the next item and whose
//! [`cancel`](Multishot::cancel) stops the op and hands back every item not taken
//! yet. The ring keeps the items the kernel produced until they are taken, so a
//! `next()` dropped by a timeout loses nothing, and `race(&mut stream, timer)` hands
//! the stream back still armed; a stream dropped unfinished closes what it held. A
//! provided buffer ring ([`buf::BufRing`]) lends a group of buffers to the kernel,
//! which picks one when data arrives ([`net::TcpStream::recv_provided`], and the
//! multishot [`net::TcpStream::recv_multi`], or several at once in a bundle,
//! [`net::TcpStream::recv_bundle`] and the multishot
//! [`net::TcpStream::recv_multi_bundle`]); the picked buffer is a
//! [`buf::ProvidedBuf`] that goes back to the group, once, when dropped. A zero-copy
//! send ([`net::TcpStream::send_zc`], [`net::TcpStream::send_vectored_zc`]) hands
//! its buffers back only after the kernel's
//! notification that it let go of the pages.
//!
//! A ring is one thread's. [`runtime::Runtime`] runs one per thread, each with its
//! own `SO_REUSEPORT` listener, and each ring's [`runtime::Mailbox`] takes values
//! (descriptors among them) from any thread, rung with `IORING_OP_MSG_RING`; a value
//! in transit has one owner at every moment.
//!
//! In release builds ([`DropPolicy::Reclaim`]), [`Ring::on_abandon`] reports
//! every abandoned op with the line that submitted it and what it lost.
//!
//! # Safety model
//!
//! Everything the kernel may touch while an op is in flight (its buffers, addresses,
//! timespecs, the owner of its descriptor) is moved into the ring's op table at
//! submission and stays there until the kernel's final completion for that op has
//! been reaped, whatever happens to the token. Soundness therefore never depends on a
//! destructor running. `mem::forget` of a token is a leak, never a hazard: the op is
//! still cancelled and reaped when the ring shuts down, but the forgotten token keeps
//! its reference to the ring's shared state, so that state (and whatever the op
//! produced, such as an accepted descriptor) is never freed. Shutdown cancels every
//! op, reaps every completion, and only then frees; if the kernel does not answer,
//! the memory is leaked, never freed.
//!
//! User code that the ring runs may panic: a buffer's or an output's `Drop`, a
//! waker's `wake`, `clone` or `drop`, a task's `Drop`, a future's `poll`. After such a
//! panic every completion reaped in that turn is still delivered and its waiter
//! woken, every abandoned op is still released (its descriptor closed, its buffer
//! dropped exactly once), and a shutdown in progress still finishes (the ring is shut
//! down, new ops fail with [`ErrorKind::ShutDown`]). Then the first panic is resumed
//! to the caller of [`Ring::block_on`], [`Ring::shutdown`] or the owner's drop, and
//! the ring stays usable if it was running. The library never turns a panic into an
//! abort: while the thread is already unwinding, a second panic is discarded instead.
//! (Only [`DropPolicy::Abort`] aborts, by design, when a token is abandoned, also
//! while unwinding.)
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
//! linear-uring cannot make Rust's types linear, so it rejects at compile time what the
//! type system can see, catches at run time what it cannot, and is sound even where
//! neither can see anything. Why Rust cannot (a destructor may never run since
//! `mem::forget` became safe in RFC 1066; unwinding and generic code drop values; there
//! is no async `Drop`), what Rust is working on, and how languages with linear types
//! compare, is the chapter `lessons/WHY.md` of the repository; the lessons beside it
//! (`cargo run -p lessons`) run each point and show each rejected program.
//!
//! ## Caught by the compiler
//!
//! Each row is a case in `ui-tests/fail/` of the repository, whose `.stderr` is the
//! exact error a user gets (`ui-tests/README.md` explains each one). The `#[must_use]`
//! rows are errors with `#![deny(unused_must_use)]` (see the lints below) and warnings
//! otherwise.
//!
//! | misuse | rejected because | ui-test |
//! |---|---|---|
//! | a token ignored as a statement: `ring.nop();`, `Nop::new(&ring).submit();` | [`Op`] is `#[must_use]` | `token_must_be_used`, `submitted_token_must_be_used` |
//! | `let _ = op;` (an immediate drop) | `let_underscore_drop`, when denied | `let_underscore_token` |
//! | `op.complete();` never awaited | [`Complete`] is `#[must_use]` | `complete_future_must_be_used` |
//! | a cancel's outcome ignored: `op.cancel().await;` | [`CancelOutcome`] is `#[must_use]`: `Completed` holds a real result | `cancel_outcome_must_be_used` |
//! | the output of [`race`] or [`race_all`] ignored, with the losers still in flight | [`Raced`] and [`RacedAll`] are `#[must_use]` | `race_output_must_be_used`, `race_all_output_must_be_used` |
//! | a receive's `(io::Result<usize>, buf)` ignored | the `Result` in it is `#[must_use]` | `recv_result_must_be_used` |
//! | a description built and never submitted | [`Prepared`] is `#[must_use]` | `description_must_be_used` |
//! | a token used after `complete()`, completed twice, cancelled then completed | `complete` and `cancel` take `self` (E0382) | `token_used_after_complete`, `token_completed_twice`, `token_cancelled_then_completed` |
//! | a token cloned | [`Op`] is not `Clone` | `token_cannot_be_cloned` |
//! | `complete()` on a description that was never submitted | a [`Prepared`] has no `complete` | `complete_on_description` |
//! | a linked timeout set on a token after submission | SQE options exist only on [`Prepared`] | `sqe_option_after_submit` |
//! | a token moved to another thread | [`Op`] is `!Send` | `op_is_not_send` |
//! | a future holding a token given to a spawn that requires `Send` | such a future is `!Send` too | `future_holding_token_is_not_send` |
//! | the ring sent to another thread | [`Ring`] is `!Send` | `ring_is_not_send` |
//! | a buffer used while its op is in flight | the op took it by value (E0382); it comes back with the output | `buffer_used_while_in_flight` |
//! | a borrowed buffer lent to a receive, or a non-`'static` slice to a send | ops take only owned buffers ([`IoBufMut`], [`IoBuf`]) | `buffer_must_be_owned`, `send_buffer_must_be_static` |
//! | an array by value (`id.to_be_bytes()`) given to a send | its bytes move with it, and a buffer must stay put: it is not [`IoBuf`] (`.to_vec()` it; a literal `b"..."` is a buffer) | `array_by_value_is_not_a_buffer` |
//! | a `Box<[u8]>` given to a read or receive | a read appends to the spare capacity, and a boxed slice, always full, has none: it is not [`IoBufMut`] | `boxed_slice_has_no_room_to_read_into` |
//! | a stream used after `close()` | `close` takes `self` | `stream_used_after_close` |
//! | a stream shared through an `Rc` (to receive and send from two tasks), then closed | `close` takes `self`, which an `Rc` cannot give up (E0507); split it into owned halves instead ([`net::TcpStream::into_split`]) | `shared_stream_cannot_be_closed` |
//! | a token built by hand, or taken apart to defuse its drop | private fields; [`Op`] implements `Drop` | `token_built_by_hand`, `token_defused_by_hand` |
//! | [`OpKind`] or [`net::Stream`] implemented outside the crate; `Op<T>` of a non-op | both traits are sealed | `op_kind_is_sealed`, `stream_trait_is_sealed`, `not_an_op_kind` |
//! | a plain future (`op.complete()`) given to [`race`] | `race` takes only [`Linear`] values, which it can hand back unfinished | `race_takes_tokens_not_futures` |
//! | a multishot stream ignored, used after `cancel()`, or raced by value | [`Multishot`] is `#[must_use]`, `cancel` takes `self`, and only `&mut Multishot` is [`Linear`] | `multishot_must_be_used`, `multishot_used_after_cancel`, `multishot_raced_by_value` |
//!
//! ## Caught only at run time, by the drop policy
//!
//! These compile, even with every lint below: the compiler cannot tell a token dropped
//! by mistake from any other value going out of scope. Dropping the token is the one
//! thing they have in common, so [`Op`]'s destructor catches all of them. It first does
//! the I/O-safe part (the op is cancelled in the kernel, its buffers stay with the ring
//! until the kernel lets go, a descriptor it produces is closed), then applies the
//! [`DropPolicy`]: with [`DropPolicy::Panic`], the default in debug builds, a panic that
//! names the op and the `file:line:column` of the user's code that submitted it. Each
//! hole has a test in `tests/it/holes.rs`, which checks the panic names that line:
//!
//! | hole | test (`tests/it/holes.rs`) |
//! |---|---|
//! | `let _x = op;` (or any binding) dropped at the end of its scope | `hole_underscore_binding_dropped_at_scope_end_panics_with_submit_line` |
//! | `let _ = op;` where `let_underscore_drop` is not denied | `hole_let_underscore_without_the_lint_panics_with_submit_line` |
//! | `drop(op)` | `hole_explicit_drop_panics_with_submit_line` |
//! | `?` returning early past a live token | `hole_question_mark_returning_past_live_token_panics_with_submit_line` |
//! | a future holding a token dropped by `select!` | `hole_future_holding_token_dropped_by_select_panics_with_submit_line` |
//! | a future holding a token dropped by a timeout wrapper | `hole_future_holding_token_dropped_by_timeout_wrapper_panics_with_submit_line` |
//! | the loser of a race discarded by a `_` pattern: `Raced::First(out, _)` | `hole_race_loser_discarded_by_wildcard_pattern_panics_with_submit_line` |
//! | a token replaced in a collection: `map.insert(k, op)` over a live token returns the old one in an `Option`, which no lint looks into | `hole_token_replaced_in_a_map_panics_with_submit_line` |
//! | a task abandoned at shutdown, with a token in flight | `hole_task_abandoned_at_shutdown_is_counted_without_panic` |
//!
//! The last one never panics: a ring shutting down with work in flight is not a
//! mistake, so the policy is skipped, and the op is cancelled, reaped and counted in
//! [`Stats::abandoned`]. With [`DropPolicy::Reclaim`] (the default in release builds)
//! every hole is only counted there; monitor it. A [`Sleep`] is not linear by design:
//! dropping one removes the timer and is no hole.
//!
//! ## Never caught, and still sound
//!
//! `mem::forget`, `ManuallyDrop`, `Box::leak`, `Rc` cycles and `process::exit` run no
//! destructor, so no policy can run either. This is still sound, because soundness
//! never depends on a destructor (see the safety model): from submission until the
//! kernel's final completion, the ring's op table, not the token, owns everything the
//! kernel may touch. The ring's shutdown cancels a forgotten op and waits for its
//! completion like any other (`tests/it/shutdown.rs`,
//! `shutdown_with_forgotten_timers_cancels_and_reaps_them`); at `process::exit` the
//! kernel tears the ring down with the process. The cost is a leak, never a
//! use-after-free: the op's result and its table entry and, because a forgotten token
//! still holds its share of the ring, the ring's bookkeeping with them (including a
//! descriptor the op produced). Clippy's `mem_forget` flags the first of these.
//!
//! ## Caught by the compiler after all, in a scope
//!
//! For structured code, [`Ring::scope`] turns the runtime holes above into compile
//! errors: its closure is generic over a brand lifetime, gets a
//! [`Scope`](scope::Scope) and must return a [`Paid`](scope::Paid) receipt, and
//! submitting through the scope consumes it until the op's `complete()` or `cancel()`
//! gives it back. An op dropped, forgotten, leaked, put in `ManuallyDrop` or a
//! dropped collection, or left behind by `?`, leaves the closure with no receipt, and
//! the program does not compile (`ui-tests/fail/scope_*.rs`). What it cannot catch:
//! divergence (a panic, a loop, `process::exit`), ops submitted inside the closure
//! without going through the scope, and the scope's own future dropped before it
//! finishes, which goes through the drop policy like a token. It costs a closure per
//! scope and the scope threaded through every op; at run time, an awaited scope
//! allocates nothing and its NOP round trip is within noise of a plain token's
//! (`BENCHMARKS.md`). With a `Leak`/`Forget` auto trait or linear types in Rust, none
//! of it would be needed.
//!
//! ## Lints to turn on
//!
//! rustc's `unused_must_use` only warns by default, and `let _ = op;` passes it
//! silently; `let_underscore_drop` (allow by default) flags that. Clippy adds
//! `let_underscore_must_use` (a `let _ =` of any `#[must_use]` value, such as a
//! `CancelOutcome`), `let_underscore_future` (a `Complete` or `Cancel` future bound to
//! `_`) and `mem_forget` (the first of the holes nothing else sees). In the crate that
//! uses linear-uring, copy into `Cargo.toml`:
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
//! Three of these flag ordinary values too, not only the library's: `let_underscore_drop`
//! fires on any `let _ =` of a value with a destructor, so also on
//! `let _ = stream.shutdown(how).await;`, whose value is a plain `io::Result<()>`
//! (its error has a destructor); clippy's `let_underscore_must_use` fires on every
//! `#[must_use]` value, `Result` included; `mem_forget` on every `mem::forget`. To
//! discard such a value on purpose, name it: `let _shutdown = ...;` or
//! `drop(...)` with a comment, or match on it. `unused_must_use` and
//! `let_underscore_future` rarely fire on anything that is not a mistake.
//!
//! # Crate features
//!
//! None is on by default. The crate depends on `io-uring` (the kernel interface),
//! `libc` and `static_assertions`; each feature adds the one crate it adapts to.
//!
//! | feature | what it adds |
//! |---|---|
//! | `bytes` | `bytes::Bytes` as an [`IoBuf`] (its bytes, to send or write) and `bytes::BytesMut` as an [`IoBuf`] and [`IoBufMut`] (a read fills its spare capacity and grows its length, like a `Vec`). `Bytes::slice`, the inherent method, shadows [`IoBuf::slice`]: call `IoBuf::slice(bytes, range)` for a [`buf::Slice`] that hands the whole `Bytes` back. |
//! | `futures-io` | `compat::Compat`, an adapter that gives the ring's streams, their halves and files `futures-io`'s `AsyncRead`, `AsyncBufRead` and `AsyncWrite`: it owns the op in flight, so a read or write future dropped by `select!` or a timeout loses and repeats nothing. |
//! | `tokio` | the same adapter with tokio's `AsyncRead`, `AsyncBufRead` and `AsyncWrite`; and `compat::drive`, which runs a ring inside a tokio runtime (tokio's traits and its reactor, feature `net`; no scheduler). |

pub mod buf;
#[cfg(any(feature = "futures-io", feature = "tokio"))]
pub mod compat;
pub(crate) mod compose;
mod driver;
mod drop_policy;
mod error;
mod exec;
mod fd;
pub mod fs;
mod kick;
pub mod net;
pub mod op;
mod race;
mod ring;
pub mod runtime;
pub mod scope;
mod table;
mod token;
mod unwind;

pub use buf::{IoBuf, IoBufMut};
pub use compose::{copy, Copied, Copying, Progress, ReadExact, Sink, Source, WriteAll};
pub use drop_policy::{Abandoned, DropPolicy};
pub use error::{Error, ErrorKind};
pub use exec::JoinHandle;
pub use fd::Resource;
pub use op::{MultishotKind, OpKind, Prepared, PreparedMultishot};
pub use race::{
    cancel, cancel_all, complete, deadline, first_k, race, race_all, select, CancelAll,
    CancelLinear, CompleteLinear, Deadline, Expired, FinishedK, FirstK, Linear, Race, RaceAll,
    Raced, Raced3, Raced4, RacedAll, Select, Selectable,
};
pub use ring::{Ring, RingBuilder, Stats};
pub use token::{
    Cancel, CancelMultishot, CancelOutcome, Complete, Drained, Multishot, Next, Op, Sleep,
};
// Named by rustc's help when `.timeout(d)` is called on a token: a public path reads
// better there than the private module's.
#[doc(hidden)]
pub use token::OptionsBeforeSubmit;
