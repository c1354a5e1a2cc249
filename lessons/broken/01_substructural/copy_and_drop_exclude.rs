//! A type that is both `Copy` and has a destructor.
//! Lesson: a value that can be duplicated cannot also have a destructor that must run
//! once; Rust makes `Copy` and `Drop` exclusive.
#[derive(Clone, Copy)]
struct Ticket(u32);

impl Drop for Ticket {
    fn drop(&mut self) {}
}

fn main() {
    let _t = Ticket(1);
}
