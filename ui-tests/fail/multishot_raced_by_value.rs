//! Misuse: racing a multishot stream by value against a timer.
//!
//! Lesson: a race consumes its winner, and a stream must outlive each item it
//! yields, so the stream races by reference: `race(&mut incoming, ring.sleep(d))`
//! resolves to the next connection or hands the borrow back, the stream still
//! armed (E0277: `Multishot` is not `Linear`; `&mut Multishot` is).
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::{race, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    ring.block_on(async {
        let incoming = listener.incoming().submit();
        let _raced = race(incoming, ring.sleep(Duration::from_millis(1))).await;
    });
}
