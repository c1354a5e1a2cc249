//! The capstone's accept loop in a proof-carrying scope: each round races the
//! accept against a 1 ms timer, and when the timer wins, the loop `break`s to do its
//! side work, leaving the accept behind, still in flight.
//! Lesson: in a scope, the accept is a debt that holds the scope. Left behind, it
//! takes the scope with it, and after the loop there is none to pay with (E0382 at
//! `s.paid()`): the lost connection is a compile error, not a count in a log. Keep
//! the debt instead, `accept = owed;`, and race it again in the next round.
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::{race, Raced, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let served = ring.block_on(ring.scope(async |s| {
        let mut accept = s.submit(listener.accept());
        let mut served = 0;
        loop {
            match race(accept, ring.sleep(Duration::from_millis(1))).await {
                Raced::First((connection, s), _timer) => {
                    served += usize::from(connection.is_ok());
                    accept = s.submit(listener.accept());
                }
                // The deadline passed: off to the side work, the accept left behind.
                Raced::Second(_owed, _fired) => break,
            }
        }
        (s.paid(), served)
    }));
    println!("served: {served}");
}
