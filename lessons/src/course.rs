//! The lessons, in order.

use std::io;

use crate::lessons::*;

/// One lesson: a program that runs, and the rejected programs in `broken/<slug>/`.
pub(crate) struct Lesson {
    pub(crate) number: u32,
    /// The lesson's module, `l05_drop_bomb`.
    pub(crate) slug: &'static str,
    pub(crate) title: &'static str,
    pub(crate) run: fn() -> io::Result<()>,
    /// What the lesson runs in a child process, given one argument.
    pub(crate) child: Option<fn(&str)>,
}

impl Lesson {
    /// The directory of its rejected programs under `broken/`: the module's name
    /// without its leading `l`, `05_drop_bomb`.
    pub(crate) fn dir(&self) -> &'static str {
        self.slug.trim_start_matches('l')
    }
}

macro_rules! lesson {
    ($number:literal, $module:ident, $title:literal) => {
        Lesson {
            number: $number,
            slug: stringify!($module),
            title: $title,
            run: $module::run,
            child: None,
        }
    };
    ($number:literal, $module:ident, $title:literal, child) => {
        Lesson {
            number: $number,
            slug: stringify!($module),
            title: $title,
            run: $module::run,
            child: Some($module::child),
        }
    };
}

pub(crate) static COURSE: &[Lesson] = &[
    lesson!(
        1,
        l01_substructural,
        "The substructural rules, with no ring"
    ),
    lesson!(
        2,
        l02_affine_tokens,
        "Affine tokens: `complete(self)`, no `Clone`"
    ),
    lesson!(3, l03_must_use_is_a_lint, "`#[must_use]` is only a lint"),
    lesson!(4, l04_typestate, "Typestate: description, token, output"),
    lesson!(
        5,
        l05_drop_bomb,
        "The drop bomb: `Panic`, `Reclaim` and `Abort`",
        child
    ),
    lesson!(6, l06_cancel_is_a_race, "Cancel is a race: both outcomes"),
    lesson!(
        7,
        l07_async_cancellation,
        "Async cancellation: `select!`, `race`, linked timeouts"
    ),
    lesson!(8, l08_unwinding, "Unwinding with live tokens"),
    lesson!(9, l09_generic_code_drops, "Generic code drops"),
    lesson!(10, l10_forget_is_safe, "`mem::forget` is safe"),
    lesson!(11, l11_your_own_linear, "Writing your own `Linear` type"),
    lesson!(12, l12_threads, "Threads: tokens stay home"),
    lesson!(
        13,
        l13_scopes,
        "Proof-carrying scopes: a forgotten op is a type error"
    ),
    lesson!(
        14,
        l14_capstone,
        "Capstone: the accept loop, lost connections vs none"
    ),
];
