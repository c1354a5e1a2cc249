//! The substructural rules, with no ring: what a program may do with a value.

use std::io;

use crate::story::{catch_panic, step};

/// A toy drop bomb: a value that must be defused before it goes away. Its `Drop`
/// is the only check Rust lets a library add at run time.
#[must_use = "a bomb must be defused: call `defuse()`"]
struct Bomb {
    name: &'static str,
    defused: bool,
}

impl Bomb {
    fn arm(name: &'static str) -> Bomb {
        Bomb {
            name,
            defused: false,
        }
    }

    /// Consumes the bomb: taking `self` is how an API says "this is the end of it".
    fn defuse(mut self) -> &'static str {
        self.defused = true;
        self.name
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if !self.defused && !std::thread::panicking() {
            panic!("the bomb {:?} was dropped without being defused", self.name);
        }
    }
}

pub(crate) fn run() -> io::Result<()> {
    println!(
        "Type systems describe what a program may do with a value by three rules:\n\
         \n\
         \x20 weakening    a value may be thrown away unused\n\
         \x20 contraction  a value may be duplicated and used twice\n\
         \x20 exchange     values may be used in any order (every type here allows it)\n\
         \n\
         \x20 kind          weakening  contraction  in Rust\n\
         \x20 unrestricted  yes        yes          `Copy` types: u32, &T\n\
         \x20 affine        yes        no           every type that moves: String, Vec, Op\n\
         \x20 relevant      no         yes          none\n\
         \x20 linear        no         no           none: what this course approximates\n\
         \n\
         A linear value must be used exactly once. Rust has no such types; its moved\n\
         values are affine: at most once."
    );

    step("contraction: a Copy value is duplicated freely");
    let n: u32 = 7;
    let a = n;
    let b = n;
    println!("`let a = n; let b = n;` with n: u32 gives a = {a} and b = {b}; n is still {n}.");

    step("no contraction: a String moves");
    let s = String::from("owned text");
    let t = s;
    println!(
        "`let t = s;` moves the String: t = {t:?}, and s can no longer be named. Using s\n\
         again is error E0382 (use of moved value): show 01 prints it."
    );

    step("weakening: any value may be thrown away");
    let discarded = String::from("never read");
    drop(discarded);
    println!(
        "`drop(discarded)` compiles for every type. So does letting a variable go out of\n\
         scope. This is the rule a linear type forbids, and Rust allows it everywhere."
    );

    step("#[must_use] is a lint, not a rule");
    println!(
        "The type `Bomb` is #[must_use], which covers every call that returns one.\n\
         Calling `Bomb::arm(..)` as a statement only warns (an error under\n\
         #![deny(unused_must_use)], see show 01), and `let _ = Bomb::arm(..)` silences\n\
         it: the lint looks at one expression, not at where the value goes."
    );

    step("a toy drop bomb: the run-time check that is left");
    let bomb = Bomb::arm("first");
    let name = bomb.defuse();
    println!("the bomb {name:?} was defused by `defuse(self)`, which consumed it: silence.");
    let outcome = catch_panic(|| {
        let _forgotten = Bomb::arm("second");
        // `_forgotten` goes out of scope here, still armed.
    });
    match outcome {
        Err(message) => {
            println!("the bomb \"second\" went out of scope armed, and panicked: {message}")
        }
        Ok(()) => {
            println!("the bomb \"second\" went out of scope armed and said nothing (unexpected)")
        }
    }
    println!(
        "\nThe panic comes at run time, at the end of a scope, far from the mistake. That\n\
         is the best `Drop` can do, and it is what linear-uring's drop policy does for a\n\
         token: lesson 05."
    );
    Ok(())
}
