//! Misuse: using a stream after `close()`.
//!
//! Lesson: `close()` takes the stream by value (E0382 on the next use), so no op
//! can be described on a descriptor that is gone or, worse, already reused by
//! another open. Finish every op on the stream first, then close it last.

use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (a, _b) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        a.close().await.unwrap();
        let (result, _buf) = a.send(b"too late".as_slice()).submit().complete().await;
        println!("{result:?}");
    });
}
