//! `Metadata` and `FileType`: what `statx(2)` says about a file.

use std::fmt;
use std::fs::Permissions;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

/// Metadata about a file: its size, type, permissions, owner and times, as the
/// kernel's `statx(2)` reported them.
///
/// Made by [`File::metadata`](crate::fs::File::metadata),
/// [`fs::metadata`](crate::fs::metadata) and
/// [`fs::symlink_metadata`](crate::fs::symlink_metadata). The methods mirror
/// [`std::fs::Metadata`] and its Unix extension (`MetadataExt`).
#[derive(Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The `STATX_*` bits the file system filled in.
    mask: u32,
    mode: u32,
    len: u64,
    nlink: u64,
    uid: u32,
    gid: u32,
    ino: u64,
    dev: u64,
    rdev: u64,
    blksize: u64,
    blocks: u64,
    accessed: Timestamp,
    modified: Timestamp,
    changed: Timestamp,
    created: Timestamp,
}

/// A `statx` timestamp: seconds since the Unix epoch (negative before it) and
/// nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Timestamp {
    sec: i64,
    nsec: u32,
}

impl Timestamp {
    fn from_statx(ts: libc::statx_timestamp) -> Timestamp {
        Timestamp {
            sec: ts.tv_sec,
            nsec: ts.tv_nsec,
        }
    }

    fn to_system_time(self) -> Option<SystemTime> {
        let nanos = Duration::from_nanos(u64::from(self.nsec));
        let base = if self.sec >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(self.sec as u64))?
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(self.sec.unsigned_abs()))?
        };
        base.checked_add(nanos)
    }
}

impl Metadata {
    pub(crate) fn from_statx(stx: &libc::statx) -> Metadata {
        Metadata {
            mask: stx.stx_mask,
            mode: u32::from(stx.stx_mode),
            len: stx.stx_size,
            nlink: u64::from(stx.stx_nlink),
            uid: stx.stx_uid,
            gid: stx.stx_gid,
            ino: stx.stx_ino,
            dev: libc::makedev(stx.stx_dev_major, stx.stx_dev_minor),
            rdev: libc::makedev(stx.stx_rdev_major, stx.stx_rdev_minor),
            blksize: u64::from(stx.stx_blksize),
            blocks: stx.stx_blocks,
            accessed: Timestamp::from_statx(stx.stx_atime),
            modified: Timestamp::from_statx(stx.stx_mtime),
            changed: Timestamp::from_statx(stx.stx_ctime),
            created: Timestamp::from_statx(stx.stx_btime),
        }
    }

    /// The file's type.
    pub fn file_type(&self) -> FileType {
        FileType(self.mode & libc::S_IFMT)
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type().is_file()
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type().is_dir()
    }

    /// Whether this is a symbolic link (only from
    /// [`fs::symlink_metadata`](crate::fs::symlink_metadata): the others follow links).
    pub fn is_symlink(&self) -> bool {
        self.file_type().is_symlink()
    }

    /// The size in bytes (of a regular file; for a symbolic link, the length of its
    /// target path).
    #[allow(clippy::len_without_is_empty)] // as `std::fs::Metadata::len`
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The permission bits, as [`std::fs::Permissions`] (`mode()` through
    /// `PermissionsExt`, `readonly()`).
    pub fn permissions(&self) -> Permissions {
        Permissions::from_mode(self.mode & 0o7777)
    }

    /// The whole `st_mode`: the file type bits (`S_IFMT`) and the permission bits.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// The last modification time.
    ///
    /// # Errors
    ///
    /// `Unsupported` if the file system does not record it.
    pub fn modified(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_MTIME, self.modified, "modification")
    }

    /// The last access time.
    ///
    /// # Errors
    ///
    /// `Unsupported` if the file system does not record it.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_ATIME, self.accessed, "access")
    }

    /// The creation ("birth") time.
    ///
    /// # Errors
    ///
    /// `Unsupported` if the file system does not record it (many do not).
    pub fn created(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_BTIME, self.created, "creation")
    }

    /// The last status change time (`ctime`: metadata or content changed).
    ///
    /// # Errors
    ///
    /// `Unsupported` if the file system does not record it.
    pub fn status_changed(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_CTIME, self.changed, "status change")
    }

    /// The number of hard links (names) to the file.
    pub fn nlink(&self) -> u64 {
        self.nlink
    }

    /// The owner's user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The owner's group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The device holding the file.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// The device a character or block device file stands for.
    pub fn rdev(&self) -> u64 {
        self.rdev
    }

    /// The preferred block size for I/O on the file.
    pub fn blksize(&self) -> u64 {
        self.blksize
    }

    /// The space allocated to the file, in 512-byte blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    fn time(&self, bit: u32, ts: Timestamp, what: &str) -> io::Result<SystemTime> {
        if self.mask & bit == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the file system did not report the file's {what} time"),
            ));
        }
        ts.to_system_time().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the file's {what} time ({} s since the epoch) is out of SystemTime's range",
                    ts.sec
                ),
            )
        })
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("file_type", &self.file_type())
            .field("len", &self.len)
            .field("mode", &format_args!("{:#o}", self.mode & 0o7777))
            .field("modified", &self.modified().ok())
            .field("ino", &self.ino)
            .finish_non_exhaustive()
    }
}

/// The type of a file: regular file, directory, symbolic link, or a special file.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileType(u32);

impl FileType {
    /// A regular file.
    pub fn is_file(self) -> bool {
        self.0 == libc::S_IFREG
    }

    /// A directory.
    pub fn is_dir(self) -> bool {
        self.0 == libc::S_IFDIR
    }

    /// A symbolic link.
    pub fn is_symlink(self) -> bool {
        self.0 == libc::S_IFLNK
    }

    /// A FIFO (named pipe).
    pub fn is_fifo(self) -> bool {
        self.0 == libc::S_IFIFO
    }

    /// A Unix domain socket.
    pub fn is_socket(self) -> bool {
        self.0 == libc::S_IFSOCK
    }

    /// A block device.
    pub fn is_block_device(self) -> bool {
        self.0 == libc::S_IFBLK
    }

    /// A character device.
    pub fn is_char_device(self) -> bool {
        self.0 == libc::S_IFCHR
    }
}

impl fmt::Debug for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            libc::S_IFREG => "file",
            libc::S_IFDIR => "directory",
            libc::S_IFLNK => "symlink",
            libc::S_IFIFO => "fifo",
            libc::S_IFSOCK => "socket",
            libc::S_IFBLK => "block device",
            libc::S_IFCHR => "char device",
            _ => return write!(f, "FileType({:#o})", self.0),
        };
        write!(f, "FileType({name})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_before_epoch_converts_with_nanoseconds() {
        let ts = Timestamp {
            sec: -2,
            nsec: 500_000_000,
        };
        let time = ts.to_system_time().unwrap();
        let before = SystemTime::UNIX_EPOCH.duration_since(time).unwrap();
        assert_eq!(before, Duration::from_millis(1500));
    }

    #[test]
    fn metadata_time_missing_from_mask_is_unsupported() {
        // SAFETY: `statx` is plain integers; all zeroes is a valid value.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        stx.stx_mask = libc::STATX_MTIME;
        stx.stx_mtime.tv_sec = 60;
        stx.stx_mode = (libc::S_IFREG | 0o640) as u16;
        let meta = Metadata::from_statx(&stx);
        assert_eq!(
            meta.modified().unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(60)
        );
        let err = meta.created().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("creation time"), "{err}");
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode(), 0o640);
        assert_eq!(meta.mode(), libc::S_IFREG | 0o640);
    }
}
