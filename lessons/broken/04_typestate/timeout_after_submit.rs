//! A linked timeout set on an accept after it was submitted.
//! Lesson: the kernel reads a linked timeout together with the op's submission
//! entry. Once `submit()` has pushed the entry, the op is an `Op`, and an `Op` takes
//! no options: the library's own message says it is too late (E0277). Set the
//! timeout on the description: `listener.accept().timeout(d).submit()`.
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    ring.block_on(async {
        let accept = listener.accept().submit();
        let accepted = accept.timeout(Duration::from_millis(20)).complete().await;
        println!("{:?}", accepted.map(|(_, peer)| peer));
    });
}
