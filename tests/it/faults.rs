//! Faults and bad input: what the storm does not reach.
//!
//! Covered elsewhere and not repeated here: a completion queue overflowing with nops
//! and a full submission queue (`exec.rs`), absurd and zero ring sizes (`errors.rs`),
//! a write to a pipe with no reader (`fs_pipe.rs`), a UDP send to an address of the
//! other family (`net_udp.rs`), forgotten tokens at shutdown (`shutdown.rs`).
//!
//! A closed descriptor cannot reach an op through the public API without `unsafe`:
//! resources own an `OwnedFd`, and `close()` consumes them. What the tests below use
//! instead are descriptors that are open but wrong for the op, sockets shut down or
//! reset under the op, and an owner closing its resource while an op still uses it.

mod input;
mod limits;
mod load;
mod owner;

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use linear_uring::fs::File;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{DropPolicy, IoBuf, Ring};

use crate::storm::check::CountedBuf;
use crate::storm::pipe::pipe;

/// A ring with `policy`.
fn ring(policy: DropPolicy) -> Ring {
    Ring::builder().drop_policy(policy).build().unwrap()
}

/// A listener on loopback and a connected pair: (ring side, std side).
fn connected(ring: &Ring) -> (TcpListener, TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind(ring, "127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, peer) =
        ring.block_on(async { listener.accept().submit().complete().await.unwrap() });
    assert_eq!(peer, client.local_addr().unwrap());
    (listener, server, client)
}

/// Sets an integer socket option.
fn set_int_option(fd: &impl AsRawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
    // SAFETY: passes a live c_int and its size; the descriptor is open while `fd`
    // holds it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}

/// Makes the next close of `fd` send a reset (`SO_LINGER` with a zero timeout).
fn linger_zero(fd: &impl AsRawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: passes a live linger struct and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}

/// Checks that `ring` still works: a nop, a timer, and bytes through a pipe.
fn assert_usable(ring: &Ring) {
    let (read, write) = pipe();
    let reader = File::from_fd(ring, read).unwrap();
    let writer = File::from_fd(ring, write).unwrap();
    ring.block_on(async {
        ring.nop().complete().await.unwrap();
        ring.sleep(Duration::from_millis(1)).await.unwrap();
        let read = reader.read(Vec::with_capacity(8)).submit();
        let (n, _) = writer.write(&b"usable"[..]).submit().complete().await;
        assert_eq!(n.unwrap(), 6);
        let (n, buf) = read.complete().await;
        assert_eq!(&buf[..n.unwrap()], b"usable");
        reader.close().await.unwrap();
        writer.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0, "{:?}", ring.stats());
}

/// `future`, or a panic if it takes more than 20 s: a lost completion would make a
/// test wait forever.
async fn within<T>(ring: &Ring, future: impl std::future::Future<Output = T>) -> T {
    let mut deadline = ring.sleep(Duration::from_secs(20));
    let expired = async {
        (&mut deadline).await.unwrap();
        panic!(
            "not done after 20 s: a completion was lost ({:?})",
            ring.stats()
        )
    };
    let output = futures_lite::future::or(future, expired).await;
    // Take the timer out of the kernel, so that it is not left in flight.
    assert!(deadline.cancel().await.is_cancelled());
    output
}

/// Lets the kernel act on what was submitted and the ring reap it.
async fn pause(ring: &Ring, ms: u64) {
    ring.sleep(Duration::from_millis(ms)).await.unwrap();
}

/// Asserts that a buffer-owning op failed with `errno` and gave back its buffer: the
/// same allocation, not dropped.
fn assert_failed_buffer_back(
    (result, buf): (io::Result<usize>, CountedBuf),
    ptr: *const u8,
    errno: i32,
    what: &str,
) {
    let err = result.expect_err(what);
    assert_eq!(err.raw_os_error(), Some(errno), "{what}: {err}");
    assert_eq!(buf.stable_ptr(), ptr, "{what}: not the same buffer");
    assert!(!buf.drop_flag().get(), "{what}: the buffer was dropped");
}
