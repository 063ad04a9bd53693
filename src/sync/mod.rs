//! Synchronization primitives shared between processes.

pub(crate) mod event;
pub(crate) mod mutex;
pub(crate) mod raw_mutex;
