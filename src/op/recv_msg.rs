//! `IORING_OP_RECVMSG` with `SCM_RIGHTS`: receive bytes and descriptors on a Unix
//! socket.

use std::fmt;
use std::io;
use std::mem;
use std::os::fd::OwnedFd;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::{IoBufMut, Spare};
use crate::fd::SharedFd;
use crate::net::ancillary::{self, Control};
use crate::Ring;

/// Receives bytes from a Unix stream socket into the buffer's spare capacity, with
/// the descriptors sent along with them (`SCM_RIGHTS`), as owned descriptors.
///
/// Built by [`UnixStream::recv_with_fds`](crate::net::UnixStream::recv_with_fds)
/// and its read half's, with room for `max_fds` descriptors. The bytes are appended
/// as by a [`Recv`](super::Recv) (see
/// [the buffer contract](crate::buf#the-buffer-contract)). The output is
/// `(io::Result<Received>, B)`: a [`Received`] holds the byte count (0 only at end
/// of stream), the descriptors, each close-on-exec (`MSG_CMSG_CLOEXEC`) and owned:
/// dropping one closes it, and whether the kernel had to discard some. The buffer
/// comes back after an error too.
///
/// A receive that gets descriptors ends with the bytes they were sent with: what
/// the peer sent next comes with the next receive.
///
/// # Too many descriptors
///
/// The kernel writes as many descriptors as there is room for (`max_fds`, or one
/// more when alignment leaves room for it) and closes the rest, and then
/// [`Received::truncated`] is true (`MSG_CTRUNC`): the message the peer sent is
/// incomplete, and the descriptors that did arrive are in [`Received::fds`], owned,
/// so that none leaks. With `max_fds` 0 every descriptor sent is discarded that
/// way. Other control messages (credentials, when `SO_PASSCRED` is set on the
/// socket) take room in the same buffer and are not reported; a pidfd
/// (`SO_PASSPIDFD`) is closed.
///
/// # Errors
///
/// At once, before the receive reaches the kernel, with the buffer back:
/// `InvalidInput` for a buffer with no spare capacity (as for [`Recv`](super::Recv))
/// or a `max_fds` over 253 (`SCM_MAX_FD`). Otherwise the kernel's errno; an error
/// never comes with descriptors.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(buf)` if nothing was received, or
/// `Completed((Ok(received), buf))` if a message arrived first: its bytes are in
/// the buffer and its descriptors in `received.fds`, all of them. If the token is
/// dropped and a message arrives before the cancel takes effect, the ring closes
/// every descriptor in it (counted in [`Stats::fds_closed`](crate::Stats)) and frees
/// the buffer: no descriptor leaks, but the bytes and descriptors are lost to the
/// program, as with any abandoned receive.
///
/// # Examples
///
/// ```
/// use std::os::fd::OwnedFd;
/// use linear_uring::{net::UnixStream, Ring};
///
/// let ring = Ring::new()?;
/// let (a, b) = UnixStream::pair(&ring)?;
/// let passed: OwnedFd = std::fs::File::open("/dev/null")?.into();
/// ring.block_on(async {
///     let (sent, _buf, _mine) = a.send_with_fds(b"a file", vec![passed]).await;
///     sent?;
///     let (received, buf) = b.recv_with_fds(Vec::with_capacity(64), 4).await;
///     let received = received?;
///     assert_eq!(&buf[..received.len], b"a file");
///     assert_eq!(received.fds.len(), 1, "a new descriptor for /dev/null");
///     assert!(!received.truncated);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// `io_uring_prep_recvmsg(3)`, `recvmsg(2)`, `unix(7)` (`SCM_RIGHTS`),
/// `cmsg(3)`.
#[doc(alias = "io_uring_prep_recvmsg")]
#[doc(alias = "recvmsg")]
#[doc(alias = "SCM_RIGHTS")]
pub struct RecvMsg<B: IoBufMut> {
    fd: SharedFd,
    buf: B,
    max_fds: usize,
    /// The fields below are read and written by the kernel. The op sits at a fixed
    /// heap address in the ring's table from `sqe` until the final completion, and
    /// `sqe` points the header at them (the control buffer's memory is on the heap).
    iov: libc::iovec,
    msg: libc::msghdr,
    control: Control,
    /// Where the entry points the kernel: set by `sqe`, recorded by `complete`.
    spare: Option<Spare>,
}

