//! Typestate: description, token, output.

use std::io;
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::op::Timeout;
use linear_uring::Ring;

use crate::story::{quote, step};

pub(crate) fn run() -> io::Result<()> {
    println!(
        "An operation goes through three states, and each state is a type of its own:\n\
         \n\
         \x20 Prepared<K>   a description: nothing in the kernel yet, options can be set\n\
         \x20 Op<K>         a token: the kernel is working on it\n\
         \x20 K::Output     the result, once the op is done\n\
         \n\
         Each transition is a method that takes `self` and returns the next type:\n\
         `submit(self) -> Op<K>`, then `complete(self)` (or `cancel(self)`). A method\n\
         that makes no sense in a state is not callable in that state (one is defined\n\
         only to explain the error). This is called typestate: the state lives in the\n\
         type, so the compiler checks the order of the steps against it."
    );
    let ring = Ring::new()?;
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;

    step("a description costs nothing: build one, drop it");
    let before = ring.stats().submitted;
    let description = Timeout::new(&ring, Duration::from_secs(3600));
    println!(
        "`Timeout::new(&ring, one hour)` is a {}:",
        type_of(&description)
    );
    quote(&format!("{description:?}"));
    drop(description);
    let stats = ring.stats();
    println!(
        "built and dropped: submitted: {before} before, {} after; abandoned: {}, in flight: {}.\n\
         The kernel never heard of it, so dropping it lost nothing, and the drop policy\n\
         (which panics in debug builds) had nothing to say.",
        stats.submitted, stats.abandoned, stats.in_flight
    );

    ring.block_on(async {
        step("options belong to the description: a linked timeout on an accept");
        let described = listener.accept().timeout(Duration::from_millis(20));
        println!(
            "`listener.accept().timeout(20 ms)` is still a {}:\n\
             `timeout(self, d)` took the description and returned it with the option set.",
            type_of(&described)
        );
        let accept = described.submit();
        println!(
            "`.submit()` took the description and returned an {},\n\
             submitted at {}.",
            type_of(&accept),
            accept.location()
        );
        match accept.complete().await {
            Ok((_stream, peer)) => println!("unexpected: a connection from {peer}"),
            Err(err) => {
                println!(
                    "Nobody connects to {}, so the kernel's timer cut the accept off:\n\
                     `complete().await` gave an error of kind {:?}, which says:",
                    listener.local_addr()?,
                    err.kind()
                );
                quote(&err.to_string().replacen(": ", ":\n", 1));
            }
        }
        println!(
            "The kernel reads the timeout with the submission entry, so it can be set\n\
             only on `Prepared`. On an `Op` it is too late, and `accept.timeout(d)` after\n\
             `submit()` is an error that says so (show 04)."
        );

        step("submit, then complete: the output");
        let described = Timeout::new(&ring, Duration::from_millis(1));
        println!("1. {}", type_of(&described));
        let timer = described.submit();
        println!("2. {}   after `.submit()`", type_of(&timer));
        let output = timer.complete().await;
        println!(
            "3. {}   after `.complete().await`: {output:?}",
            type_of(&output)
        );
        output?;
        let stats = ring.stats();
        println!(
            "the ring counted submitted: {}, completed: {}, in flight: {}: each op that\n\
             reached the kernel came back.",
            stats.submitted, stats.completed, stats.in_flight
        );
        Ok::<(), io::Error>(())
    })?;

    println!(
        "\nEach state has its own methods. A `Prepared` has `timeout` and\n\
         `submit` but no `complete` (E0599); `description.await` does work, because a\n\
         `Prepared` is `IntoFuture`: it submits the op and waits for its output, both\n\
         steps in one. An `Op` has `complete` and `cancel`, and no way back to a\n\
         description: its `timeout` exists only to explain, with an unmet bound, that\n\
         the option belongs before `submit` (E0277). And since `submit` takes `self`,\n\
         one description is submitted once (E0382). The compiler checks the order of\n\
         the steps; what it cannot check is that the last step happens at all. Lesson 05\n\
         is about that."
    );
    Ok(())
}

/// The type of `value`, without module paths: `Op<Timeout>`.
fn type_of<T>(_value: &T) -> String {
    let full = std::any::type_name::<T>();
    let mut short = String::new();
    let mut segment = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            short.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            short.push(c);
        }
    }
    short.push_str(segment.rsplit("::").next().unwrap_or(""));
    short
}
