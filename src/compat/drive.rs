//! A ring run inside a tokio runtime: [`drive`].

use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::Ring;

/// Runs `future` on `ring` inside a tokio runtime: the future may await the ring's
/// ops and tokio's own I/O, timers and channels alike, and the ring's spawned tasks
/// run too.
///
/// The returned future is polled by tokio (`Runtime::block_on`, or a
/// `LocalSet`): each poll runs the ring's work that is ready and submits and reaps
/// without blocking, and when nothing is left it waits on tokio's reactor, which
/// watches an eventfd the kernel signals when the ring posts completions
/// (`IORING_REGISTER_EVENTFD`; one per ring, so one `Drive` at a time). A ring is
/// single-threaded, so this needs a current-thread runtime on the ring's thread
/// (the future is `!Send`).
///
/// The ring must be built with [`fast_taskrun(false)`](crate::RingBuilder::fast_taskrun):
/// with `DEFER_TASKRUN` the kernel finishes completions only inside the ring's own
/// `io_uring_enter`, and on Linux 6.18 the registered eventfd was measured not to
/// fire for all of them, so a driven future could wait forever.
///
/// # Panics
///
/// When the ring was built with `DEFER_TASKRUN` (the default: see above), when
/// polled outside a tokio runtime with its I/O driver enabled (`enable_io`), or
/// inside this ring's own `block_on`; like `block_on`, with a panic of `future` or
/// of a task, and once the ring has shut down.
///
/// # Examples
///
/// ```
/// use linear_uring::compat::drive;
/// use linear_uring::net::TcpListener;
/// use linear_uring::Ring;
///
/// let ring = Ring::builder().fast_taskrun(false).build()?;
/// let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
/// let greeting = runtime.block_on(drive(&ring, async {
///     // A tokio client and a linear-uring server, in one task.
///     let connect = tokio::net::TcpStream::connect(addr);
///     let accept = listener.accept().submit();
///     let mut client = connect.await?;
///     let (server, _) = accept.await?;
///     server.send(b"hello, tokio").submit().complete().await.0?;
///     let mut got = vec![0u8; 12];
///     tokio::io::AsyncReadExt::read_exact(&mut client, &mut got).await?;
///     Ok::<_, std::io::Error>(got)
/// }))?;
/// assert_eq!(greeting, b"hello, tokio");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn drive<F: Future>(ring: &Ring, future: F) -> Drive<F> {
    Drive {
        ring: ring.clone(),
        fd: None,
        future: Box::pin(future),
    }
}

/// The future of [`drive`].
#[must_use = "futures do nothing unless awaited"]
pub struct Drive<F> {
    ring: Ring,
    /// An eventfd the kernel signals when the ring has completions to post,
    /// registered with the ring and with tokio's reactor on the first poll.
    fd: Option<AsyncFd<OwnedFd>>,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Drive<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Unpin: the future is boxed.
        let this = self.get_mut();
        if this.fd.is_none() {
            let eventfd = this
                .ring
                .inner()
                .register_eventfd()
                .unwrap_or_else(|err| panic!("a ring driven by tokio: {err}"));
            // SAFETY: the `OwnedFd` is a descriptor of ours, open until the `AsyncFd`
            // that owns it is dropped, and `as_raw_fd` always returns it.
            let fd = unsafe { AsyncFd::register_with_interest(eventfd, Interest::READABLE) }
                .unwrap_or_else(|err| {
                    panic!(
                        "drive needs a tokio runtime with its I/O driver enabled \
                         (enable_io): {err}"
                    )
                });
            this.fd = Some(fd);
        }
        loop {
            if let Some(output) = this.ring.inner().drive_once(this.future.as_mut()) {
                return Poll::Ready(output);
            }
            if this.ring.inner().has_runnable() {
                // The round limit was reached with work left (a task that keeps
                // waking itself): let tokio run its own, then come straight back.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let fd = this.fd.as_ref().expect("registered above");
            match fd.poll_read_ready(cx) {
                // Completions (or the work that posts them) are waiting: clear the
                // readiness before reaping, so that any that come after are seen.
                Poll::Ready(Ok(mut ready)) => {
                    drain(ready.get_inner());
                    ready.clear_ready();
                }
                Poll::Ready(Err(err)) => panic!("tokio's reactor failed on the ring: {err}"),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Resets the eventfd's counter (non-blocking: nothing to read is fine).
fn drain(eventfd: &OwnedFd) {
    let mut count = 0u64;
    // SAFETY: reads 8 bytes into a live local from a descriptor we own.
    let _ = unsafe {
        libc::read(
            std::os::fd::AsRawFd::as_raw_fd(eventfd),
            (&mut count as *mut u64).cast(),
            std::mem::size_of::<u64>(),
        )
    };
}

impl<F> Drop for Drive<F> {
    fn drop(&mut self) {
        if self.fd.take().is_some() {
            self.ring.inner().unregister_eventfd();
        }
    }
}

impl<F> std::fmt::Debug for Drive<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drive")
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}
