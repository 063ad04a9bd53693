//! The only layer that talks to the operating system.
//!
//! One implementation per OS, chosen at compile time (as memmap2 does).

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod os;

#[cfg(not(target_os = "linux"))]
compile_error!("shmkit supports Linux only so far (futexes and OFD locks)");

pub use os::*;
