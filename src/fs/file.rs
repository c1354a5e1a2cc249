//! `File`: opened through the ring, read and written at offsets, synced, resized; any
//! descriptor (a pipe, a device) can be wrapped.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::buf::{IoBuf, IoBufMut};
use crate::compose::{Endpoint, ReadExact, WriteAll};
use crate::fd::{set_blocking, SharedFd};
use crate::fs::OpenOptions;
use crate::op::{Fallocate, Fsync, Ftruncate, OpenAt, Prepared, Read, Statx, Write};
use crate::Ring;

mod advise;
mod vectored;

/// The offset io_uring reads as `-1`: the file's current position.
const CURRENT_POSITION: u64 = u64::MAX;

/// A descriptor read and written through the ring: a regular file, a pipe, a
/// character device.
///
/// Files are opened through the ring with [`File::open`], [`File::create`] and
/// [`File::options`], each an op to `.await` (or to submit, race and cancel); a pipe
/// comes from [`fs::pipe`](crate::fs::pipe); any other descriptor is wrapped with
/// [`File::from_fd`] or [`File::from_std`]. The file's own ops are here too:
/// [`metadata`](File::metadata), [`sync_all`](File::sync_all),
/// [`sync_data`](File::sync_data), [`set_len`](File::set_len),
/// [`allocate`](File::allocate).
///
/// Reads and writes take an owned buffer and give it back with the result
/// (`(io::Result<usize>, B)`). A write takes the buffer's initialised bytes; a read
/// appends to them, filling the spare capacity (see
/// [the buffer contract](crate::buf#the-buffer-contract)). The `_at` forms take a file offset and leave the
/// file's position alone, as `pread(2)` and `pwrite(2)` do; [`read`](File::read) and
/// [`write`](File::write) use and advance the current position, as `read(2)` and
/// `write(2)` do, and are the ones for descriptors that cannot seek (pipes).
///
/// The descriptor is shared with the ops in flight on it: dropping the `File` while
/// an op is in flight closes the descriptor only when that op completes, so its
/// number cannot be reused under the op.
///
/// # Examples
///
/// ```
/// use linear_uring::{fs::File, Ring};
///
/// let ring = Ring::new()?;
/// let path = std::env::temp_dir().join(format!("linear-uring-doc-{}", std::process::id()));
/// ring.block_on(async {
///     let file = File::create(&ring, &path).await?;
///     let (written, _) = file.write_all_at(&b"hello, ring"[..], 0).await;
///     written?;
///     file.sync_all().await?;
///     file.close().await?;
///
///     let file = File::open(&ring, &path).await?;
///     assert_eq!(file.metadata().await?.len(), 11);
///     let (n, buf) = file.read_at(Vec::with_capacity(64), 7).await;
///     assert_eq!(&buf[..n?], b"ring");
///     file.close().await?;
///     linear_uring::fs::remove_file(&ring, &path).await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct File {
    ring: Ring,
    fd: SharedFd,
}

impl File {
    /// Describes the open of an existing file, read-only, as [`std::fs::File::open`]:
    /// `File::open(&ring, path).await?` opens it through the ring.
    ///
    /// To wrap a file opened elsewhere (with `std`, blocking the thread), use
    /// [`File::from_std`].
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for a path with a NUL byte inside; otherwise the
    /// kernel's errno (`NotFound`, `PermissionDenied`, `ENAMETOOLONG`...), as
    /// [`OpenAt`] lists.
    ///
    /// # Cancellation
    ///
    /// See [`OpenAt`]: an open that finished first is never lost, and a descriptor
    /// opened for a dropped token is closed by the ring.
    ///
    /// # References
    ///
    /// `io_uring_prep_openat(3)`, `openat(2)` with `O_RDONLY`.
    pub fn open(ring: &Ring, path: impl AsRef<Path>) -> Prepared<OpenAt> {
        OpenOptions::new().read(true).open(ring, path)
    }

