//! The correct use where `race(s.send_all(data), ring.sleep(d))` used to be seven
//! errors: composite ops (`send_all`, `recv_exact`, `write_all`, `read_exact`, `copy`)
//! are `Linear` values, so they race, take a deadline and cancel like a token, and a
//! cancel reports the progress made. Runs against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use std::time::Duration;

use linear_uring::net::UnixStream;
use linear_uring::{deadline, race, Raced, Ring};

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    let (a, b) = UnixStream::pair(&ring).expect("a socket pair");
    ring.block_on(async {
        // Raced against a timer: nobody reads `b`, so 16 MiB cannot all go out.
        let transfer = a.send_all(vec![1u8; 16 << 20]);
        match race(transfer, ring.sleep(Duration::from_millis(10))).await {
            Raced::First(..) => panic!("16 MiB went into a socket nobody reads"),
            Raced::Second(transfer, tick) => {
                tick.expect("the timer fires");
                let progress = transfer.cancel().await.cancelled().expect("not all sent");
                assert!(progress.done < progress.buf.len());
                // What was sent is what `b` can receive: exactly `progress.done` bytes.
                let (got, buf) = b.recv_exact(Vec::with_capacity(progress.done), progress.done).await;
                got.expect("the bytes sent before the cancel");
                assert_eq!(buf.len(), progress.done);
            }
        }
        // With a deadline that is met, the output comes back as usual.
        let (sent, _) = deadline(a.send_all(b"ping"), ring.sleep(Duration::from_secs(5)))
            .await
            .expect("4 bytes go out at once");
        sent.expect("sent");
        let (got, buf) = b.recv_exact(Vec::with_capacity(4), 4).await;
        got.expect("received");
        assert_eq!(buf, b"ping");
    });
    assert_eq!(ring.stats().abandoned, 0);
    assert_eq!(ring.stats().in_flight, 0);
}
