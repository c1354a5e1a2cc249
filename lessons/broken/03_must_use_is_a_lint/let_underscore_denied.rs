//! `let _ = ...` on a timer's token, with `let_underscore_drop` denied.
//! Lesson: `let _` binds nothing, so the token is dropped at the end of the
//! statement. rustc's `let_underscore_drop` (allow by default) says so once denied.
//! Both of its suggestions, `let _unused = ...` and `drop(...)`, still drop the token
//! unconsumed, later or openly: the fix is to consume it.
#![deny(let_underscore_drop)]

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let _ = Timeout::new(&ring, Duration::from_secs(3600)).submit();
}
