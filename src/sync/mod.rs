//! Synchronization primitives shared between processes.

pub(crate) mod barrier;
pub(crate) mod condvar;
pub(crate) mod event;
pub(crate) mod mutex;
pub(crate) mod raw_mutex;
pub(crate) mod rwlock;
pub(crate) mod semaphore;
