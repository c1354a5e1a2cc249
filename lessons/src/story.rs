//! What every lesson uses to tell its story: headings, caught panics, child
//! processes and descriptor counts.

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, Output};

use crate::course::Lesson;

/// Prints the lesson's heading.
pub(crate) fn title(lesson: &Lesson) {
    let heading = format!("Lesson {:02}: {}", lesson.number, lesson.title);
    println!("{heading}\n{}\n", "=".repeat(heading.len()));
}

/// Prints the heading of a lesson's next step: `-- text`.
pub(crate) fn step(text: &str) {
    println!("\n-- {text}");
}

/// Runs `f`, catching a panic without letting the default hook print it: the lesson
/// prints the message itself. `Ok` is `f`'s value, `Err` the panic's message.
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(hook);
    result.map_err(|payload| message(&*payload))
}

/// A panic's message, from its payload: a `&str` or a `String`, as `panic!` makes.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// An `on_abandon` sentence ("the Recv operation submitted at FILE:LINE:COL was
/// abandoned; it completed anyway ...") broken in two lines after the op's location,
/// the second indented: which op, then what became of it. The location is long, and
/// the whole sentence would not fit a line.
pub(crate) fn abandoned_line(sentence: &str) -> String {
    match sentence.split_once(" was abandoned; ") {
        Some((which, fate)) => format!("{which}\n  was abandoned; {fate}"),
        None => sentence.to_string(),
    }
}

/// Runs this program again as `lessons child <slug> <arg>`, for what must happen in
/// a process of its own (an abort, a panic that ends the process), and returns what
/// it printed and how it ended.
pub(crate) fn child(slug: &str, arg: &str) -> io::Result<Output> {
    Command::new(std::env::current_exe()?)
        .args(["child", slug, arg])
        // The panic's message is the lesson; a backtrace would bury it.
        .env("RUST_BACKTRACE", "0")
        .output()
}

/// How a child process ended, in words: its exit code, or the signal that killed it.
pub(crate) fn ending(output: &Output) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (output.status.code(), output.status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(6)) => "was killed by signal 6 (SIGABRT): the process aborted".to_string(),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended in an unknown way".to_string(),
    }
}

/// Prints what a child process wrote, indented, stdout then stderr.
pub(crate) fn quote_child(output: &Output) {
    for line in String::from_utf8_lossy(&output.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&output.stderr).lines())
    {
        println!("   | {line}");
    }
}

/// The number of descriptors this process has open.
pub(crate) fn open_fds() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count())
}

/// Prints a multi-line message indented, so it stands apart from the story.
pub(crate) fn quote(text: &str) {
    for line in text.lines() {
        println!("   | {line}");
    }
}
