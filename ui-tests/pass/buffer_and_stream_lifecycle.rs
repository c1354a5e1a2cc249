//! The correct use that `buffer_used_while_in_flight`, `buffer_must_be_owned`,
//! `send_buffer_must_be_static`, `recv_result_must_be_used`,
//! `stream_used_after_close` and `future_holding_token_is_not_send` point to: owned
//! buffers moved in and taken back from the output, the result read, a task holding
//! a token spawned on its own ring, and each stream closed last. Runs against the
//! kernel.
#![deny(unused_must_use, let_underscore_drop)]

use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    let (a, b) = UnixStream::pair(&ring).expect("a socket pair");
    ring.block_on(async {
        // The receive owns its buffer while in flight.
        let recv = a.recv(Vec::with_capacity(64)).submit();

        // A task that holds a token across an await runs on the ring's own executor,
        // which needs no `Send`. A send borrows only `'static` memory, or owns it.
        let sender = ring.spawn(async move {
            let (sent, _) = b.send(b"hello".as_slice()).submit().complete().await;
            sent.expect("the send succeeds");
            let (sent, _) = b
                .send(String::from(", world").into_bytes())
                .submit()
                .complete()
                .await;
            sent.expect("the send succeeds");
            b.close().await.expect("close succeeds");
        });
        sender.await;

        // The buffer comes back with the result, which says how much of it is new.
        let (result, buf) = recv.complete().await;
        let n = result.expect("the receive succeeds");
        assert!(n > 0 && buf.starts_with(b"hello"), "{buf:?}");

        a.close().await.expect("close succeeds");
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 0, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}
