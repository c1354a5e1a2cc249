//! Integration tests against the real kernel, in one binary.

mod buf_contract;
mod compose;
mod core;
mod counted;
mod drop_policy;
mod errors;
mod exec;
mod faults;
mod fds;
mod fs_pipe;
mod halt;
mod holes;
mod net_split;
mod net_tcp;
mod net_udp;
mod net_unix;
mod poll;
mod proxy;
mod regressions;
mod scope;
mod select;
mod shutdown;
mod splice;
mod storm;
mod user_panics;
mod vectored;
