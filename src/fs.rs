//! Files, the file system, and other descriptors (pipes, character devices), driven
//! through the ring.
//!
//! [`File`] reads and writes any descriptor; [`File::open`], [`File::create`] and
//! [`OpenOptions`] open files through the ring, and the free functions
//! ([`remove_file`], [`rename`], [`create_dir`], [`metadata`]...) are its
//! `std::fs` counterparts. Each takes the ring first and returns the op's
//! description: `.await` submits it and waits for the result; `.submit()` gives a
//! token to race, time out or cancel. Paths are relative to the current directory.

mod file;
mod functions;
mod metadata;
mod open_options;
pub(crate) mod path;
mod pipe;

pub use file::*;
pub use functions::*;
pub use metadata::{FileType, Metadata};
pub use open_options::OpenOptions;
pub use pipe::pipe;
