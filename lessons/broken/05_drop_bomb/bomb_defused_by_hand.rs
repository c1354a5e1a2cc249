//! A token's "still live" flag cleared by hand, to silence the drop policy.
//! Lesson: a token cannot be defused from outside. Its fields are private (E0616),
//! so no code but the library's can mark it consumed; and the library marks it so
//! only when the op is settled: by `complete().await` or `cancel().await`.
use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (ours, _theirs) = UnixStream::pair(&ring).unwrap();
    let mut recv = ours.recv(Vec::with_capacity(64)).submit();
    recv.live = false;
    drop(recv);
}
