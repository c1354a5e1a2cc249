//! Misuse: giving a future that holds a token across an `.await` to a spawner that
//! requires `Send` (a multi-threaded runtime's `spawn`).
//!
//! Lesson: a token belongs to its ring's thread, so a future that keeps one alive
//! across an `.await` is `!Send` too ("future cannot be sent between threads
//! safely", with a note pointing at the captured `Op<Timeout>`). Spawn it on the
//! ring that submitted the op (`ring.spawn`, which does not need `Send`), and send
//! only outputs across threads.

use std::future::Future;
use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

/// Stands in for a work-stealing runtime's `spawn`.
fn spawn_send<F: Future + Send + 'static>(future: F) {
    drop(future);
}

fn main() {
    let ring = Ring::new().unwrap();
    let timer = Timeout::new(&ring, Duration::from_millis(1)).submit();
    spawn_send(async move {
        let fired = timer.complete().await;
        println!("{fired:?}");
    });
}
