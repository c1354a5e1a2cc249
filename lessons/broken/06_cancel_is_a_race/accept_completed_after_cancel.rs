//! An accept whose cancel came too late, completed afterwards to get the connection.
//! Lesson: `cancel()` consumed the token whichever way the race went (E0382). When
//! the accept won, its connection is not back in the token: it is in the outcome,
//! `Completed(Ok((stream, addr)))`, which this program threw away with `_`.
use linear_uring::net::TcpListener;
use linear_uring::{CancelOutcome, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    ring.block_on(async {
        let accept = listener.accept().submit();
        match accept.cancel().await {
            CancelOutcome::Cancelled(()) => println!("nobody connected"),
            CancelOutcome::Completed(_) => {
                let accepted = accept.complete().await;
                println!("too late to cancel: {:?}", accepted.map(|(_, peer)| peer));
            }
        }
    });
}
