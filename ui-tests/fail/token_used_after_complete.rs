//! Misuse: using a token after `complete()` consumed it.
//!
//! Lesson: `complete()` takes `self`; after it the token is gone (E0382), so a
//! result can never be claimed twice nor an op touched after it finished. Ask
//! questions of the token (`location()`) before you consume it.

use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let op = ring.nop();
        let result = op.complete().await;
        println!("{result:?}, submitted at {}", op.location());
    });
}
