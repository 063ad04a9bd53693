//! Facade for atomics, spin hints and futex waits.
//!
//! Every atomic and futex call of the synchronization primitives comes from
//! here, so that their logic can be model-checked with loom
//! (`RUSTFLAGS="--cfg loom" cargo test --release --test loom`). Under loom the
//! futex is emulated with a loom mutex and condition variable: a wait without
//! timeout really blocks, so a lost wake-up shows up as a deadlock in the
//! model; a wait with a timeout only yields (it may return at any time, as a
//! real timed futex wait may).
//!
//! The segment layer (header, registry) uses std atomics directly: it is not
//! model-checked, and its words always live in a mapping.

use std::time::Duration;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, Ordering};

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
