//! Files and other descriptors (pipes, character devices) driven through the ring.

mod file;

pub use file::*;
