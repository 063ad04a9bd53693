//! One thread at a time per end, checked without a locked instruction on
//! the common path.
//!
//! A C caller may hand an end to another thread, but two threads must not
//! use it at once: that would be a data race on the end's cursor. Each call
//! takes the end; a second thread's concurrent call is `SHMKIT_BUSY`.
//!
//! Taking the end with an atomic swap costs a full barrier per call, which
//! waits for the previous message's stores to the ring to drain: half the
//! streaming rate of a Rust peer for small messages. So the end is *owned*
//! by the thread that used it last, and its owner takes it with plain
//! stores, as a biased lock:
//!
//! - Every thread has a [`Mark`]: the end it is inside a call of (0: none),
//!   written by that thread only.
//! - Owner's path: mark itself inside the end, compiler barrier, and check
//!   that it still owns the end (else unmark, and take the other path).
//! - Any other thread, with the end's `lock` held: answer busy if the old
//!   owner is seen inside already; else make itself the owner, make a full
//!   barrier on every CPU (`membarrier`, through
//!   [`shmkit::__ffi::asym_cold`]), then look at the old owner's mark. This
//!   is the store-then-load handshake of the wake-ups: either the old owner
//!   sees the new one at its check, or the new one sees the old one
//!   inside, gives the end back and answers busy.
//!
//! Marks are never freed (the old owner's may be read at any time): a
//! thread that exits leaves its mark to the next thread. A thread with no
//! mark at hand (already inside another end, as a wait on several ends is;
//! or exiting) takes the end the slow way and keeps its `lock` for the
//! call, the owner set to [`NOBODY`] so that no fast path gets in.

use std::cell::UnsafeCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use crate::Fail;
use crate::shmkit_status::SHMKIT_BUSY;

/// What one thread is inside a call of.
#[repr(align(64))]
struct Mark {
    /// The address of the [`Exclusive`] being used, or 0.
    inside: AtomicUsize,
}

/// The owner of an end taken by a thread that keeps its `lock` instead:
/// never marked, so a fast path never matches it.
static NOBODY: Mark = Mark { inside: AtomicUsize::new(0) };

/// Marks of threads that exited, for new threads.
static SPARE: Mutex<Vec<&'static Mark>> = Mutex::new(Vec::new());

/// This thread's mark, given back when the thread exits.
struct MarkOf(&'static Mark);

impl Drop for MarkOf {
    fn drop(&mut self) {
        // A thread exits outside any call (there are no callbacks), so the
        // mark is clear; the mutex orders this thread's calls before those
        // of the next thread to hold the mark.
        SPARE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(self.0);
    }
}

thread_local! {
    static MARK: MarkOf = MarkOf(
        SPARE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| Box::leak(Box::new(Mark { inside: AtomicUsize::new(0) }))),
    );
}

/// This thread's mark, if it is not inside another end already (and the
/// thread is not exiting).
#[inline]
fn my_mark() -> Option<&'static Mark> {
    MARK.try_with(|m| m.0).ok().filter(|m| m.inside.load(Ordering::Relaxed) == 0)
}

/// An end used by one thread at a time: a second thread's concurrent call
/// is SHMKIT_BUSY rather than a data race.
pub(crate) struct Exclusive<T> {
    /// The mark of the thread that takes the end on the fast path, or
    /// null, or [`NOBODY`].
    owner: AtomicPtr<Mark>,
    /// Held while another thread takes the end over (and, for a thread
    /// with no mark at hand, for its whole call).
    lock: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a `Taken`, which the protocol
// above gives to one thread at a time; the value moves between threads
// with the handle, so it must be `Send`.
unsafe impl<T: Send> Sync for Exclusive<T> {}

/// How a `Taken` holds its end.
enum Hold {
    /// Marked inside by the owner's thread.
    Marked(&'static Mark),
    /// With the end's lock.
    Locked,
}

fn busy() -> Fail {
    Fail::new(SHMKIT_BUSY, "this end is in use by another thread: use an end from one thread at a time")
}

impl<T> Exclusive<T> {
    pub(crate) fn new(value: T) -> Self {
        Exclusive {
            owner: AtomicPtr::new(std::ptr::null_mut()),
            lock: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Takes the end for this thread, or says it is busy.
    #[inline]
    pub(crate) fn take(&self) -> Result<Taken<'_, T>, Fail> {
        if let Some(mark) = my_mark()
            && std::ptr::eq(self.owner.load(Ordering::Relaxed), mark)
        {
            mark.inside.store(self.addr(), Ordering::Relaxed);
            // Pairs with the taker's `asym_cold`: it sees us inside, or we
            // see it as the owner now.
            shmkit::__ffi::asym_hot();
            if std::ptr::eq(self.owner.load(Ordering::Relaxed), mark) {
                return Ok(Taken { end: self, hold: Hold::Marked(mark) });
            }
            mark.inside.store(0, Ordering::Release);
        }
        self.take_over()
    }

    /// The end is not ours (or we have no mark at hand): take it over,
    /// unless its owner is inside a call.
    #[cold]
    fn take_over(&self) -> Result<Taken<'_, T>, Fail> {
        // Acquire: what the previous holder of the lock did happens before.
        if self.lock.swap(true, Ordering::Acquire) {
            return Err(busy());
        }
        let mark = my_mark();
        let me: *const Mark = mark.unwrap_or(&NOBODY);
        // Only a holder of the lock changes the owner: it stays `old`
        // until we do.
        let old = self.owner.load(Ordering::Relaxed);
        if !old.is_null() && !std::ptr::eq(old, me) && !std::ptr::eq(old, &NOBODY) {
            // SAFETY: marks are never freed.
            let old_mark = unsafe { &*old };
            let inside = || old_mark.inside.load(Ordering::Acquire) == self.addr();
            // An owner seen inside already is answered without a barrier
            // for every CPU (a thread that keeps trying while the owner
            // blocks in a call would otherwise send one each time).
            if inside() {
                self.lock.store(false, Ordering::Release);
                return Err(busy());
            }
            self.owner.store(me.cast_mut(), Ordering::SeqCst);
            // Every CPU makes a barrier: the old owner's mark, if it was
            // stored before it, is seen below; if after, the old owner's
            // check sees us. Acquire: its calls happen before ours.
            let paired = shmkit::__ffi::asym_cold();
            if !paired || inside() {
                self.owner.store(old, Ordering::Relaxed);
                self.lock.store(false, Ordering::Release);
                return Err(busy());
            }
        } else {
            self.owner.store(me.cast_mut(), Ordering::Relaxed);
        }
        match mark {
            Some(mark) => {
                // Ours from now on: the owner's path, with the lock given
                // back (a taker checks our mark, as above).
                mark.inside.store(self.addr(), Ordering::Relaxed);
                self.lock.store(false, Ordering::Release);
                Ok(Taken { end: self, hold: Hold::Marked(mark) })
            }
            None => Ok(Taken { end: self, hold: Hold::Locked }),
        }
    }
}

/// The value of an [`Exclusive`], taken until dropped (also when a panic
/// unwinds through its holder).
pub(crate) struct Taken<'a, T> {
    end: &'a Exclusive<T>,
    hold: Hold,
}

impl<T> std::ops::Deref for Taken<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the end is ours (see `take`): no other reference exists.
        unsafe { &*self.end.value.get() }
    }
}

