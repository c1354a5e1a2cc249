//! One description submitted twice, to get two nops.
//! Lesson: `submit(self)` consumes the description as it turns it into a token
//! (E0382): one description, one op in the kernel. Describe the op twice to submit
//! it twice.
use linear_uring::op::Nop;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let description = Nop::new(&ring);
        let first = description.submit();
        let second = description.submit();
        println!("{:?} {:?}", first.complete().await, second.complete().await);
    });
}
