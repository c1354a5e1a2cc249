//! Misuse: `?` on the output of a buffer op, `(io::Result<usize>, B)`.
//!
//! Lesson: a buffer op hands its buffer back even when it fails, so its output is a
//! pair, not a `Result`: destructure it first, `let (n, buf) = ...; let n = n?;`.
//! (E0277 about `Try` is rustc's own message for `?` on a tuple; it cannot name the
//! fix, which is why this case exists.)

use linear_uring::fs::File;

async fn read_some(file: &File) -> std::io::Result<usize> {
    let n = file.read(Vec::with_capacity(64)).submit().complete().await?;
    Ok(n)
}

fn main() {
    let _ = read_some;
}
