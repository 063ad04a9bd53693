//! Queues across processes: [`Queue<T>`](crate::Queue) for `T: Pod` messages,
//! [`ByteQueue`] for variable-size byte messages.
//!
//! # Layout of the module
//!
//! As crossbeam-channel's `flavors/`, one file per algorithm, and the public
//! types choose among them:
//!
//! - `typed.rs`: [`Queue`], the handle — its layout and constructors;
//! - `channel.rs`: [`Sender`] and [`Receiver`], which hold one flavour each:
//!   - `mpmc.rs`: any number of senders and receivers, slots claimed by CAS;
//!   - `spsc.rs`: one sender and one receiver at a time
//!     ([`Queue::create_spsc`]), no read-modify-write on the fast path;
//! - `slot_ring.rs`: the ring of slots both flavours share;
//! - `bytes.rs`: [`ByteQueue`] and its ends; `byte_ends.rs`: the sending and
//!   receiving halves of a byte ring (also behind [`Pipe`](crate::Pipe));
//!   `byte_ring.rs`: the ring of length-prefixed records;
//! - `endpoint.rs`: who holds which end, liveness of the other side, attach;
//! - `waits.rs`: the futex words and the wait loop of every ring;
//! - `errors.rs`: the error types.

#![deny(missing_debug_implementations)]

pub(crate) mod byte_ends;
mod byte_ring;
mod bytes;
mod channel;
mod endpoint;
mod errors;
mod mpmc;
mod slot_ring;
mod spsc;
mod typed;
mod waits;

pub use bytes::{ByteIter, ByteQueue, ByteReceiver, ByteSender, ByteTryIter, ReadGrant, WriteGrant};
pub use channel::{Iter, Receiver, Sender, TryIter};
pub use errors::{
    ByteRecvError, ByteSendError, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TaskDoneError,
    TryRecvError, TrySendError,
};
pub use typed::Queue;

#[cfg(all(any(test, fuzzing), not(loom)))]
#[doc(hidden)]
pub use byte_ring::fuzz_byte_ring;
#[cfg(all(any(test, fuzzing), not(loom)))]
#[doc(hidden)]
pub use slot_ring::fuzz_ring;

use crate::primitive::AtomicU64;

/// One cache line holding one index (a 64-bit position that only grows), so
/// that the two sides of a ring do not share a line.
#[repr(C, align(64))]
pub(crate) struct Index {
    pub(crate) pos: AtomicU64,
}

/// Test support: fills `buf` with pseudo-random bytes (xorshift64 from
/// `state`) and returns the last state word.
#[cfg(all(test, not(loom)))]
pub(crate) fn fill_random(buf: &mut [u8], state: &mut u64) -> u64 {
    for b in buf.iter_mut() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *b = *state as u8;
    }
    *state
}
