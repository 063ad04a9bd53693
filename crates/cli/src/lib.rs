//! The `shmkit` command-line tool's library: the multi-process benchmark
//! harness behind `shmkit bench`, usable from tests and other programs.
//!
//! It reaches shmkit only through the library's public API, like any other
//! user, and keeps its own system calls (CPU pinning, descriptor passing,
//! signal flags, the libc primitives it compares against) out of the
//! library. See [`bench`](mod@bench) for how a run works.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

pub mod bench;
mod sys;
