//! In a proof-carrying scope, a debt pushed into a `Vec` that is then dropped.
//! Lesson: outside a scope this compiles, and the drop policy hears of it at run
//! time. Inside one it does not compile: `s.submit(..)` consumed the scope and put
//! it in the debt, the debt went into the vector, and the vector was dropped with
//! it. Only the debt's `complete()` or `cancel()` gives the scope back, and the
//! closure needs it to say `s.paid()`, so rustc reports `s` as a moved value
//! (E0382, "value moved here" at `s.submit`). Generic code that drops what it holds
//! can no longer lose a debt silently: it loses the receipt with it. For many ops at
//! once, `Scope::each` gives each its own sub-scope to pay (lesson 13).
use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let mut debts = Vec::new();
        debts.push(s.submit(Timeout::new(&ring, Duration::from_secs(3600))));
        drop(debts);
        (s.paid(), ())
    }));
}
