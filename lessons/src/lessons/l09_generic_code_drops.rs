//! Generic code drops: std's functions destroy the values they do not return.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{cancel_all, DropPolicy, Op, Ring};

use crate::story::{abandoned_line, quote, step};

/// A token that will not finish by itself: a one-hour timer. Its location, in the
/// `on_abandon` sentences, is the line that called this.
#[track_caller]
fn hour(ring: &Ring) -> Op<Timeout> {
    Timeout::new(ring, Duration::from_secs(3600)).submit()
}

/// Lets the ring enter the kernel until nothing is in flight, so that the cancels
/// of abandoned ops are reaped and reported.
fn settle(ring: &Ring) -> io::Result<()> {
    for _ in 0..100 {
        if ring.stats().in_flight == 0 {
            break;
        }
        ring.block_on(ring.nop().complete())?;
    }
    Ok(())
}

/// Cancels the tokens a step kept, the way every token should end, and returns how
/// many the kernel confirmed cancelled.
fn cancel_kept(ring: &Ring, kept: Vec<Op<Timeout>>) -> usize {
    let outcomes = ring.block_on(cancel_all(kept));
    outcomes
        .iter()
        .filter(|outcome| outcome.is_cancelled())
        .count()
}

/// Where an abandoned op was submitted, and the `on_abandon` hook's sentence for it.
type Log = Rc<RefCell<Vec<(&'static Location<'static>, String)>>>;

/// Where the token in `op` was submitted, if there is one.
fn location(op: &Option<Op<Timeout>>) -> Option<&'static Location<'static>> {
    op.as_ref().map(Op::location)
}

/// Watches the abandoned counter across the steps of the lesson.
struct Watch<'a> {
    ring: &'a Ring,
    log: Log,
    last: u64,
}

impl Watch<'_> {
    /// Settles the ring, prints how `abandoned` moved since the last report with
    /// what `what` says, and returns by how much.
    fn report(&mut self, what: &str) -> io::Result<u64> {
        settle(self.ring)?;
        let now = self.ring.stats().abandoned;
        println!("{what:<34} abandoned {} -> {}", self.last, now);
        let moved = now - self.last;
        self.last = now;
        Ok(moved)
    }

    /// Prints the `on_abandon` sentences collected since the last call.
    fn sentences(&self) {
        let sentences: Vec<String> = self.log.borrow_mut().drain(..).map(|(_, s)| s).collect();
        if sentences.is_empty() {
            println!("the on_abandon hook said nothing");
            return;
        }
        println!("the on_abandon hook said:");
        let mut i = 0;
        while i < sentences.len() {
            let same = sentences[i..]
                .iter()
                .take_while(|s| **s == sentences[i])
                .count();
            quote(&abandoned_line(&sentences[i]));
            if same > 1 {
                println!("   (the same sentence {same} times: one line submitted them all)");
            }
            i += same;
        }
    }

    /// Says which of `candidates` each token abandoned since the last call was: the
    /// one submitted where its `on_abandon` sentence says it was.
    fn which(&self, candidates: &[(&str, Option<&'static Location<'static>>)]) {
        for (at, _) in self.log.borrow_mut().drain(..) {
            let name = candidates
                .iter()
                .find(|(_, submitted)| *submitted == Some(at))
                .map_or("neither of them", |(name, _)| *name);
            println!(
                "   dropped: {name} (on_abandon names line {}, column {})",
                at.line(),
                at.column()
            );
        }
    }
}

/// A connection whose one pending op is kept in a field.
struct Conn {
    pending: Op<Timeout>,
}

/// A generic function with no bounds at all: it may do nothing with its value but
/// move it or drop it, and it drops it.
fn ignore<T>(_value: T) {}

