//! A String is moved into `t`, then `s` is used again.
//! Lesson: a moved value is gone. Rust's types are affine: no contraction.
fn main() {
    let s = String::from("owned text");
    let t = s;
    println!("{s} {t}");
}
