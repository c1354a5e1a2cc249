//! Choosing among values in flight without losing any: `select` over values of
//! different kinds, `first_k` of many, and `cancel_all`.

use std::io::Write as _;
use std::time::Duration;

use linear_uring::net::{TcpListener, UdpSocket};
use linear_uring::op::{Nop, Timeout};
use linear_uring::{cancel_all, first_k, select, DropPolicy, Raced, Raced3, Raced4, Ring};

use crate::fds::FdCheck;

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

#[test]
fn select_three_kinds_timer_wins_and_both_losers_deliver_later() {
    let fds = FdCheck::start();
    let ring = ring();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let socket = UdpSocket::bind(&ring, "127.0.0.1:0").unwrap();
    let (listen_addr, udp_addr) = (listener.local_addr().unwrap(), socket.local_addr().unwrap());
    ring.block_on(async {
        let accept = listener.accept().submit();
        let recv = socket.recv_from(Vec::with_capacity(64)).submit();
        let tick = ring.sleep(Duration::from_millis(5));
        let Raced3::Third(accept, recv, fired) = select((accept, recv, tick)).await else {
            panic!("nothing was sent or connected, yet the timer lost");
        };
        fired.unwrap();
        // The losers are still in flight: what arrives now is theirs.
        let client = std::net::TcpStream::connect(listen_addr).unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"datagram", udp_addr).unwrap();
        let (stream, peer) = accept.complete().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let (result, buf) = recv.complete().await;
        let (n, from) = result.unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"datagram"[..], sender.local_addr().unwrap())
        );
        stream.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((listener, socket, ring));
    fds.finish();
}

#[test]
fn select_earliest_ready_value_wins_and_the_others_stay_owed() {
    let ring = ring();
    ring.block_on(async {
        let long = Timeout::new(&ring, Duration::from_secs(10)).submit();
        let nop = Nop::new(&ring).submit();
        match select((long, nop)).await {
            Raced::Second(long, done) => {
                done.unwrap();
                assert!(long.cancel().await.is_cancelled());
            }
            Raced::First(..) => panic!("a 10 s timer beat a nop"),
        }
        // Four values: the only short timer wins, wherever it stands.
        let values = (
            Timeout::new(&ring, Duration::from_secs(10)).submit(),
            ring.sleep(Duration::from_secs(10)),
            Timeout::new(&ring, Duration::from_secs(10)).submit(),
            Timeout::new(&ring, Duration::from_millis(2)).submit(),
        );
        let Raced4::Fourth(a, b, c, fired) = select(values).await else {
            panic!("a 10 s timer beat a 2 ms one");
        };
        fired.unwrap();
        assert!(a.cancel().await.is_cancelled());
        assert!(b.cancel().await.is_cancelled());
        assert!(c.cancel().await.is_cancelled());
    });
    assert_eq!(ring.stats().in_flight, 0);
}

#[test]
fn first_k_of_100_keeps_every_finisher_and_cancel_all_settles_the_rest() {
    let ring = ring();
    let (kept, cancelled, fired) = ring.block_on(async {
        // Ten fire at once, ninety only after a minute.
        let ops: Vec<_> = (0..100)
            .map(|i| {
                let delay = if i % 10 == 3 {
                    Duration::from_millis(1)
                } else {
                    Duration::from_secs(60)
                };
                Timeout::new(&ring, delay).submit()
            })
            .collect();
        let finished = first_k(ops, 10).await;
        let mut done: Vec<usize> = finished.done.iter().map(|(i, _)| *i).collect();
        done.sort_unstable();
        assert_eq!(done, (0..10).map(|i| i * 10 + 3).collect::<Vec<_>>());
        assert!(finished.done.iter().all(|(_, result)| result.is_ok()));
        let indices: Vec<usize> = finished.rest.iter().map(|(i, _)| *i).collect();
        assert!(
            indices.windows(2).all(|w| w[0] < w[1]),
            "rest keeps its order"
        );
        assert_eq!(indices.len(), 90);
        let rest: Vec<_> = finished.rest.into_iter().map(|(_, op)| op).collect();
        let outcomes = cancel_all(rest).await;
        let cancelled = outcomes.iter().filter(|o| o.is_cancelled()).count();
        let fired = outcomes.iter().filter(|o| o.is_completed()).count();
        (done.len(), cancelled, fired)
    });
    assert_eq!((kept, cancelled, fired), (10, 90, 0));
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.abandoned, 0);
}

#[test]
fn cancel_all_reports_values_that_finished_first_as_completed() {
    let fds = FdCheck::start();
    let ring = ring();
    let (read, write) = crate::fds::pipe();
    let file = linear_uring::fs::File::from_fd(&ring, read).unwrap();
    let mut writer = std::fs::File::from(write);
    ring.block_on(async {
        let reads = vec![
            file.read(Vec::with_capacity(4)).submit(),
            file.read(Vec::with_capacity(4)).submit(),
        ];
        // One read gets these bytes before the cancels reach the kernel.
        writer.write_all(b"data").unwrap();
        ring.sleep(Duration::from_millis(10)).await.unwrap();
        let outcomes = cancel_all(reads).await;
        let got: Vec<Vec<u8>> = outcomes
            .into_iter()
            .filter_map(|outcome| outcome.completed())
            .map(|(n, buf)| buf[..n.unwrap()].to_vec())
            .collect();
        assert_eq!(got, [b"data".to_vec()], "the bytes are reported, not lost");
        assert!(cancel_all(Vec::<linear_uring::Sleep>::new())
            .await
            .is_empty());
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((file, writer, ring));
    fds.finish();
}
