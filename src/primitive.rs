//! Facade for atomics and spin hints.
//!
//! Every atomic the crate uses comes from here, so that the lock-free logic
//! can be model-checked with loom (`RUSTFLAGS="--cfg loom"`). Note that the
//! state placed in a mapping is only ever built with the std atomics: loom
//! models exercise the same algorithms on heap-allocated state.

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
