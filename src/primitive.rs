//! Facade for atomics, spin hints and futex waits.
//!
//! Every atomic and futex call of the synchronization primitives comes from
//! here, so that their logic can be model-checked with loom
//! (`RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --lib loom`).
//! Under loom the
//! futex is emulated with a loom mutex and condition variable: a wait without
//! timeout really blocks, so a lost wake-up shows up as a deadlock in the
//! model; a wait with a timeout only yields (it may return at any time, as a
//! real timed futex wait may).
//!
//! The segment layer (header, registry) uses std atomics directly: it is not
//! model-checked, and its words always live in a mapping.

use std::time::Duration;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Asymmetric barriers for the store-then-check handshake between a hot
/// side (publishes an index, then checks whether its peer sleeps) and a cold
/// side (counts itself as a sleeper, then re-checks the index): either the
/// hot side sees the sleeper or the sleeper sees the index.
///
/// The handshake needs a full barrier between the store and the load on
/// both sides. With Linux's `membarrier(GLOBAL_EXPEDITED)` the cold side,
/// which is about to sleep anyway, pays for both: it makes every CPU running
/// a registered process execute a barrier, so the hot side needs only a
/// compiler barrier. Without it (old kernel, seccomp), both sides fence.
pub(crate) mod asym {
    #[cfg(not(loom))]
    use std::sync::atomic::{AtomicU8, Ordering};

    /// 0: not asked yet; 1: this process is registered; 2: it is not.
    #[cfg(not(loom))]
    static REGISTERED: AtomicU8 = AtomicU8::new(0);

    /// Registers this process (once): call before using `hot` on a path
    /// whose peer relies on it.
    pub(crate) fn register() {
        #[cfg(not(loom))]
        if REGISTERED.load(Ordering::Acquire) == 0 {
            let ok = crate::sys::membarrier_register();
            REGISTERED.store(if ok { 1 } else { 2 }, Ordering::Release);
        }
    }

    /// Whether `hot` is a compiler barrier only (this process registered).
    pub(crate) fn registered() -> bool {
        #[cfg(not(loom))]
        return REGISTERED.load(Ordering::Acquire) == 1;
        #[cfg(loom)]
        return false;
    }

    /// The hot side's barrier, between its index store and its sleeper
    /// check.
    #[inline]
    pub(crate) fn hot() {
        #[cfg(not(loom))]
        if REGISTERED.load(Ordering::Relaxed) == 1 {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            return;
        }
        super::fence(super::Ordering::SeqCst);
    }

    /// The cold side's barrier, between its sleeper count and its re-check.
    /// `false` if the hot side may have skipped its fence and this one could
    /// not make up for it: then the caller must not sleep long.
    pub(crate) fn cold() -> bool {
        super::fence(super::Ordering::SeqCst);
        #[cfg(not(loom))]
        return crate::sys::membarrier_global();
        #[cfg(loom)]
        return true;
    }
}

/// The `SeqCst` fence of a handshake whose accesses are all `SeqCst`
/// ("announce, then look at the other side" on both sides). The C++ model
/// orders `SeqCst` accesses totally, so real hardware needs no fence (on x86
/// a `SeqCst` RMW is a full barrier and a `SeqCst` load a plain load). Loom
/// treats `SeqCst` accesses as `AcqRel` but models `SeqCst` fences exactly,
/// so under loom this is a fence: the models check the same protocol.
#[inline(always)]
pub(crate) fn model_fence() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}

/// Declares functions that are `const` except under loom, whose atomics have
/// no `const` constructor (crossbeam-utils' `const_fn!` does the same).
macro_rules! const_unless_loom {
    ($($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block)*) => {$(
        $(#[$attr])*
        #[cfg(not(loom))]
        $vis const fn $name($($arg: $ty),*) -> $ret $body

        $(#[$attr])*
        #[cfg(loom)]
        $vis fn $name($($arg: $ty),*) -> $ret $body
    )*};
}
pub(crate) use const_unless_loom;

/// A hint to the CPU that we are spinning.
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Blocks while `*word == expected`, at most `timeout`; may return early for
/// any reason. See [`crate::sys::futex_wait`].
#[inline]
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    #[cfg(not(loom))]
    crate::sys::futex_wait(word, expected, timeout);
    #[cfg(loom)]
    model::wait(word, expected, timeout);
}

/// Wakes up to `count` waiters on `word`, in any process.
#[inline]
pub(crate) fn futex_wake(word: &AtomicU32, count: u32) -> usize {
    #[cfg(not(loom))]
    return crate::sys::futex_wake(word, count);
    #[cfg(loom)]
    return model::wake(word, count);
}

#[cfg(loom)]
mod model {
    use super::{AtomicU32, Duration, Ordering};
    use loom::sync::{Condvar, Mutex};

    loom::lazy_static! {
        static ref LOT: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
    }

    pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        let (lock, cv) = &*LOT;
        let guard = lock.lock().unwrap();
        // The check and the sleep are atomic with respect to wake(), which
        // takes the same lock: this is the futex contract.
        if word.load(Ordering::SeqCst) != expected {
            return;
        }
        if timeout.is_some() {
            drop(guard);
            loom::thread::yield_now();
            return;
        }
        drop(cv.wait(guard).unwrap());
    }

    pub fn wake(_word: &AtomicU32, count: u32) -> usize {
        let (lock, cv) = &*LOT;
        let _guard = lock.lock().unwrap();
        // Waking everyone is allowed: futex waiters re-check their condition.
        cv.notify_all();
        count as usize
    }
}
