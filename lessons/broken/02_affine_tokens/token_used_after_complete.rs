//! A token asked where it was submitted after `complete()` took it.
//! Lesson: once consumed, a token cannot even be looked at (E0382, "borrow of moved
//! value"). Ask it your questions, such as `op.location()`, before you complete it.
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let op = ring.nop();
        let result = op.complete().await;
        println!("{result:?} from the nop submitted at {}", op.location());
    });
}
