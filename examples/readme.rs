//! The snippet in README.md, kept here so that it is compiled and runs.
//!
//! Run it with `cargo run --example readme`.

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{CancelOutcome, Ring};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = Ring::new()?;
    ring.block_on(async {
        // `submit` puts the timer in the kernel and returns a token that must be
        // consumed: by `complete().await`, or by `cancel().await` as here.
        let timer = Timeout::new(&ring, Duration::from_secs(60)).submit();
        match timer.cancel().await {
            CancelOutcome::Cancelled(()) => println!("removed before it fired"),
            CancelOutcome::Completed(result) => println!("fired first: {result:?}"),
        }
    });
    Ok(())
}
