//! Shared ownership of a descriptor between a resource and its ops in flight.
//!
//! A resource (`TcpStream`, `File`, ...) holds one reference, or each half of a split
//! stream one; every op on it holds another until its final completion. The
//! descriptor is closed when the last reference goes, so a resource dropped while an
//! op is in flight cannot have its descriptor number reused under that op.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// A descriptor shared by a resource and its ops.
///
/// `pub` but unnameable (this module is private): the sealed part of [`Resource`]
/// returns it.
#[derive(Clone)]
pub struct SharedFd(Rc<OwnedFd>);

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> Self {
        SharedFd(Rc::new(fd))
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Whether `self` and `other` are references to the same descriptor (clones of one
    /// `SharedFd`), not merely the same number.
    pub(crate) fn same(&self, other: &SharedFd) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// The descriptor back, if no op holds it any more.
    pub(crate) fn try_unwrap(self) -> Result<OwnedFd, SharedFd> {
        Rc::try_unwrap(self.0).map_err(SharedFd)
    }

    /// The descriptor back, or an error saying that ops still use it.
    pub(crate) fn into_owned(self, what: &str) -> io::Result<OwnedFd> {
        self.try_unwrap().map_err(|shared| {
            io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "cannot take the descriptor out of this {what}: {} operation(s) on it \
                     are still in flight",
                    Rc::strong_count(&shared.0) - 1
                ),
            )
        })
    }
}

impl SharedFd {
    /// Closes the descriptor with a close op once no other op holds it; if an
    /// abandoned op still does, it is closed when that op's completion is reaped.
    pub(crate) async fn close(self, ring: &crate::Ring) -> io::Result<()> {
        match self.try_unwrap() {
            // `IORING_OP_CLOSE` refuses an io_uring instance's descriptor (`EBADF`,
            // leaving it open): close(2) closes it.
            Ok(owned) if is_io_uring(&owned) => close_now(owned),
            Ok(owned) => {
                crate::op::Close::prepare(ring, owned)
                    .submit()
                    .complete()
                    .await
            }
            Err(_still_in_flight) => Ok(()),
        }
    }
}

/// Whether `fd` is an io_uring instance. Only anonymous inodes (eventfd, epoll,
/// io_uring...) have no file type in their mode, so the name is read for those alone.
fn is_io_uring(fd: &OwnedFd) -> bool {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat(2) on a descriptor we own writes one `stat` into the local.
    if unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) } < 0 {
        return false;
    }
    // SAFETY: fstat succeeded, so it initialised the struct.
    let mode = unsafe { stat.assume_init() }.st_mode;
    if mode & libc::S_IFMT != 0 {
        return false;
    }
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .is_ok_and(|target| target.as_os_str() == "anon_inode:[io_uring]")
}

/// Closes `fd` with close(2), reporting its error (which `OwnedFd`'s drop ignores).
fn close_now(fd: OwnedFd) -> io::Result<()> {
    let raw = fd.into_raw_fd();
    // SAFETY: `raw` was just taken out of its `OwnedFd`: it is open, owned here
    // alone, and used no more after this call, whatever it returns.
    if unsafe { libc::close(raw) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clears `O_NONBLOCK` on a descriptor taken from elsewhere: io_uring fails some
/// operations on a non-blocking descriptor with `EAGAIN` instead of waiting.
pub(crate) fn set_blocking(fd: &OwnedFd) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl(2) on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        // SAFETY: as above.
        if unsafe { libc::fcntl(raw, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fd {}", self.raw())
    }
}

pub(crate) mod sealed {
    /// The part of [`Resource`](super::Resource) that only the crate sees.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a resource of linear-uring whose descriptor an op can share",
        label = "not one of the library's descriptor-owning types",
        note = "ops that take a resource (`Splice`, `Tee`, `PollAdd`) keep a reference to its descriptor until their final completion, so that it cannot be closed and reused under them; wrap a `std` descriptor first (`File::from_fd`, `UnixStream::from_std`, ...)"
    )]
    pub trait Sealed {
        /// The descriptor, for an op to keep a reference to.
        fn shared_fd(&self) -> &super::SharedFd;
    }
}

/// A resource of this crate that owns a descriptor: [`File`](crate::fs::File), the
/// sockets and listeners of [`net`](crate::net), and the halves of a split stream.
///
/// Ops that work on any descriptor ([`Splice`](crate::op::Splice),
/// [`Tee`](crate::op::Tee), [`PollAdd`](crate::op::PollAdd)) take one by reference
/// and keep their own reference to its descriptor until their final completion, as
/// every op does: a resource dropped or closed while such an op is in flight keeps
/// its descriptor open until the op is done, so the number cannot be reused under
/// it. Sealed; wrap a `std` descriptor first ([`File::from_fd`](crate::fs::File::from_fd),
/// [`UnixStream::from_std`](crate::net::UnixStream::from_std), ...).
pub trait Resource: sealed::Sealed {}

/// Implements `AsFd`, `AsRawFd`, `Debug` and [`Resource`] for resource types with
/// `fd: SharedFd`.
macro_rules! impl_fd_traits {
    ($($ty:ty),*) => {$(
        impl $crate::fd::sealed::Sealed for $ty {
            fn shared_fd(&self) -> &$crate::fd::SharedFd {
                &self.fd
            }
        }

        impl $crate::fd::Resource for $ty {}

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.fd.as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.fd.raw()
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty)).field("fd", &self.fd).finish()
            }
        }
    )*};
}
pub(crate) use impl_fd_traits;
