//! Paths as the kernel reads them: owned by the op, NUL-terminated, checked once.

use std::ffi::{CString, OsStr};
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A path an op owns, in the kernel's form (a NUL-terminated string).
///
/// Made when the op is described. Its bytes live on the heap, so they stay at one
/// address while the op moves into the ring's table, and the table keeps them until
/// the op's final completion. A path with a NUL byte inside cannot be given to the
/// kernel (it would read a shorter path): it is kept, refused by
/// [`check`](CPath::check) at submission, and never reaches the kernel.
pub(crate) struct CPath(Result<CString, NulInPath>);

/// A path with a NUL byte inside, for the error message.
struct NulInPath {
    path: Vec<u8>,
    at: usize,
}

impl CPath {
    pub(crate) fn new(path: &Path) -> CPath {
        CPath(
            CString::new(path.as_os_str().as_bytes()).map_err(|err| NulInPath {
                at: err.nul_position(),
                path: err.into_vec(),
            }),
        )
    }

    /// The empty path: with `AT_EMPTY_PATH`, the op acts on its directory
    /// descriptor itself.
    pub(crate) fn empty() -> CPath {
        CPath(Ok(CString::default()))
    }

    /// Refuses a path the kernel would misread, with an error that says why; `what`
    /// names the op and the path's role ("OpenAt", "RenameAt (new path)").
    pub(crate) fn check(&self, what: &str) -> io::Result<()> {
        match &self.0 {
            Ok(_) => Ok(()),
            Err(nul) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{what}: the path {:?} has a NUL byte at index {}, and the kernel would \
                     read only the part before it; nothing was done",
                    Path::new(OsStr::from_bytes(&nul.path)),
                    nul.at
                ),
            )),
        }
    }

    /// The pointer the entry gives the kernel. Only called once
    /// [`check`](CPath::check) has passed; a refused path gives the empty string,
    /// which never reaches the kernel either.
    pub(crate) fn as_ptr(&self) -> *const libc::c_char {
        match &self.0 {
            Ok(path) => path.as_ptr(),
            Err(_) => c"".as_ptr(),
        }
    }
}

impl fmt::Debug for CPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = match &self.0 {
            Ok(path) => path.as_bytes(),
            Err(nul) => &nul.path,
        };
        fmt::Debug::fmt(Path::new(OsStr::from_bytes(bytes)), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpath_plain_path_passes_and_is_nul_terminated() {
        let path = CPath::new(Path::new("/tmp/a b"));
        path.check("OpenAt").unwrap();
        // SAFETY: a checked path points at a NUL-terminated string owned by `path`.
        let read = unsafe { std::ffi::CStr::from_ptr(path.as_ptr()) };
        assert_eq!(read.to_bytes(), b"/tmp/a b");
        assert_eq!(format!("{path:?}"), "\"/tmp/a b\"");
    }

    #[test]
    fn cpath_interior_nul_is_invalid_input_naming_path_and_index() {
        let path = CPath::new(Path::new(OsStr::from_bytes(b"dir/a\0b")));
        let err = path.check("UnlinkAt").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let message = err.to_string();
        assert!(message.starts_with("UnlinkAt: "), "{message}");
        assert!(message.contains("NUL byte at index 5"), "{message}");
        assert!(message.contains("dir/a\\0b"), "{message}");
        // SAFETY: as above: the empty string, NUL-terminated and 'static.
        let read = unsafe { std::ffi::CStr::from_ptr(path.as_ptr()) };
        assert!(read.is_empty());
    }

    #[test]
    fn cpath_empty_passes() {
        CPath::empty().check("Statx").unwrap();
    }
}
