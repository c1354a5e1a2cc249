//! Two reads at once in the sub-scopes of `split`, each paid with the other's
//! receipt.
//! Lesson: every sub-scope has a brand of its own, an invariant lifetime, and a
//! receipt fits only the brand of the scope that made it: `Paid<'y>` is no
//! `Paid<'x>` ("lifetime may not live long enough", once for each). Each op is paid
//! in the scope that submitted it.
use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (a, _a_peer) = UnixStream::pair(&ring).unwrap();
    let (b, _b_peer) = UnixStream::pair(&ring).unwrap();
    let total = ring.block_on(ring.scope(async |s| {
        let (s, total) = s
            .split(async |x, y| {
                let first = x.submit(a.recv(Vec::with_capacity(16)));
                let second = y.submit(b.recv(Vec::with_capacity(16)));
                let ((_, one), x) = first.await;
                let ((_, two), y) = second.await;
                (y.paid(), x.paid(), one.len() + two.len())
            })
            .await;
        (s.paid(), total)
    }));
    println!("{total} bytes");
}