    /// Describes the open of a file for writing, creating it or truncating it, as
    /// [`std::fs::File::create`]: `File::create(&ring, path).await?`. To read and
    /// write, or for other options, use [`File::options`].
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for a path with a NUL byte inside; otherwise the
    /// kernel's errno (`NotFound` for a missing directory, `PermissionDenied`,
    /// `IsADirectory`...), as [`OpenAt`] lists.
    ///
    /// # Cancellation
    ///
    /// See [`OpenAt`].
    ///
    /// # References
    ///
    /// `io_uring_prep_openat(3)`, `openat(2)` with `O_WRONLY | O_CREAT | O_TRUNC`.
    pub fn create(ring: &Ring, path: impl AsRef<Path>) -> Prepared<OpenAt> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(ring, path)
    }

    /// Options to open a file with: [`OpenOptions::new`], as
    /// [`std::fs::File::options`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// A `File` for a descriptor this library just made (opened, or a new pipe end):
    /// blocking already, so no `fcntl(2)` is needed.
    pub(crate) fn from_opened(ring: &Ring, fd: OwnedFd) -> File {
        File {
            ring: ring.clone(),
            fd: SharedFd::new(fd),
        }
    }

    /// Wraps a `std` file.
    ///
    /// `O_NONBLOCK` is cleared: io_uring waits for a pipe or device itself, and fails
    /// a read of an `O_NONBLOCK` descriptor with `EAGAIN` instead. The flag belongs to
    /// the open file description, so duplicates of the descriptor see the change.
    ///
    /// # Errors
    ///
    /// If the descriptor's flags cannot be read or changed.
    pub fn from_std(ring: &Ring, file: fs::File) -> io::Result<File> {
        File::from_fd(ring, OwnedFd::from(file))
    }

    /// Wraps any descriptor open for reading or writing (a pipe end, a character
    /// device, a file).
    ///
    /// `O_NONBLOCK` is cleared, as for [`File::from_std`].
    ///
    /// # Errors
    ///
    /// If the descriptor's flags cannot be read or changed (`EBADF`...).
    pub fn from_fd(ring: &Ring, fd: OwnedFd) -> io::Result<File> {
        set_blocking(&fd)?;
        Ok(File {
            ring: ring.clone(),
            fd: SharedFd::new(fd),
        })
    }

    /// The `std` file back.
    ///
    /// # Errors
    ///
    /// `ResourceBusy` if an op on it (an abandoned one) is still in flight.
    pub fn into_std(self) -> io::Result<fs::File> {
        self.into_fd().map(fs::File::from)
    }

    /// The descriptor back.
    ///
    /// # Errors
    ///
    /// `ResourceBusy` if an op on it (an abandoned one) is still in flight.
    pub fn into_fd(self) -> io::Result<OwnedFd> {
        self.fd.into_owned("File")
    }

    /// Describes a read at `offset` into `buf`'s spare capacity, after its initialised
    /// bytes, leaving the file's position alone.
    ///
    /// On a descriptor that cannot seek (a pipe) the offset means nothing: use
    /// [`read`](File::read) there.
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for a buffer with no spare capacity (see [`Read`]);
    /// otherwise from the op's completion: the kernel's errno (`EBADF` if the
    /// descriptor is not open for reading, `EINVAL` for an offset past `i64::MAX`),
    /// with the buffer.
    ///
    /// # Cancellation
    ///
    /// See [`Read`]: a cancel never loses bytes that were read.
    ///
    /// # References
    ///
    /// `io_uring_prep_read(3)`, `pread(2)`.
    pub fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> Prepared<Read<B>> {
        Read::prepare(&self.ring, &self.fd, buf, offset)
    }

    /// Describes a read at the file's current position, which it advances, into
    /// `buf`'s spare capacity, after its initialised bytes.
    ///
    /// # Errors
    ///
    /// From the op's completion, as [`read_at`](File::read_at).
    ///
    /// # Cancellation
    ///
    /// See [`Read`]: a cancel never loses bytes that were read.
    ///
    /// # References
    ///
    /// `io_uring_prep_read(3)` with offset `-1`, `read(2)`.
    pub fn read<B: IoBufMut>(&self, buf: B) -> Prepared<Read<B>> {
        Read::prepare(&self.ring, &self.fd, buf, CURRENT_POSITION)
    }

    /// Describes a write of `buf`'s initialised bytes at `offset`, leaving the file's
    /// position alone. The kernel may take fewer bytes than offered;
    /// [`write_all_at`](File::write_all_at) loops until all are written.
    ///
    /// # Errors
    ///
    /// From the op's completion: the kernel's errno (`EBADF` if the descriptor is not
    /// open for writing, `EPIPE` on a pipe with no reader, `ENOSPC`...), with the
    /// buffer.
    ///
    /// # Cancellation
    ///
    /// See [`Write`].
    ///
    /// # References
    ///
    /// `io_uring_prep_write(3)`, `pwrite(2)`.
    pub fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> Prepared<Write<B>> {
        Write::prepare(&self.ring, &self.fd, buf, 0, offset)
    }

    /// Describes a write of `buf`'s initialised bytes at the file's current position,
    /// which it advances (to the end first, for a file opened to append).
    ///
    /// # Errors
    ///
    /// From the op's completion, as [`write_at`](File::write_at).
    ///
    /// # Cancellation
    ///
    /// See [`Write`].
    ///
    /// # References
    ///
    /// `io_uring_prep_write(3)` with offset `-1`, `write(2)`.
    pub fn write<B: IoBuf>(&self, buf: B) -> Prepared<Write<B>> {
        Write::prepare(&self.ring, &self.fd, buf, 0, CURRENT_POSITION)
    }

    /// Writes all of `buf`'s initialised bytes at `offset`, one write op after
    /// another, and gives the buffer back: a [`WriteAll`], submitted now.
    ///
    /// # Errors
    ///
    /// The first failed write's error, `WriteZero` if the kernel accepted nothing,
    /// `InvalidInput` if the offsets would overflow.
    ///
    /// # Cancellation
    ///
    /// See [`WriteAll`]: `cancel()` reports the bytes written and hands the buffer
    /// back; it can be raced and given a deadline like a single op.
    ///
    /// # References
    ///
    /// `io_uring_prep_write(3)`, `pwrite(2)`.
    #[track_caller]
    pub fn write_all_at<B: IoBuf>(&self, buf: B, offset: u64) -> WriteAll<B> {
        WriteAll::new(Endpoint::file(&self.ring, &self.fd, Some(offset)), buf)
    }

    /// Writes all of `buf`'s initialised bytes at the current position, one write op
    /// after another, and gives the buffer back: a [`WriteAll`]. The way to fill a
    /// pipe.
    ///
    /// # Errors
    ///
    /// The first failed write's error, or `WriteZero` if the kernel accepted nothing.
    ///
    /// # Cancellation
    ///
    /// As [`write_all_at`](File::write_all_at).
    ///
    /// # References
    ///
    /// `io_uring_prep_write(3)` with offset `-1`, `write(2)`.
    #[track_caller]
    pub fn write_all<B: IoBuf>(&self, buf: B) -> WriteAll<B> {
        WriteAll::new(Endpoint::file(&self.ring, &self.fd, None), buf)
    }

    /// Reads exactly `len` bytes at `offset` into `buf`, after its initialised bytes,
    /// one read op after another: a [`ReadExact`], submitted now.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the file ends first (the buffer holds what was read),
    /// `InvalidInput` for a buffer with less than `len` bytes of spare capacity, or
    /// the first failed read's error.
    ///
    /// # Cancellation
    ///
    /// See [`ReadExact`]: `cancel()` hands back the buffer with every byte read.
    ///
    /// # References
    ///
    /// `io_uring_prep_read(3)`, `pread(2)`.
    #[track_caller]
    pub fn read_exact_at<B: IoBufMut>(&self, buf: B, len: usize, offset: u64) -> ReadExact<B> {
        ReadExact::new(Endpoint::file(&self.ring, &self.fd, Some(offset)), buf, len)
    }

    /// Reads exactly `len` bytes at the current position into `buf`, after its
    /// initialised bytes: a [`ReadExact`]. The way to read a message of known length
    /// from a pipe.
    ///
    /// # Errors
    ///
    /// As [`read_exact_at`](File::read_exact_at).
    ///
    /// # Cancellation
    ///
    /// As [`read_exact_at`](File::read_exact_at).
    ///
    /// # References
    ///
    /// `io_uring_prep_read(3)` with offset `-1`, `read(2)`.
    #[track_caller]
    pub fn read_exact<B: IoBufMut>(&self, buf: B, len: usize) -> ReadExact<B> {
        ReadExact::new(Endpoint::file(&self.ring, &self.fd, None), buf, len)
    }

    /// Describes a read of the file's metadata (size, type, permissions, times), as
    /// [`std::fs::File::metadata`].
    ///
    /// # Errors
    ///
    /// The kernel's errno; rarely any for an open file.
    ///
    /// # Cancellation
    ///
    /// See [`Statx`].
    ///
    /// # References
    ///
    /// `io_uring_prep_statx(3)` with `AT_EMPTY_PATH`, `statx(2)`.
    pub fn metadata(&self) -> Prepared<Statx> {
        Statx::of_file(&self.ring, &self.fd)
    }

    /// Describes a flush of the file's data and metadata to its storage device, as
    /// [`std::fs::File::sync_all`].
    ///
    /// # Errors
    ///
    /// The kernel's errno: `EIO` (a write-back failed), `EINVAL` (a pipe or another
    /// descriptor that cannot be synced)...
    ///
    /// # Cancellation
    ///
    /// See [`Fsync`].
    ///
    /// # References
    ///
    /// `io_uring_prep_fsync(3)`, `fsync(2)`.
    pub fn sync_all(&self) -> Prepared<Fsync> {
        Fsync::prepare(&self.ring, &self.fd, false)
    }

    /// Describes a flush of the file's data, and of the metadata needed to read it
    /// back (its size), to the storage device, as [`std::fs::File::sync_data`].
    ///
    /// # Errors
    ///
    /// As [`sync_all`](File::sync_all).
    ///
    /// # Cancellation
    ///
    /// See [`Fsync`].
    ///
    /// # References
    ///
    /// `io_uring_prep_fsync(3)` with `IORING_FSYNC_DATASYNC`, `fdatasync(2)`.
    pub fn sync_data(&self) -> Prepared<Fsync> {
        Fsync::prepare(&self.ring, &self.fd, true)
    }

    /// Describes setting the file's length to `size`, as [`std::fs::File::set_len`]:
    /// bytes past it are dropped, new bytes read as zeroes. The file's position is
    /// left alone. Needs Linux 6.9 (`ErrorKind::Unsupported` before).
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for a size past `i64::MAX`; otherwise the kernel's
    /// errno: `EFBIG` (past the file system's largest file), `EINVAL` (not open for
    /// writing)...
    ///
    /// # Cancellation
    ///
    /// See [`Ftruncate`].
    ///
    /// # References
    ///
    /// `io_uring_prep_ftruncate(3)`, `ftruncate(2)`.
    pub fn set_len(&self, size: u64) -> Prepared<Ftruncate> {
        Ftruncate::prepare(&self.ring, &self.fd, size)
    }

    /// Describes allocating disk space for `len` bytes from `offset`, growing the
    /// file if it is shorter than `offset + len`, as `fallocate(2)` with mode 0: later
    /// writes to the range cannot fail for lack of space.
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for an offset or length past `i64::MAX`; otherwise the
    /// kernel's errno: `EINVAL` (a length of 0), `EFBIG` (past the file system's
    /// largest file), `ENOSPC`, `EOPNOTSUPP` (a file system without it)...
    ///
    /// # Cancellation
    ///
    /// See [`Fallocate`].
    ///
    /// # References
    ///
    /// `io_uring_prep_fallocate(3)`, `fallocate(2)`.
    pub fn allocate(&self, offset: u64, len: u64) -> Prepared<Fallocate> {
        Fallocate::prepare(&self.ring, &self.fd, offset, len, 0)
    }

    /// The ring this file belongs to.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Closes the file through the ring, reporting any error (a deferred write error
    /// of a network file system, for instance).
    ///
    /// If an op on it is still in flight, the descriptor is closed when that op
    /// completes instead, and `Ok(())` is returned.
    ///
    /// # Errors
    ///
    /// As `close(2)`.
    ///
    /// # References
    ///
    /// `io_uring_prep_close(3)`, `close(2)`.
    pub async fn close(self) -> io::Result<()> {
        self.fd.close(&self.ring).await
    }
}

impl crate::compose::Endpoints for File {
    fn endpoint(&self) -> Endpoint {
        Endpoint::file(&self.ring, &self.fd, None)
    }
}

impl crate::Source for File {}

impl crate::Sink for File {}

crate::fd::impl_fd_traits!(File);

/// Refuses a file offset or size the kernel would read as negative (past
/// `i64::MAX`, its `loff_t`), as `InvalidInput` with a message that says so.
pub(crate) fn check_file_offset(op: &str, what: &str, value: u64) -> io::Result<()> {
    if i64::try_from(value).is_ok() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{op}: the {what} {value} is past the largest file offset ({}); nothing was done",
            i64::MAX
        ),
    ))
}
