//! An accept submitted in a scope, dropped when the timer wins the race, and the
//! scope paid anyway.
//! Lesson: `s.submit(..)` moved the scope into the debt, and only the debt's
//! `complete()` or `cancel()` gives it back. Dropped, the debt takes the scope with
//! it, and `s.paid()` has nothing to make the receipt from (E0382: use of moved
//! value `s`). Outside a scope the same drop compiles and is caught only at run
//! time. Cancel it: `let (outcome, s) = owed.cancel().await;`.
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::{race, Raced, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let served = ring.block_on(ring.scope(async |s| {
        let accept = s.submit(listener.accept());
        match race(accept, ring.sleep(Duration::from_millis(1))).await {
            Raced::First((accepted, s), _timer) => (s.paid(), accepted.is_ok()),
            Raced::Second(owed, _fired) => {
                drop(owed);
                (s.paid(), false)
            }
        }
    }));
    println!("served: {served}");
}
