//! Ancillary data of Unix sockets: descriptors passed with `SCM_RIGHTS`, in the
//! control buffer of a `msghdr`.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The most descriptors one message carries: the kernel's `SCM_MAX_FD`.
pub(crate) const MAX_FDS: usize = 253;

/// `SCM_PIDFD` (Linux 6.5), from `<linux/socket.h>`: a pidfd of the sender, installed
/// when the receiving socket has `SO_PASSPIDFD` set.
const SCM_PIDFD: libc::c_int = 0x04;

/// Fails a message of more than [`MAX_FDS`] descriptors, before it reaches the
/// kernel, saying why.
pub(crate) fn check_fd_count(count: usize, op: &str) -> io::Result<()> {
    if count <= MAX_FDS {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{op}: {count} descriptors, more than the {MAX_FDS} one message carries \
             (SCM_MAX_FD); pass them in several messages"
        ),
    ))
}

/// A control buffer: heap memory aligned for `cmsghdr`, which stays put when the
/// op owning it moves, and which the kernel reads or writes while the op is in
/// flight.
pub(crate) struct Control {
    words: Vec<u64>,
    /// The buffer's length in bytes, as the `msghdr` gives it: `CMSG_SPACE` of its
    /// contents.
    len: usize,
}

/// `CMSG_SPACE` of `count` descriptors: the room one `SCM_RIGHTS` message of them
/// takes, padding included.
fn rights_space(count: usize) -> usize {
    // At most `MAX_FDS` descriptors: the product fits a `c_uint`.
    let data = (count * mem::size_of::<RawFd>()) as libc::c_uint;
    // SAFETY: CMSG_SPACE is arithmetic on its argument; it reads no memory.
    unsafe { libc::CMSG_SPACE(data) as usize }
}

impl Control {
    /// No control buffer.
    pub(crate) fn none() -> Control {
        Control {
            words: Vec::new(),
            len: 0,
        }
    }

    /// A zeroed buffer with room for one `SCM_RIGHTS` message of `count`
    /// descriptors (at most [`MAX_FDS`]); none for 0.
    pub(crate) fn for_fds(count: usize) -> Control {
        if count == 0 {
            return Control::none();
        }
        let len = rights_space(count.min(MAX_FDS));
        Control {
            words: vec![0; len.div_ceil(mem::size_of::<u64>())],
            len,
        }
    }

    /// A buffer holding one `SCM_RIGHTS` message of `fds` (at most [`MAX_FDS`]):
    /// the kernel takes a reference to each when the message is sent. None for no
    /// descriptors.
    pub(crate) fn rights(fds: &[OwnedFd]) -> Control {
        let mut control = Control::for_fds(fds.len());
        if control.len == 0 {
            return control;
        }
        let data = fds.len() * mem::size_of::<RawFd>();
        let base = control.words.as_mut_ptr().cast::<u8>();
        // SAFETY: the buffer holds `CMSG_SPACE(data)` zeroed bytes, aligned for
        // `cmsghdr` (it is made of `u64`s): room for the header, then for `data`
        // bytes at `CMSG_DATA`, which the loop writes, one descriptor each, without
        // alignment assumptions. CMSG_LEN is arithmetic.
        unsafe {
            let header = base.cast::<libc::cmsghdr>();
            (*header).cmsg_level = libc::SOL_SOCKET;
            (*header).cmsg_type = libc::SCM_RIGHTS;
            (*header).cmsg_len = libc::CMSG_LEN(data as libc::c_uint) as _;
            let out = libc::CMSG_DATA(header).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                out.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
        control
    }

    /// The buffer's address for `msg_control`, null if there is none.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::c_void {
        if self.len == 0 {
            return std::ptr::null_mut();
        }
        self.words.as_mut_ptr().cast()
    }

