//! linear-uring inside a tokio program: one future awaits a tokio TCP client and a
//! linear-uring server's ops, on one thread, with `compat::drive`; then the same
//! server's stream is read through tokio's `AsyncRead` with `compat::Compat`.
//!
//! Run it with `cargo run --features tokio --example tokio`.

use std::error::Error;

use linear_uring::compat::{drive, Compat};
use linear_uring::net::TcpListener;
use linear_uring::Ring;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() -> Result<(), Box<dyn Error>> {
    // A ring tokio can drive: the kernel's completion work is not deferred.
    let ring = Ring::builder().fast_taskrun(false).build()?;
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reply = runtime.block_on(drive(&ring, async {
        // tokio's client and the ring's accept, in flight together.
        let accept = listener.accept().submit();
        let mut client = tokio::net::TcpStream::connect(addr).await?;
        let (server, _peer) = accept.await?;
        client.write_all(b"ping").await?;
        // The ring's stream through tokio's traits.
        let mut server = Compat::new(server);
        let mut request = [0u8; 4];
        server.read_exact(&mut request).await?;
        server.write_all(b"pong").await?;
        server.flush().await?;
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    }))?;
    println!("tokio client got {:?}", String::from_utf8_lossy(&reply));
    assert_eq!(&reply, b"pong");
    Ok(())
}
