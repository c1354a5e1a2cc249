//! Files, the file system, and other descriptors (pipes, character devices), driven
//! through the ring.
//!
//! [`File`] reads and writes any descriptor; [`File::open`], [`File::create`] and
//! [`OpenOptions`] open files through the ring. Each takes the ring first and
//! returns the op's description: `.await` submits it and waits for the result;
//! `.submit()` gives a token to race, time out or cancel. Paths are relative to the
//! current directory.

mod file;
mod open_options;
pub(crate) mod path;

pub use file::*;
pub use open_options::OpenOptions;
