//! `n` reads at once in a proof-carrying scope, `n` decided at run time: `each` gives
//! every read a sub-scope of its own, which must be paid before the parent scope
//! comes back. Runs against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use std::io::Write;

use linear_uring::fs::File;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    let n = std::env::args().count() + 3;
    let mut files = Vec::new();
    for i in 0..n {
        let (read, mut write) = std::io::pipe().expect("pipe");
        write.write_all(&[i as u8; 2]).expect("fill");
        files.push(File::from_fd(&ring, read.into()).expect("wrap"));
    }
    let bufs = ring.block_on(ring.scope(async |s| {
        let (s, bufs) = s
            .each(&files, async |sub, file| {
                let ((n, buf), sub) = sub.submit(file.read(Vec::with_capacity(2))).await;
                assert_eq!(n.expect("read"), 2);
                (sub.paid(), buf)
            })
            .await;
        (s.paid(), bufs)
    }));
    assert_eq!(bufs.len(), n);
    assert!(bufs.iter().enumerate().all(|(i, buf)| buf == &[i as u8; 2]));
    assert_eq!(ring.stats().abandoned, 0);
}
