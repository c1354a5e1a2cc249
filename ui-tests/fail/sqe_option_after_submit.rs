//! Misuse: linking a timeout to an op after it was submitted.
//!
//! Lesson: submission options (a linked timeout) belong to the description: the
//! kernel reads them with the submission entry, so once `submit()` has pushed it
//! there is nothing left to change. `timeout` works only on `Prepared`; on an
//! `Op` the compiler says it is too late. Set options before `.submit()`:
//! `listener.accept().timeout(d).submit()`.

use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    ring.block_on(async {
        let accept = listener.accept().submit();
        let accepted = accept.timeout(Duration::from_millis(5)).complete().await;
        println!("{accepted:?}");
    });
}
