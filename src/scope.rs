//! Proof-carrying scopes: where a dropped, forgotten or leaked token is a type error.
//!
//! A token ([`Op`]) is `#[must_use]`, but `let _x = op;`, `drop(op)`, `mem::forget(op)`
//! and `?` past a live token all compile: Rust has no linear types. The drop policy
//! catches the first three at run time, nothing catches `forget`.
//!
//! A scope goes further for structured code. [`Ring::scope`](crate::Ring::scope) runs a
//! closure that is generic over a lifetime `'b`, the scope's *brand*. The closure gets a
//! [`Scope<'b>`] and must give back a [`Paid<'b>`] with its value. Only
//! [`Scope::paid`] makes a `Paid`, and [`Scope::submit`] *consumes* the scope, turning
//! it into a [`Debt<'b, K>`]: the op, owed. The scope comes back only from the debt's
//! `complete()` or `cancel()`. So a closure that drops, forgets, leaks or stores its
//! op away has no scope left to turn into `Paid<'b>`, and does not compile; and since
//! `'b` is invariant and the closure must work for every `'b`, a `Paid` of another
//! scope, or a scope smuggled out, does not fit either.
//!
//! ```text
//!   Scope<'b> ──submit──▶ Debt<'b, K> ──complete / cancel──▶ (output, Scope<'b>) ──paid──▶ Paid<'b>
//! ```
//!
//! One scope owes at most one op at a time. For several ops at once, a scope splits
//! into sub-scopes with brands of their own ([`Scope::split`], [`Scope::split3`],
//! [`Scope::each`] for `n` decided at run time), each of which must be paid before the
//! parent scope comes back. A debt is [`Linear`]: it races against a timer or another
//! debt, and the loser comes back still owed. The scope's own future, boxed, is
//! [`Linear`] too: a whole handler races and cancels like one op.
//!
//! # What a scope cannot catch
//!
//! Divergence: a panic, an infinite loop or `process::exit` inside the closure never
//! returns, so never pays; the drop policy is still the net for the tokens dropped
//! while unwinding. A scope's own future dropped before it finishes drops the debts
//! inside it, which go through the drop policy like any token. Errors must travel in
//! the closure's value (`(Paid<'b>, io::Result<T>)`), never by `?`: a closure
//! returning `Result<(Paid<'b>, T), E>` could leave early with `Err` and skip every
//! payment, which is why the closure returns a pair and not a `Result`.
//!
//! All of this would be unnecessary if Rust could say "this type must not be
//! forgotten" (a `Leak`/`Forget` auto trait, or linear types); brands are the
//! approximation that exists today, at the cost of closures and of threading the
//! scope through every op.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::op::{OpKind, Prepared};
use crate::race::{CancelLinear, CompleteLinear, Linear};
use crate::ring::Inner;
use crate::token::{CancelOutcome, Op};

/// An invariant lifetime: a scope's brand. `fn(&'b ()) -> &'b ()` is both co- and
/// contravariant in `'b`, so `'b` can be neither shortened nor lengthened.
type Brand<'b> = PhantomData<fn(&'b ()) -> &'b ()>;

/// Which scopes of a ring are being cancelled, kept by the ring so that a scope costs
/// no allocation of its own for it: a scope and everything split from it carry the
/// ring and their scope's id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    next: Cell<u64>,
    /// Whether `cancelled` holds anything: the common check costs one load.
    any: Cell<bool>,
    /// Ids of scopes whose future is being cancelled: every debt of theirs cancels
    /// its op when polled. Usually empty.
    cancelled: RefCell<Vec<u64>>,
}

impl Registry {
    fn new_id(&self) -> u64 {
        let id = self.next.get();
        self.next.set(id + 1);
        id
    }

    #[inline]
    fn is_cancelled(&self, id: u64) -> bool {
        self.any.get() && self.cancelled.borrow().contains(&id)
    }

    fn cancel(&self, id: u64) {
        let mut cancelled = self.cancelled.borrow_mut();
        if !cancelled.contains(&id) {
            cancelled.push(id);
        }
        self.any.set(true);
    }

    fn forget(&self, id: u64) {
        let mut cancelled = self.cancelled.borrow_mut();
        cancelled.retain(|&other| other != id);
        self.any.set(!cancelled.is_empty());
    }
}

/// What a scope and everything split from it share: the ring, and the scope's id in
/// its [`Registry`].
#[derive(Clone)]
struct Shared {
    ring: Rc<Inner>,
    id: u64,
}

