//! `Fadvise` and `Madvise`: advice on files and owned buffers, which never changes
//! the bytes, and the input each refuses.

use std::io;
use std::path::PathBuf;

use linear_uring::fs::File;
use linear_uring::op::{FileAdvice, Madvise, MemoryAdvice};
use linear_uring::{DropPolicy, Ring};

use crate::fds::{self, FdCheck};
use crate::probe::unsupported;

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

/// A regular file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn with(test: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("linear-uring-{}-{test}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn fadvise_file_every_advice_succeeds_and_reads_are_unchanged() {
    let fds = FdCheck::start();
    let ring = ring();
    let contents: Vec<u8> = (0..64 * 1024).map(|i| (i % 253) as u8).collect();
    let temp = TempFile::with("fadvise", &contents);
    let file = ring
        .block_on(async { File::open(&ring, &temp.0).await })
        .unwrap();
    ring.block_on(async {
        let advice = [
            FileAdvice::Normal,
            FileAdvice::Sequential,
            FileAdvice::Random,
            FileAdvice::NoReuse,
            FileAdvice::WillNeed,
            FileAdvice::DontNeed,
        ];
        for advice in advice {
            match file.fadvise(0, 0, advice).await {
                Err(err) if unsupported(&err, "fadvise") => return,
                result => result.unwrap_or_else(|err| panic!("{advice:?}: {err}")),
            }
        }
        file.fadvise(4096, 8192, FileAdvice::WillNeed)
            .await
            .unwrap();
        let (n, buf) = file.read_at(Vec::with_capacity(contents.len()), 0).await;
        assert_eq!(n.unwrap(), contents.len());
        assert!(buf == contents, "advice changed what a read returns");
        file.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn fadvise_pipe_fails_with_espipe() {
    let fds = FdCheck::start();
    let ring = ring();
    let (read, write) = fds::pipe();
    let reader = File::from_fd(&ring, read).unwrap();
    ring.block_on(async {
        let err = reader
            .fadvise(0, 0, FileAdvice::Sequential)
            .await
            .unwrap_err();
        if unsupported(&err, "fadvise") {
            return;
        }
        assert_eq!(err.raw_os_error(), Some(libc::ESPIPE), "{err}");
        // The ring goes on.
        ring.nop().await.unwrap();
    });
    drop((reader, write, ring));
    fds.finish();
}

#[test]
fn fadvise_length_over_32_bits_is_invalid_input_at_once() {
    let fds = FdCheck::start();
    let ring = ring();
    let temp = TempFile::with("fadvise-len", b"x");
    let file = ring
        .block_on(async { File::open(&ring, &temp.0).await })
        .unwrap();
    let submitted = ring.stats().submitted;
    ring.block_on(async {
        let err = file
            .fadvise(0, 1 << 32, FileAdvice::WillNeed)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("32-bit"), "{err}");
        let err = file
            .fadvise(u64::MAX, 0, FileAdvice::WillNeed)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    });
    assert_eq!(
        ring.stats().submitted,
        submitted,
        "neither reached the kernel"
    );
    drop((file, ring));
    fds.finish();
}

#[test]
fn madvise_buffer_every_advice_keeps_the_bytes() {
    let ring = ring();
    let mut buf: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let expected = buf.clone();
    let ptr = buf.as_ptr();
    ring.block_on(async {
        let advice = [
            MemoryAdvice::Normal,
            MemoryAdvice::Random,
            MemoryAdvice::Sequential,
            MemoryAdvice::WillNeed,
            MemoryAdvice::Cold,
            MemoryAdvice::PageOut,
            MemoryAdvice::DontDump,
            MemoryAdvice::DoDump,
            MemoryAdvice::NoHugePage,
            // Not `HugePage`: a kernel built without transparent huge pages refuses
            // it with EINVAL.
        ];
        for advice in advice {
            let (result, back) = Madvise::new(&ring, buf, advice).await;
            buf = back;
            match result {
                Err(err) if unsupported(&err, "madvise") => return,
                result => result.unwrap_or_else(|err| panic!("{advice:?}: {err}")),
            }
            assert_eq!(buf.as_ptr(), ptr, "the same buffer comes back");
            assert!(buf == expected, "{advice:?} changed the bytes");
        }
    });
}

#[test]
fn madvise_buffer_with_no_whole_page_is_invalid_input_with_buffer_back() {
    let ring = ring();
    ring.block_on(async {
        let buf = b"small".to_vec();
        let (result, buf) = Madvise::new(&ring, buf, MemoryAdvice::WillNeed).await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("no whole page"), "{err}");
        assert_eq!(buf, b"small");
        // A static byte string is a buffer too, advised in place if it spans a page.
        let (result, _) = Madvise::new(&ring, &b"tiny"[..], MemoryAdvice::Normal).await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    });
    assert_eq!(ring.stats().submitted, 0, "nothing reached the kernel");
}