    /// The buffer's length in bytes, for `msg_controllen`.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Takes ownership of the descriptors that the kernel installed for this process
    /// and listed in the first `written` bytes of the buffer, and closes any pidfd
    /// (`SCM_PIDFD`) among them. Other control messages (credentials) are skipped.
    /// Returns the `SCM_RIGHTS` descriptors, in order, and how many others were
    /// closed.
    ///
    /// # Safety
    ///
    /// The buffer's first `written` bytes (`msg_controllen` as the kernel updated
    /// it) are the control messages of a successful receive with this buffer, and
    /// no descriptor in them was taken before: each is open, and owned by nobody
    /// else. Call it once per completion.
    pub(crate) unsafe fn take_fds(&mut self, written: usize) -> (Vec<OwnedFd>, u64) {
        let mut fds = Vec::new();
        let mut others = 0;
        let end = written.min(self.len);
        let base = self.words.as_ptr().cast::<u8>();
        // SAFETY: CMSG_LEN is arithmetic.
        let header_len = unsafe { libc::CMSG_LEN(0) } as usize;
        let mut at = 0;
        // Walks the messages as CMSG_NXTHDR does, within the bytes written.
        while at + header_len <= end {
            // SAFETY: `at + header_len <= end <= len`: a whole header lies in the
            // buffer, and `at` is a multiple of the `cmsghdr` alignment (it starts at
            // 0 and advances by CMSG_SPACE-aligned steps). read_unaligned copies it.
            let header = unsafe { base.add(at).cast::<libc::cmsghdr>().read_unaligned() };
            #[allow(clippy::unnecessary_cast)] // `size_t` on Linux, a narrower type elsewhere.
            let msg_len = header.cmsg_len as usize;
            if msg_len < header_len || at + msg_len > end {
                break;
            }
            let count = (msg_len - header_len) / mem::size_of::<RawFd>();
            let is_fds = header.cmsg_level == libc::SOL_SOCKET
                && (header.cmsg_type == libc::SCM_RIGHTS || header.cmsg_type == SCM_PIDFD);
            if is_fds {
                for i in 0..count {
                    // SAFETY: the `count` descriptors lie within this message's
                    // `msg_len` bytes, inside the buffer; read_unaligned copies each.
                    let raw = unsafe {
                        base.add(at + header_len)
                            .cast::<RawFd>()
                            .add(i)
                            .read_unaligned()
                    };
                    // SAFETY: the caller promises the kernel installed this
                    // descriptor for this receive and nobody owns it yet.
                    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
                    if header.cmsg_type == libc::SCM_RIGHTS {
                        fds.push(fd);
                    } else {
                        drop(fd);
                        others += 1;
                    }
                }
            }
            // The next header starts at the aligned end of this one.
            // SAFETY: CMSG_SPACE is arithmetic.
            at += unsafe { libc::CMSG_SPACE((msg_len - header_len) as libc::c_uint) } as usize;
        }
        // Taken once: a second call finds nothing.
        self.words.fill(0);
        (fds, others)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [-1; 2];
        // SAFETY: pipe2(2) writes two descriptors into the array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both are new descriptors nobody else owns.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn control_for_no_fds_is_empty_and_null() {
        let mut control = Control::for_fds(0);
        assert_eq!(control.len(), 0);
        assert!(control.as_mut_ptr().is_null());
    }

    #[test]
    fn control_rights_round_trips_through_take_fds() {
        use std::os::fd::IntoRawFd;
        let (a, b) = pipe();
        let fds = [a, b];
        let mut control = Control::rights(&fds);
        // SAFETY: CMSG_SPACE is arithmetic.
        let space = unsafe { libc::CMSG_SPACE(8) } as usize;
        assert_eq!(control.len(), space);
        // Let go of the descriptors, as a send would hand them to the peer: the
        // message now lists the only references to them.
        let raws = fds.map(IntoRawFd::into_raw_fd);
        // SAFETY: the message lists two open descriptors that nobody owns.
        let (fds, others) = unsafe { control.take_fds(space) };
        assert_eq!(others, 0);
        let got: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        assert_eq!(got, raws);
        // SAFETY: taken once already: the buffer was cleared.
        let (again, _) = unsafe { control.take_fds(space) };
        assert!(again.is_empty());
    }

    #[test]
    fn take_fds_stops_at_a_short_or_overlong_header() {
        let mut control = Control::for_fds(4);
        let len = control.len();
        // SAFETY: a zeroed buffer: its first header says length 0, which ends the
        // walk before any descriptor is adopted.
        let (fds, others) = unsafe { control.take_fds(len) };
        assert!(fds.is_empty());
        assert_eq!(others, 0);
    }

    #[test]
    fn check_fd_count_refuses_more_than_scm_max_fd() {
        check_fd_count(MAX_FDS, "SendMsg").unwrap();
        let err = check_fd_count(MAX_FDS + 1, "SendMsg").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("254 descriptors"), "{err}");
    }
}
