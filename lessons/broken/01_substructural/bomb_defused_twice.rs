//! A bomb defused twice.
//! Lesson: a method taking `self` consumes the value; the second call finds nothing.
struct Bomb;

impl Bomb {
    fn defuse(self) {}
}

fn main() {
    let bomb = Bomb;
    bomb.defuse();
    bomb.defuse();
}
