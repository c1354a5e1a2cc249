//! A one-hour timer submitted as a statement, its token ignored, with
//! `unused_must_use` denied.
//! Lesson: denied, the lint is an error. But read rustc's help: it offers
//! `let _ = ...` "to ignore the resulting value", and that silences the lint while
//! the token is dropped on the spot. The suggestion is exactly the hole.
#![deny(unused_must_use)]

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    Timeout::new(&ring, Duration::from_secs(3600)).submit();
}
