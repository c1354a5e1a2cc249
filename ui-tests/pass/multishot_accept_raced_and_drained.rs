//! A multishot accept raced by reference against a timer (handed back armed), a
//! connection taken with `next()`, and the stream cancelled with what arrived
//! handed back; nothing abandoned or in flight afterwards.
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::{race, Raced, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    ring.block_on(async {
        let mut incoming = listener.incoming().submit();
        match race(&mut incoming, ring.sleep(Duration::from_millis(1))).await {
            Raced::Second(_still_armed, fired) => fired.unwrap(),
            Raced::First(..) => panic!("nobody connected yet"),
        }
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let stream = incoming.next().await.unwrap().unwrap();
        stream.close().await.unwrap();
        let drained = incoming.cancel().await;
        assert!(drained.items.is_empty());
        drained.end.unwrap();
    });
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (0, 0));
}
