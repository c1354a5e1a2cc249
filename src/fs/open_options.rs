//! `OpenOptions`: how to open a file, as `std::fs::OpenOptions`, opened through the
//! ring.

use std::path::Path;

use crate::op::{OpenAt, Prepared};
use crate::Ring;

/// Options for opening a file through the ring: the access wanted, whether to create
/// or truncate it, the permission bits of a new file, extra `open(2)` flags.
///
/// The same options and rules as [`std::fs::OpenOptions`]; [`open`](OpenOptions::open)
/// takes the ring first and returns the op's description, so
/// `options.open(&ring, path).await` opens the file.
///
/// # Examples
///
/// ```
/// use linear_uring::fs::{self, OpenOptions};
/// use linear_uring::Ring;
///
/// let ring = Ring::new()?;
/// let path = std::env::temp_dir().join(format!("linear-uring-doc-opts-{}", std::process::id()));
/// ring.block_on(async {
///     let log = OpenOptions::new().append(true).create(true).open(&ring, &path).await?;
///     let (written, _) = log.write_all(&b"one line\n"[..]).await;
///     written?;
///     log.close().await?;
///     assert_eq!(fs::metadata(&ring, &path).await?.len(), 9);
///     fs::remove_file(&ring, &path).await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// No access, nothing created: set at least one of `read`, `write`, `append`.
    /// New files get the permission bits `0o666`, less the umask.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Opens for reading.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Opens for writing.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Opens for appending: every write goes to the end (`O_APPEND`). Implies write
    /// access.
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }

    /// Truncates an existing file to length 0 (`O_TRUNC`). Needs `write`.
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }

    /// Creates the file if it does not exist (`O_CREAT`). Needs `write` or `append`.
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Creates the file, failing with `AlreadyExists` if it exists (`O_CREAT |
    /// O_EXCL`, which also refuses a symbolic link at the path). Needs `write` or
    /// `append`; `create` and `truncate` are then ignored.
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.create_new = create_new;
        self
    }

    /// The permission bits of a file this creates, less the umask (`0o666` unless
    /// set).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra `open(2)` flags (`O_DIRECT`, `O_NOFOLLOW`, `O_SYNC`, `O_NOATIME`...). The
    /// access mode bits are ignored (the options above set them) and `O_CLOEXEC` is
    /// always added. `O_NONBLOCK` opens a FIFO without waiting for its other end; the
    /// file's descriptor is then made blocking again, so that its reads and writes
    /// wait in the ring rather than fail with `EAGAIN`.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// Describes the open of `path` with these options: `.await` it for the
    /// [`File`](crate::fs::File), or `.submit()` it for a token to race or cancel.
    ///
    /// # Errors
    ///
    /// Options that cannot go together, or a path with a NUL byte inside, fail at
    /// once with `InvalidInput` when submitted, before the kernel sees the op: no
    /// access at all; `truncate`, `create` or `create_new` without write access;
    /// `truncate` with `append` (unless `create_new`). Otherwise the kernel's errno,
    /// as [`OpenAt`] lists.
    ///
    /// # Cancellation
    ///
    /// See [`OpenAt`]: an open that finished first is never lost, and a descriptor
    /// opened for a dropped token is closed by the ring.
    ///
    /// # References
    ///
    /// `io_uring_prep_openat(3)`, `openat(2)`.
    pub fn open(&self, ring: &Ring, path: impl AsRef<Path>) -> Prepared<OpenAt> {
        let path = path.as_ref();
        match self.flags() {
            Ok(flags) => OpenAt::prepare(ring, path, flags, self.mode),
            Err(reason) => OpenAt::refuse(ring, path, reason),
        }
    }

    /// The `open(2)` flags, or why these options cannot go together (the rules of
    /// `std::fs::OpenOptions`).
    fn flags(&self) -> Result<libc::c_int, &'static str> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => {
                return Err("no access was asked for: set `read`, `write` or `append`")
            }
        };
        match (self.write, self.append) {
            (true, false) => {}
            (false, false) => {
                if self.truncate || self.create || self.create_new {
                    return Err("`truncate`, `create` and `create_new` need `write` or `append`");
                }
            }
            (_, true) => {
                if self.truncate && !self.create_new {
                    return Err("`truncate` cannot go with `append`");
                }
            }
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (false, false, false) => 0,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
        };
        Ok(access | creation | (self.custom_flags & !libc::O_ACCMODE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_options_flags_follow_std_rules() {
        let flags = |o: &OpenOptions| o.flags();
        assert_eq!(flags(OpenOptions::new().read(true)), Ok(libc::O_RDONLY));
        assert_eq!(
            flags(OpenOptions::new().write(true).create(true).truncate(true)),
            Ok(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC)
        );
        assert_eq!(
            flags(OpenOptions::new().append(true).create_new(true)),
            Ok(libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL)
        );
        assert_eq!(
            flags(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_WRONLY | libc::O_NOFOLLOW)
            ),
            Ok(libc::O_RDWR | libc::O_NOFOLLOW),
            "access bits of custom flags are ignored"
        );
        assert!(flags(&OpenOptions::new()).is_err());
        assert!(flags(OpenOptions::new().read(true).create(true)).is_err());
        assert!(flags(OpenOptions::new().append(true).truncate(true)).is_err());
    }
}