pub(crate) fn run() -> io::Result<()> {
    println!(
        "Lesson 08 was the language dropping tokens. This one is library code doing it.\n\
         Every type parameter in std may be dropped: `Vec::truncate` destroys what it\n\
         removes, and nothing in its signature says so, because it is assumed of every\n\
         `T`, like `Sized`. No lint sees it: `#[must_use]` looks at the value a call\n\
         in your code returns, not at what a generic function destroys inside. Each\n\
         token below is a one-hour timer on a DropPolicy::Reclaim ring, which only\n\
         counts abandoned tokens and reports them to its on_abandon hook."
    );

    let ring = Ring::builder().drop_policy(DropPolicy::Reclaim).build()?;
    let log = Rc::new(RefCell::new(Vec::new()));
    ring.on_abandon({
        let log = log.clone();
        move |abandoned| {
            let sentence = abandoned.to_string();
            log.borrow_mut().push((abandoned.location, sentence));
        }
    });
    let mut watch = Watch {
        ring: &ring,
        log,
        last: ring.stats().abandoned,
    };

    step("`Vec::truncate` drops what it cuts off");
    let mut pending: Vec<Op<Timeout>> = (0..3).map(|_| hour(&ring)).collect();
    pending.truncate(1);
    watch.report("`pending.truncate(1)` of 3 tokens")?;
    watch.sentences();
    let cancelled = cancel_kept(&ring, pending);
    println!("the one token kept was cancelled properly: {cancelled} confirmed by the kernel");
    watch.report("after that proper cancel")?;

    step("`into_iter().take(1)`: the rest go down with the iterator");
    let pending: Vec<Op<Timeout>> = (0..3).map(|_| hour(&ring)).collect();
    let first: Vec<Op<Timeout>> = pending.into_iter().take(1).collect();
    watch.report("`.into_iter().take(1)` of 3 tokens")?;
    println!(
        "`take(1)` yielded one token; the iterator still owned two, and dropped them\n\
         when `collect` was done with it."
    );
    watch.sentences();
    cancel_kept(&ring, first);

    step("assignment over a live token");
    let mut conn = Conn {
        pending: hour(&ring),
    };
    conn.pending = hour(&ring);
    watch.report("`conn.pending = hour(&ring);`")?;
    watch.sentences();
    println!(
        "An assignment drops the old value, and nothing warns. std even points there:\n\
         `mem::replace` is #[must_use] with the note \"if you don't need the old value,\n\
         you can just assign the new value directly\", and `Option::insert` with \"if\n\
         you intended to set a value, consider assignment instead\". The way to keep\n\
         the old token is `mem::replace`, which hands it back:"
    );
    let old = std::mem::replace(&mut conn.pending, hour(&ring));
    let cancelled = cancel_kept(&ring, vec![old]);
    watch.report("`mem::replace`, old one cancelled")?;
    println!("({cancelled} cancel confirmed; nothing abandoned)");
    cancel_kept(&ring, vec![conn.pending]);

    step("`Option`'s combinators discard one side");
    println!(
        "Each \"dropped:\" line compares the location that the on_abandon hook was given\n\
         with where each of the two tokens was submitted."
    );
    let (first, second) = (Some(hour(&ring)), Some(hour(&ring)));
    let both = [
        ("the first", location(&first)),
        ("the second", location(&second)),
    ];
    let kept = first.or(second);
    watch.report("`first.or(second)`")?;
    watch.which(&both);
    let (first, second) = (Some(hour(&ring)), Some(hour(&ring)));
    let both = [
        ("the first", location(&first)),
        ("the second", location(&second)),
    ];
    let kept_too = first.and(second);
    watch.report("`first.and(second)`")?;
    watch.which(&both);
    let (first, second) = (Some(hour(&ring)), hour(&ring));
    let both = [
        ("the first", location(&first)),
        ("the second", Some(second.location())),
    ];
    let unwrapped = first.unwrap_or(second);
    watch.report("`first.unwrap_or(second)`")?;
    watch.which(&both);
    let mut slot = Some(hour(&ring));
    let new = hour(&ring);
    let both = [
        ("the old", location(&slot)),
        ("the new", Some(new.location())),
    ];
    slot.replace(new);
    watch.report("`slot.replace(new);`")?;
    watch.which(&both);
    let old = location(&slot);
    let current = slot.insert(hour(&ring));
    let both = [("the old", old), ("the new", Some(current.location()))];
    watch.report("`slot.insert(new)`")?;
    watch.which(&both);
    println!(
        "`replace` hands the old value back, and as a statement it is dropped at once,\n\
         with no warning: `Option::replace` is not #[must_use]. `insert` drops the old\n\
         value itself, and returns a `&mut` to the new one."
    );
    let kept: Vec<Op<Timeout>> = [kept, kept_too, Some(unwrapped), slot]
        .into_iter()
        .flatten()
        .collect();
    cancel_kept(&ring, kept);

    step("`HashMap::retain` and `clear` drop what they remove");
    let mut by_id: HashMap<u32, Op<Timeout>> = (0..4).map(|id| (id, hour(&ring))).collect();
    by_id.retain(|id, _| id % 2 == 0);
    watch.report("`retain` of the even ids, of 4")?;
    by_id.clear();
    watch.report("`clear` of the 2 left")?;
    watch.sentences();

    step("a generic function with no bounds drops, too");
    ignore(hour(&ring));
    watch.report("`ignore(token)`")?;
    watch.sentences();
    let stats = ring.stats();
    println!(
        "in total: abandoned = {}, in_flight = {}. None of these lines warned when\n\
         compiled, and none panicked: under DropPolicy::Panic, the default in debug\n\
         builds, each would have panicked, at run time (lesson 05).",
        stats.abandoned, stats.in_flight
    );
    println!(
        "\n`fn ignore<T>(_: T) {{}}` needs no bound to drop its value; a function that\n\
         duplicates one needs `T: Clone`, and a token is not `Clone`. So generic code\n\
         can duplicate only what is `Clone`, but it can discard anything. Cloning a\n\
         `Vec` of tokens does not compile (show 09). Rust has a bound that says \"may be\n\
         duplicated\", `Clone`, and none that says \"may be dropped\": that one is\n\
         assumed of every type. Inside a proof-carrying scope (lesson 13), a dropped\n\
         collection of debts is a compile error instead (show 09 has that one too).\n\
         Every discard above still ran the token's destructor, so the ring heard of\n\
         it. The next lesson is the one where no destructor runs at all:\n\
         `mem::forget`."
    );
    Ok(())
}
