//! An accept submitted in a scope, forgotten with `mem::forget` when the timer wins
//! the race.
//! Lesson: outside a scope, `mem::forget` of a token is the hole nothing sees: no
//! destructor runs, so no drop policy either. In a scope it is a compile error for
//! the same reason as a drop: the scope went into the debt, and the forgotten debt
//! keeps it (E0382: use of moved value `s`).
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
                std::mem::forget(owed);
                (s.paid(), false)
            }
        }
    }));
    println!("served: {served}");
}
