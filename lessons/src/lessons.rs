//! One module per lesson, each with `run` (and `child` where the lesson needs a
//! process of its own). The rejected programs of each are in `broken/NN_slug/`.

pub(crate) mod l01_substructural;
pub(crate) mod l02_affine_tokens;
pub(crate) mod l03_must_use_is_a_lint;
pub(crate) mod l04_typestate;
pub(crate) mod l05_drop_bomb;
pub(crate) mod l06_cancel_is_a_race;
pub(crate) mod l07_async_cancellation;
pub(crate) mod l08_unwinding;
pub(crate) mod l09_generic_code_drops;
pub(crate) mod l10_forget_is_safe;
pub(crate) mod l11_your_own_linear;
pub(crate) mod l12_threads;
pub(crate) mod l13_scopes;
pub(crate) mod l14_capstone;
