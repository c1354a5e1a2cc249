//! `pipe`: an anonymous pipe whose two ends are ring `File`s.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use super::File;
use crate::Ring;

/// Creates an anonymous pipe and returns its ends as [`File`]s on `ring`: `(reader,
/// writer)`. Both are close-on-exec and blocking (the ring waits for them).
///
/// `pipe2(2)` runs on the calling thread, not through the ring: it never blocks, and
/// `IORING_OP_PIPE` would need Linux 6.16 for nothing in return.
///
/// # Errors
///
/// As `pipe2(2)`: `EMFILE` or `ENFILE` when out of descriptors.
///
/// # Examples
///
/// ```
/// use linear_uring::{fs, Ring};
///
/// let ring = Ring::new()?;
/// let (reader, writer) = fs::pipe(&ring)?;
/// ring.block_on(async {
///     let (written, _) = writer.write_all(&b"through the pipe"[..]).await;
///     written?;
///     writer.close().await?;
///     let (n, buf) = reader.read(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..n?], b"through the pipe");
///     reader.close().await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// `pipe2(2)`.
pub fn pipe(ring: &Ring) -> io::Result<(File, File)> {
    let mut fds = [-1; 2];
    // SAFETY: pipe2(2) writes two descriptors into the array, which outlives the call.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded: both are new descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((
        File::from_opened(ring, read),
        File::from_opened(ring, write),
    ))
}
