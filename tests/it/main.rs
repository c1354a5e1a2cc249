//! Integration tests against the real kernel, in one binary.

mod core;
mod drop_policy;
mod errors;
mod exec;
mod fds;
mod net_tcp;
mod shutdown;
