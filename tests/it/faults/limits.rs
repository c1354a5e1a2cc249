//! Descriptor exhaustion, in a child process with a lowered `RLIMIT_NOFILE`.

use std::io::{self, Read};
use std::process::Command;

use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{DropPolicy, ErrorKind, Ring};

use super::ring;
use crate::fds::FdCheck;

const LIMIT_CHILD: &str = "LINEAR_URING_TEST_FD_LIMIT_CHILD";

/// Lowers the soft descriptor limit a little above what is open, then opens
/// `/dev/null` until none is left. Returns the spare descriptors: dropping one frees
/// a slot.
fn exhaust_descriptors() -> Vec<std::fs::File> {
    let highest = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap();
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes into a live rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    limit.rlim_cur = highest + 8;
    // SAFETY: setrlimit(2) reads a live rlimit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
    let mut spares = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => spares.push(file),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break spares,
            Err(e) => panic!("open /dev/null: {e}"),
        }
    }
}

/// Run by the descriptor-limit tests in a child process, so that the lowered limit
/// does not starve the other tests.
#[test]
#[ignore = "run in a child process by the descriptor-limit tests"]
fn descriptor_limit_child() {
    let Ok(mode) = std::env::var(LIMIT_CHILD) else {
        return;
    };
    let ring = ring(DropPolicy::Panic);
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut clients: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let mut spares = exhaust_descriptors();
    match mode.as_str() {
        "setup" => {
            let err = Ring::new().expect_err("a ring needs descriptors");
            assert_eq!(err.kind(), ErrorKind::Setup);
            assert_eq!(
                err.os_error().and_then(io::Error::raw_os_error),
                Some(libc::EMFILE)
            );
            println!("setup error: {err}");
            // The ring made before still works.
            ring.block_on(async { ring.nop().complete().await })
                .unwrap();
        }
        "accept" => {
            let err = TcpStream::connect(&ring, addr).expect_err("a socket needs a descriptor");
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
            let served = ring.block_on(async {
                let err = listener
                    .accept()
                    .submit()
                    .complete()
                    .await
                    .map(drop)
                    .expect_err("an accept needs a descriptor");
                assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
                println!("accept error: {err}");
                // One descriptor frees up: the server serves every client, one at a
                // time, each closed before the next is accepted.
                drop(spares.pop());
                let mut served = Vec::new();
                for _ in 0..clients.len() {
                    let (stream, peer) = listener.accept().submit().complete().await.unwrap();
                    let (sent, _) = stream.send_all(&b"served"[..]).await;
                    sent.unwrap();
                    stream.close().await.unwrap();
                    served.push(peer);
                }
                served
            });
            for client in &mut clients {
                let mut reply = Vec::new();
                client.read_to_end(&mut reply).unwrap();
                assert_eq!(reply, b"served");
                assert!(served.contains(&client.local_addr().unwrap()));
            }
            println!("served {}", served.len());
        }
        other => panic!("unknown mode {other}"),
    }
    assert_eq!(ring.stats().in_flight, 0);
    println!("child ok");
}

fn run_limit_child(mode: &str) -> String {
    // The child's output comes through pipes: hold the descriptor check so that
    // they do not show up in another test's count.
    let fds = FdCheck::start();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "faults::limits::descriptor_limit_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LIMIT_CHILD, mode)
        .output()
        .unwrap();
    fds.finish();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.contains("child ok"),
        "child failed: {output:?}"
    );
    stdout
}

#[test]
fn accept_at_descriptor_limit_fails_emfile_then_keeps_serving() {
    let stdout = run_limit_child("accept");
    assert!(
        stdout.contains("accept error: Too many open files"),
        "{stdout}"
    );
    assert!(stdout.contains("served 3"), "{stdout}");
}

#[test]
fn setup_at_descriptor_limit_is_clear_setup_error() {
    let stdout = run_limit_child("setup");
    assert!(
        stdout.contains("io_uring_setup failed") && stdout.contains("RLIMIT_NOFILE"),
        "{stdout}"
    );
}
