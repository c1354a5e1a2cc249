//! What `.await` does where a newcomer tries it: on a token it is `complete()`, on a
//! description it is `submit()` then `complete()`. Either way the op is consumed, and
//! a future dropped before it resolves goes through the drop policy like any
//! `Complete`. Runs against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use std::time::Duration;

use linear_uring::op::{Nop, Timeout};
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    ring.block_on(async {
        // A token awaited: the same as `.complete().await`.
        let op = ring.nop();
        op.await.expect("a nop succeeds");
        // A description awaited: submitted where it is awaited, then completed.
        Nop::new(&ring).await.expect("a nop succeeds");
        Timeout::new(&ring, Duration::from_millis(1))
            .await
            .expect("the timer fires");
    });
    let stats = ring.stats();
    assert_eq!((stats.submitted, stats.completed), (3, 3), "{stats:?}");
    assert_eq!(stats.abandoned, 0, "{stats:?}");
}