impl Shared {
    #[inline]
    fn cancelled(&self) -> bool {
        self.ring.scopes().is_cancelled(self.id)
    }
}

/// The right to submit one op in the scope branded `'b`, or to declare it
/// [`paid`](Scope::paid). Not `Clone`, not `Copy`, not constructible outside the
/// library: the only scope a closure has is the one it was given, or the one a
/// debt's `complete()`/`cancel()` gave back.
pub struct Scope<'b> {
    shared: Shared,
    brand: Brand<'b>,
}

/// The receipt a scope's closure returns: proof that every op submitted in the
/// scope branded `'b` was completed or cancelled. Zero-sized. Only
/// [`Scope::paid`] makes one, and a scope is only ever handed back by the
/// `complete()` or `cancel()` of the op it submitted.
#[must_use = "a scope's closure must return its Paid receipt with its value"]
pub struct Paid<'b> {
    brand: Brand<'b>,
}

/// An op (or any [`Linear`] value: a composite op such as a
/// [`WriteAll`](crate::WriteAll)) owed to the scope branded `'b`. Its `complete()`
/// and `cancel()` give the scope back with the output; nothing else does.
///
/// # Cancellation
///
/// As the value it holds ([`Op`]): dropping a debt (which the scope's types make a
/// compile error unless the whole scope future is dropped) cancels the op and
/// applies the drop policy. When the scope's future is cancelled
/// ([`Linear::start_cancel`]), every debt cancels its value the next time it is
/// polled.
#[must_use = "a debt must be paid: `.complete().await` or `.cancel().await` gives the scope back"]
pub struct Debt<'b, T: Linear> {
    value: T,
    shared: Shared,
    brand: Brand<'b>,
}

impl<'b> Scope<'b> {
    fn new(shared: Shared) -> Self {
        Scope {
            shared,
            brand: PhantomData,
        }
    }

    /// Submits `op` in this scope. The scope is consumed: it comes back from the
    /// debt's `complete()` or `cancel()`, and only from there.
    #[track_caller]
    pub fn submit<K: OpKind>(self, op: Prepared<K>) -> Debt<'b, Op<K>> {
        self.owe(op.submit())
    }

    /// Makes `value`, already in flight (a composite op such as
    /// `stream.send_all(buf)`, or a token), a debt of this scope. The scope is
    /// consumed, as by [`submit`](Scope::submit).
    pub fn owe<T: Linear>(self, value: T) -> Debt<'b, T> {
        Debt {
            value,
            shared: self.shared,
            brand: PhantomData,
        }
    }

    /// Declares the scope paid: nothing is owed in it. The receipt the closure
    /// returns.
    pub fn paid(self) -> Paid<'b> {
        Paid { brand: PhantomData }
    }

    /// Splits the scope into two sub-scopes with brands of their own, runs `f` with
    /// them, and gives this scope back once `f` has returned both receipts. Inside
    /// `f`, the two sub-scopes' ops can be in flight at once, and raced.
    pub async fn split<F, R>(self, f: F) -> (Scope<'b>, R)
    where
        F: for<'x, 'y> AsyncFnOnce(Scope<'x>, Scope<'y>) -> (Paid<'x>, Paid<'y>, R),
    {
        let (x, y) = (self.sub(), self.sub());
        let (_, _, value) = f(x, y).await;
        (self, value)
    }

    /// As [`split`](Scope::split), into three sub-scopes.
    pub async fn split3<F, R>(self, f: F) -> (Scope<'b>, R)
    where
        F: for<'x, 'y, 'z> AsyncFnOnce(
            Scope<'x>,
            Scope<'y>,
            Scope<'z>,
        ) -> (Paid<'x>, Paid<'y>, Paid<'z>, R),
    {
        let (x, y, z) = (self.sub(), self.sub(), self.sub());
        let (_, _, _, value) = f(x, y, z).await;
        (self, value)
    }

    /// Runs `f` once per item, all at once, each call in a sub-scope with a brand of
    /// its own that it must pay; gives this scope back with the values in item order
    /// once every call has returned its receipt. For `n` parallel ops, `n` decided at
    /// run time.
    pub async fn each<T, F, R>(
        self,
        items: impl IntoIterator<Item = T>,
        f: F,
    ) -> (Scope<'b>, Vec<R>)
    where
        F: for<'x> AsyncFn(Scope<'x>, T) -> (Paid<'x>, R),
    {
        let calls: Vec<Pin<Box<dyn Future<Output = R> + '_>>> = items
            .into_iter()
            .map(|item| {
                let sub = self.sub();
                let f = &f;
                Box::pin(async move { f(sub, item).await.1 }) as Pin<Box<dyn Future<Output = R>>>
            })
            .collect();
        let values = JoinAll::new(calls).await;
        (self, values)
    }

    /// A sub-scope: the same shared state, a brand chosen by the caller's signature.
    fn sub<'x>(&self) -> Scope<'x> {
        Scope::new(self.shared.clone())
    }
}

impl<'b, T: Linear + Unpin> Debt<'b, T> {
    /// Waits for the value: its output and the scope back.
    pub fn complete(self) -> CompleteLinear<Self> {
        crate::complete(self)
    }

    /// Cancels the value: what really happened (see [`Op::cancel`]) and the scope
    /// back.
    pub fn cancel(self) -> CancelDebt<'b, T> {
        CancelDebt {
            inner: crate::cancel(self),
        }
    }
}

impl<'b, T: Linear> Debt<'b, T> {
    /// What is owed.
    pub fn get_ref(&self) -> &T {
        &self.value
    }

    /// The scope that paid: handed back with an output or a residue.
    fn scope(&self) -> Scope<'b> {
        Scope::new(self.shared.clone())
    }

    /// Cancels the value if the scope's future is being cancelled.
    fn follow_scope(&mut self) {
        if self.shared.cancelled() {
            self.value.start_cancel();
        }
    }
}

