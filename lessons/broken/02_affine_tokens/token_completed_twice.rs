//! A nop's token completed twice, hoping for a second output.
//! Lesson: `complete(self)` moves the token into the call. After the first
//! `complete()` the name `op` holds nothing, so there is no second output to ask for
//! (E0382): an op has one completion.
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let op = ring.nop();
        let once = op.complete().await;
        let twice = op.complete().await;
        println!("{once:?} {twice:?}");
    });
}
