//! Integration tests against the real kernel, in one binary.

mod advise;
mod buf_contract;
mod buf_ring;
#[cfg(any(feature = "futures-io", feature = "tokio"))]
mod compat;
mod compose;
mod core;
mod counted;
mod cp;
mod drop_policy;
mod errors;
mod exec;
mod faults;
mod fds;
mod fs_errors;
mod fs_meta;
mod fs_open;
mod fs_pipe;
mod fs_support;
mod halt;
mod holes;
mod http;
#[cfg(feature = "tokio")]
mod http_hyper;
mod multishot;
mod net_split;
mod net_tcp;
mod net_udp;
mod net_unix;
mod poll;
mod probe;
mod proxy;
mod regressions;
mod runtime;
mod scope;
mod select;
mod send_zc;
mod shutdown;
mod splice;
mod storm;
mod unix_fds;
mod user_panics;
mod vectored;