impl<T> std::ops::DerefMut for Taken<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes this the only one.
        unsafe { &mut *self.end.value.get() }
    }
}

impl<T> Drop for Taken<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Release: our use happens before the next holder's.
        match self.hold {
            Hold::Marked(mark) => mark.inside.store(0, Ordering::Release),
            Hold::Locked => self.end.lock.store(false, Ordering::Release),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    /// What a test end holds: the threads inside (never two), and a plain
    /// count of the calls that got in, which a second thread inside would
    /// corrupt.
    #[derive(Default)]
    struct Probe {
        threads: AtomicU32,
        calls: u64,
    }

    /// One call on the end.
    fn inside(e: &Exclusive<Probe>) -> Result<(), Fail> {
        let mut t = e.take()?;
        assert_eq!(t.threads.fetch_add(1, Ordering::SeqCst), 0, "two threads inside one end");
        let calls = t.calls;
        for _ in 0..4 {
            std::hint::spin_loop();
        }
        t.calls = calls + 1;
        assert_eq!(t.threads.fetch_sub(1, Ordering::SeqCst), 1, "two threads inside one end");
        Ok(())
    }

    #[test]
    fn threads_racing_for_one_end_never_are_inside_together() {
        shmkit::__ffi::asym_register();
        let e = Arc::new(Exclusive::new(Probe::default()));
        let start = Arc::new(std::sync::Barrier::new(3));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (e, start) = (e.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    (0..300_000).filter(|_| inside(&e).is_ok()).count() as u64
                })
            })
            .collect();
        let got_in: u64 = threads.into_iter().map(|t| t.join().expect("a thread found another inside the end")).sum();
        // Nothing left taken: the next call gets in; and every call that
        // got in counted once.
        assert!(inside(&e).is_ok());
        assert_eq!(e.take().map(|t| t.calls).ok(), Some(got_in + 1), "calls lost: two threads were inside");
    }

    #[test]
    fn an_end_handed_between_threads_is_never_busy() {
        shmkit::__ffi::asym_register();
        let e = Arc::new(Exclusive::new(Probe::default()));
        // Each thread uses the end, then the next one does: short-lived
        // threads, so marks are given back and reused.
        for round in 0..200 {
            let e2 = e.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    inside(&e2).unwrap_or_else(|_| panic!("busy in round {round}, used by one thread at a time"));
                }
            })
            .join()
            .expect("an end used by one thread at a time was busy");
            inside(&e).expect("busy on the main thread after a joined one");
        }
    }

    #[test]
    fn a_thread_inside_one_end_takes_others_the_slow_way() {
        shmkit::__ffi::asym_register();
        let (a, b) = (Exclusive::new(Probe::default()), Exclusive::new(Probe::default()));
        let ta = a.take().expect("a is free");
        // Inside `a`: `b` is taken with its lock, and cannot be taken again.
        let tb = b.take().expect("b is free");
        assert!(matches!(tb.hold, Hold::Locked));
        assert!(b.take().is_err(), "b is held");
        std::thread::scope(|s| {
            s.spawn(|| assert!(a.take().is_err(), "a is held by the main thread"));
        });
        drop(tb);
        drop(ta);
        // Both free again, from another thread too.
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(a.take().is_ok());
                assert!(b.take().is_ok());
            });
        });
    }
}