impl<'b, T: Linear> Linear for Debt<'b, T> {
    type Output = (T::Output, Scope<'b>);
    type Residue = (T::Residue, Scope<'b>);

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.follow_scope();
        let output = std::task::ready!(self.value.poll_complete(cx));
        Poll::Ready((output, self.scope()))
    }

    fn start_cancel(&mut self) {
        self.value.start_cancel();
    }

    fn poll_cancel(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<CancelOutcome<Self::Output, Self::Residue>> {
        let outcome = std::task::ready!(self.value.poll_cancel(cx));
        Poll::Ready(match outcome {
            CancelOutcome::Cancelled(residue) => CancelOutcome::Cancelled((residue, self.scope())),
            CancelOutcome::Completed(output) => CancelOutcome::Completed((output, self.scope())),
        })
    }
}

impl<'b, T: Linear + Unpin> IntoFuture for Debt<'b, T> {
    type Output = (T::Output, Scope<'b>);
    type IntoFuture = CompleteLinear<Self>;

    /// Awaiting a debt completes it.
    fn into_future(self) -> CompleteLinear<Self> {
        crate::complete(self)
    }
}

/// The future of [`Debt::cancel`]: what happened to the op, and the scope back.
#[must_use = "await this to learn whether the op was cancelled or finished first, and to get the scope back"]
pub struct CancelDebt<'b, T: Linear> {
    inner: CancelLinear<Debt<'b, T>>,
}

impl<'b, T: Linear + Unpin> Future for CancelDebt<'b, T> {
    type Output = (CancelOutcome<T::Output, T::Residue>, Scope<'b>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = std::task::ready!(Pin::new(&mut self.inner).poll(cx));
        Poll::Ready(match outcome {
            CancelOutcome::Cancelled((residue, scope)) => {
                (CancelOutcome::Cancelled(residue), scope)
            }
            CancelOutcome::Completed((output, scope)) => (CancelOutcome::Completed(output), scope),
        })
    }
}

/// The future of [`Ring::scope`](crate::Ring::scope): the closure's value, once it
/// has paid for every op it submitted.
///
/// Awaiting it costs no allocation: the closure's future is stored inline. To race
/// it, cancel it or give it a [`deadline`](crate::deadline), box it:
/// `Box::pin(ring.scope(..))` is [`Linear`], like a token. Cancelling it makes every
/// debt in the scope cancel its op when next polled, and then waits for the closure
/// to finish: the outcome is `Completed(value)`, the value telling what each op did.
///
/// # Cancellation
///
/// Dropping it before it finishes drops the debts inside, which goes through the
/// drop policy like dropping the tokens: the one case a scope leaves to run time.
#[must_use = "a scope does nothing unless awaited; dropping it abandons the ops inside"]
pub struct ScopeFuture<Fut> {
    shared: Shared,
    /// Whether this scope was entered in the registry's cancelled list.
    cancelling: Cell<bool>,
    /// The closure's future, structurally pinned. Its brand is instantiated as
    /// `'static`: the closure is generic over the brand, so any choice proves the
    /// same thing, and no receipt of this type ever leaves the scope.
    inner: Fut,
}

/// The closure's future of a scope whose value is `R`.
pub(crate) fn scope<'a, F, R>(
    ring: &Rc<Inner>,
    f: F,
) -> ScopeFuture<impl Future<Output = (Paid<'static>, R)> + 'a>
where
    F: for<'b> AsyncFnOnce(Scope<'b>) -> (Paid<'b>, R) + 'a,
    R: 'a,
{
    let shared = Shared {
        ring: ring.clone(),
        id: ring.scopes().new_id(),
    };
    let scope: Scope<'static> = Scope::new(shared.clone());
    ScopeFuture {
        shared,
        cancelling: Cell::new(false),
        inner: f(scope),
    }
}

impl<Fut> ScopeFuture<Fut> {
    /// Marks the scope as being cancelled: its debts cancel their ops when polled.
    fn start_cancel(&self) {
        if !self.cancelling.replace(true) {
            self.shared.ring.scopes().cancel(self.shared.id);
        }
    }

    /// The closure's future, pinned where the scope future is.
    fn inner(self: Pin<&mut Self>) -> Pin<&mut Fut> {
        // SAFETY: `inner` is structurally pinned: nothing moves it out of a pinned
        // `ScopeFuture` (no method returns it or swaps it, and `Drop` touches only the
        // other fields), and `ScopeFuture` is `Unpin` only if `Fut` is (no manual
        // `Unpin` impl).
        unsafe { self.map_unchecked_mut(|scope| &mut scope.inner) }
    }
}

impl<Fut, R> Future for ScopeFuture<Fut>
where
    Fut: Future<Output = (Paid<'static>, R)>,
{
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        self.inner().poll(cx).map(|(_paid, value)| value)
    }
}

/// A boxed scope future races, cancels and takes deadlines like a token.
impl<Fut, R> Linear for Pin<Box<ScopeFuture<Fut>>>
where
    Fut: Future<Output = (Paid<'static>, R)>,
{
    type Output = R;
    /// Never produced: a cancelled scope still finishes with its value.
    type Residue = ();

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<R> {
        self.as_mut().poll(cx)
    }

    fn start_cancel(&mut self) {
        self.as_ref().get_ref().start_cancel();
    }

    fn poll_cancel(&mut self, cx: &mut Context<'_>) -> Poll<CancelOutcome<R, ()>> {
        self.start_cancel();
        self.as_mut().poll(cx).map(CancelOutcome::Completed)
    }
}

/// Polls every future until all are done; their outputs in order.
struct JoinAll<'a, R> {
    calls: Vec<Option<Pin<Box<dyn Future<Output = R> + 'a>>>>,
    values: Vec<Option<R>>,
}

impl<'a, R> JoinAll<'a, R> {
    fn new(calls: Vec<Pin<Box<dyn Future<Output = R> + 'a>>>) -> Self {
        let values = calls.iter().map(|_| None).collect();
        JoinAll {
            calls: calls.into_iter().map(Some).collect(),
            values,
        }
    }
}

impl<R> Future for JoinAll<'_, R> {
    type Output = Vec<R>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<R>> {
        let this = &mut *self;
        let mut pending = false;
        for (call, value) in this.calls.iter_mut().zip(&mut this.values) {
            if let Some(future) = call {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *value = Some(v);
                        *call = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(
            std::mem::take(&mut this.values)
                .into_iter()
                .flatten()
                .collect(),
        )
    }
}

// Nothing is pinned structurally: the futures are boxed, the values only moved out.
impl<R> Unpin for JoinAll<'_, R> {}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("id", &self.shared.id)
            .finish()
    }
}

impl fmt::Debug for Paid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Paid")
    }
}

impl<T: Linear> fmt::Debug for Debt<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Debt")
            .field(&std::any::type_name::<T>())
            .finish()
    }
}

impl<T: Linear> fmt::Debug for CancelDebt<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CancelDebt")
    }
}

impl<Fut> Drop for ScopeFuture<Fut> {
    fn drop(&mut self) {
        if self.cancelling.get() {
            self.shared.ring.scopes().forget(self.shared.id);
        }
    }
}

impl<Fut> fmt::Debug for ScopeFuture<Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeFuture")
            .field("id", &self.shared.id)
            .field("cancelling", &self.cancelling.get())
            .finish_non_exhaustive()
    }
}

static_assertions::assert_eq_size!(Paid<'static>, ());
static_assertions::assert_not_impl_any!(Scope<'static>: Send, Sync, Clone, Copy, Default);
static_assertions::assert_not_impl_any!(Paid<'static>: Clone, Copy, Default);
static_assertions::assert_not_impl_any!(Debt<'static, Op<crate::op::Nop>>: Send, Sync);
