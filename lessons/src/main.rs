//! A runnable course from affine to linear types, on linear-uring.
//!
//! Each lesson is a program that does something and says what happened and why;
//! each has broken variants, programs the compiler rejects, in `broken/NN_slug/`.
//!
//! ```text
//! cargo run -p lessons                 # the list of lessons
//! cargo run -p lessons -- 05           # run lesson 05
//! cargo run -p lessons -- show 05      # lesson 05's rejected programs, compiled now
//! cargo run -p lessons -- all          # run every lesson in order
//! ```
//!
//! `lessons/README.md` is the guide; `lessons/WHY.md` is the chapter on why Rust has
//! no linear types.

mod course;
mod lessons;
mod show;
mod story;

use std::process::ExitCode;

use course::{Lesson, COURSE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["list"] => {
            list();
            ExitCode::SUCCESS
        }
        ["all"] => {
            for lesson in COURSE {
                if run(lesson) != ExitCode::SUCCESS {
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        ["show", number] => match find(number) {
            Some(lesson) => show::show(lesson),
            None => unknown(number),
        },
        // A lesson re-runs this program as a child process to show what a policy
        // that ends the process does; the parent prints what the child said.
        ["child", slug, arg] => match COURSE.iter().find(|l| l.slug == *slug) {
            Some(Lesson {
                child: Some(child), ..
            }) => {
                child(arg);
                ExitCode::SUCCESS
            }
            _ => unknown(slug),
        },
        [number] => match find(number) {
            Some(lesson) => run(lesson),
            None => unknown(number),
        },
        _ => {
            eprintln!("usage: lessons [list | all | NN | show NN]");
            ExitCode::FAILURE
        }
    }
}

fn list() {
    println!("linear-uring's lessons: from affine to linear types\n");
    for lesson in COURSE {
        println!("  {:02}  {}", lesson.number, lesson.title);
    }
    println!(
        "\nRun one with `cargo run -p lessons -- NN`; see its rejected programs, with \
         the\ncompiler's errors as rustc prints them now, with `cargo run -p lessons -- \
         show NN`.\nlessons/README.md is the guide; lessons/WHY.md says why Rust has no \
         linear types."
    );
}

fn run(lesson: &Lesson) -> ExitCode {
    story::title(lesson);
    match (lesson.run)() {
        Ok(()) => {
            let broken = show::variants(lesson).map(|v| v.len()).unwrap_or(0);
            if broken > 0 {
                println!(
                    "\nRejected programs of this lesson: {broken}; see each with its error: \
                     cargo run -p lessons -- show {:02}",
                    lesson.number
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lesson {:02} failed: {err}", lesson.number);
            ExitCode::FAILURE
        }
    }
}

fn find(number: &str) -> Option<&'static Lesson> {
    let number: u32 = number.parse().ok()?;
    COURSE.iter().find(|l| l.number == number)
}

fn unknown(what: &str) -> ExitCode {
    eprintln!("no lesson {what:?}; `cargo run -p lessons -- list` lists them");
    ExitCode::FAILURE
}
