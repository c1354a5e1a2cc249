//! Misuse: sending an array by value, `id.to_be_bytes()`.
//!
//! Lesson: the kernel reads the buffer at its address until the op completes, and
//! the op moves into the ring after it is built, so a buffer's bytes must stay put
//! when it moves: a `Vec`'s heap bytes do, an array's bytes move with it (E0277:
//! `[u8; 8]` is not `IoBuf`). Copy the bytes into a `Vec` with `.to_vec()`; a byte
//! string literal (`b"..."`) is already a buffer.

use linear_uring::net::UdpSocket;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let socket = UdpSocket::bind(&ring, "127.0.0.1:0").unwrap();
    let to = socket.local_addr().unwrap();
    let id: u64 = 42;
    ring.block_on(async {
        let (sent, _) = socket.send_to(id.to_be_bytes(), to).submit().complete().await;
        println!("{sent:?}");
    });
}