/// What a [`RecvMsg`] received: how many bytes were appended to the buffer, and the
/// descriptors that came with them.
#[derive(Debug)]
#[non_exhaustive]
pub struct Received {
    /// How many bytes were appended to the buffer; 0 only at end of stream.
    pub len: usize,
    /// The descriptors sent with the bytes, in the sender's order: new descriptors
    /// of this process, close-on-exec, owned (dropping one closes it).
    pub fds: Vec<OwnedFd>,
    /// The kernel had no room for every descriptor the peer sent (`MSG_CTRUNC`): it
    /// closed the ones that did not fit, and the message is incomplete. `fds` holds
    /// the ones that fit.
    pub truncated: bool,
}

impl<B: IoBufMut> RecvMsg<B> {
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        buf: B,
        max_fds: usize,
    ) -> Prepared<RecvMsg<B>> {
        Prepared::new(
            ring.inner().clone(),
            RecvMsg {
                fd: fd.clone(),
                buf,
                max_fds,
                iov: libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
                // SAFETY: msghdr is plain old data (pointers, lengths, flags, and on
                // some targets private padding); all zeroes is a valid, empty header.
                msg: unsafe { mem::zeroed() },
                control: Control::none(),
                spare: None,
            },
        )
    }

    /// Adopts the descriptors of a successful receive: the `SCM_RIGHTS` ones, and
    /// how many others were closed.
    fn take_fds(&mut self) -> (Vec<OwnedFd>, u64) {
        // The kernel set `msg_controllen` to the length of the control messages it
        // wrote (`take_fds` keeps within the buffer whatever it says).
        #[allow(clippy::unnecessary_cast)] // `size_t` on Linux gnu, `socklen_t` on musl.
        let written = self.msg.msg_controllen as usize;
        // SAFETY: called once, from `complete` or `release`, which consume the op,
        // for a successful completion: the kernel wrote the control messages of this
        // receive into the buffer, and installed each descriptor in them for this
        // process alone.
        unsafe { self.control.take_fds(written) }
    }
}

impl<B: IoBufMut> fmt::Debug for RecvMsg<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvMsg")
            .field("fd", &self.fd)
            .field("len", &self.buf.bytes_init())
            .field("capacity", &self.buf.bytes_total())
            .field("max_fds", &self.max_fds)
            .finish_non_exhaustive()
    }
}

impl<B: IoBufMut> Sealed for RecvMsg<B> {}

impl<B: IoBufMut> OpKind for RecvMsg<B> {
    type Output = (io::Result<Received>, B);
    type Residue = B;
    const NAME: &'static str = "RecvMsg";
    const OPCODE: u8 = opcode::RecvMsg::CODE;

    fn check(&self) -> io::Result<()> {
        ancillary::check_fd_count(self.max_fds, Self::NAME)?;
        crate::buf::check_spare(&self.buf, Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        // Called at the op's final heap address: the pointers below stay valid until
        // the final completion, when the table hands the op back.
        let spare = *self.spare.insert(Spare::of(&mut self.buf));
        self.iov = libc::iovec {
            iov_base: spare.ptr.cast(),
            iov_len: spare.len,
        };
        self.control = Control::for_fds(self.max_fds);
        self.msg.msg_name = std::ptr::null_mut();
        self.msg.msg_namelen = 0;
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        self.msg.msg_control = self.control.as_mut_ptr();
        self.msg.msg_controllen = self.control.len() as _;
        self.msg.msg_flags = 0;
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), &mut self.msg)
            .flags(libc::MSG_CMSG_CLOEXEC as u32)
            .build()
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        let n = match completion.result {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), self.buf),
        };
        // Taken first, so that no descriptor is left unowned whatever follows.
        let (fds, _pidfds_closed) = self.take_fds();
        let n = n.min(self.iov.iov_len);
        if let Some(spare) = self.spare {
            // SAFETY: the kernel wrote `n` bytes into the single iovec, which starts
            // right after the `init` initialised bytes and spans `len` bytes, with
            // `init + len <= bytes_total()`; `n <= len`.
            unsafe { self.buf.set_init(spare.filled(n)) };
        }
        let truncated = self.msg.msg_flags & libc::MSG_CTRUNC != 0;
        let received = Received {
            len: n,
            fds,
            truncated,
        };
        (Ok(received), self.buf)
    }

    fn residue(self) -> B {
        self.buf
    }

    fn release(mut self, completion: Completion) -> u64 {
        // A failed recvmsg(2) installs no descriptor: Linux moves SCM_RIGHTS into
        // the file table only for a message it delivers (scm_detach_fds runs after a
        // successful receive), so there is nothing to close.
        if completion.result.is_err() {
            return 0;
        }
        // Nobody will claim the message: its descriptors are closed here.
        let (fds, others) = self.take_fds();
        fds.len() as u64 + others
    }
}
