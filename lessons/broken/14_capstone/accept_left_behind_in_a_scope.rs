//! The capstone's loop in a proof-carrying scope, leaving when the timer wins and
//! throwing the accept away.
//! Lesson: in a scope, the accept is a debt that holds the scope; dropping it
//! leaves no scope to pay with, so the closure cannot return `Paid`: the lost
//! connection is a compile error, not a count in a log.
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::{race, Raced, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    ring.block_on(async {
        ring.scope(async |s| {
            let accept = s.submit(listener.accept());
            match race(accept, ring.sleep(Duration::from_millis(1))).await {
                Raced::First((connection, s), _timer) => (s.paid(), connection.is_ok()),
                Raced::Second(accept, _fired) => {
                    drop(accept);
                    (s.paid(), false)
                }
            }
        })
        .await
    });
}
