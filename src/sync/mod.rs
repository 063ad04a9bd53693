//! Synchronization primitives shared between processes.

pub(crate) mod barrier;
pub(crate) mod mutex;
pub(crate) mod raw_mutex;
pub(crate) mod rwlock;
