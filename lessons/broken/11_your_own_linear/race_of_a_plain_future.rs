//! A receive's `complete()` future raced against a timer, instead of the token.
//! Lesson: `race` hands the loser back still in flight, so it takes only values that
//! can say how they stop: tokens, `Sleep`, and types implementing `Linear`. A plain
//! future can only be polled or dropped. Race the token, `race(op, ring.sleep(d))`;
//! for a composite op, implement `Linear` on it. (The second error, at `.await`,
//! repeats the first; its "remove the `.await`" is no fix.)
use std::time::Duration;

use linear_uring::net::UnixStream;
use linear_uring::{race, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let (mine, _peer) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let reply = mine.recv(Vec::with_capacity(64)).submit();
        let _raced = race(reply.complete(), ring.sleep(Duration::from_millis(20))).await;
    });
}
