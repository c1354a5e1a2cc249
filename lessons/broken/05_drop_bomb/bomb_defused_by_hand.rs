//! A token rebuilt with its "consumed" flag set, to silence the drop policy.
//! Lesson: a token cannot be taken apart. It implements `Drop`, so no field can be
//! moved out of it (E0509), and its fields are private. The only ways to defuse it
//! are the ones that settle the op: `complete().await` or `cancel().await`.
use linear_uring::op::Recv;
use linear_uring::net::UnixStream;
use linear_uring::{Op, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let (ours, _theirs) = UnixStream::pair(&ring).unwrap();
    let recv = ours.recv(Vec::with_capacity(64)).submit();
    let defused: Op<Recv<Vec<u8>>> = Op { live: false, ..recv };
    drop(defused);
}
