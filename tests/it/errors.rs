//! Clear errors for bad setup.

use linear_uring::{ErrorKind, Ring};

#[test]
fn setup_absurd_entries_is_a_clear_setup_error() {
    let err = Ring::builder().entries(1 << 20).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Setup);
    let msg = err.to_string();
    assert!(msg.starts_with("io_uring_setup failed"), "{msg}");
    assert!(msg.contains("entries"), "{msg}");
    assert_eq!(
        err.os_error().and_then(std::io::Error::raw_os_error),
        Some(libc::EINVAL)
    );
}

#[test]
fn setup_zero_entries_is_a_clear_setup_error() {
    let err = Ring::builder().entries(0).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Setup);
}

#[test]
fn setup_without_fast_taskrun_works() {
    let ring = Ring::builder().fast_taskrun(false).build().unwrap();
    ring.block_on(async { ring.nop().complete().await })
        .unwrap();
}

#[test]
fn setup_sqpoll_ring_runs_ops() {
    let ring = Ring::builder()
        .sqpoll(Some(std::time::Duration::from_millis(10)))
        .build()
        .unwrap();
    ring.block_on(async {
        for _ in 0..100 {
            ring.nop().complete().await.unwrap();
        }
    });
    assert_eq!(ring.stats().completed, 100);
}
