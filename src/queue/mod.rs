//! Queues across processes: [`Queue<T>`](crate::Queue) for `T: ShmType` messages,
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
//! - `broadcast.rs`: [`Broadcast`] and [`ByteBroadcast`], one publisher and
//!   any number of subscribers, each seeing every message;
//! - `message.rs`: [`MessageQueue`] and its ends: variable-size byte
//!   messages for any number of senders and receivers, on the multi-producer
//!   flavour over slots of a size chosen at create;
//! - `described.rs`: [`DynQueue`](crate::dynamic::DynQueue), a `Queue` of a
//!   type described at run time, on both flavours;
//! - `endpoint.rs`: who holds which end, liveness of the other side, attach;
//! - `waits.rs`: the futex words and the wait loop of every ring;
//! - `errors.rs`: the error types.

#![deny(missing_debug_implementations)]

pub(crate) mod broadcast;
pub(crate) mod byte_ends;
pub(crate) mod byte_ring;
mod bytes;
mod channel;
pub(crate) mod described;
mod endpoint;
mod errors;
mod message;
mod mpmc;
pub(crate) mod ready;
mod slot_ring;
mod spsc;
mod typed;
mod waits;

pub use broadcast::{
    Broadcast, BroadcastRecvError, BroadcastSendError, ByteBroadcast, BytePublisher, ByteSubscriber,
    MAX_BROADCAST_CAPACITY, MAX_BROADCAST_MESSAGE, Policy, Publisher, Subscriber,
};
pub use bytes::{ByteIter, ByteQueue, ByteReceiver, ByteSender, ByteTryIter, ReadGrant, WriteGrant};
pub use channel::{Iter, Receiver, Sender, TryIter};
pub use errors::{
    ByteRecvError, ByteSendError, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TaskDoneError,
    TryRecvError, TrySendError,
};
pub use message::{MAX_MESSAGE_LEN, MessageQueue, MessageReceiver, MessageSender};
pub use typed::Queue;

pub(crate) use endpoint::note_death_seen;

#[cfg(all(any(test, fuzzing), not(loom)))]
#[doc(hidden)]
pub use byte_ring::fuzz_byte_ring;
#[cfg(all(any(test, fuzzing), not(loom)))]
#[doc(hidden)]
pub use slot_ring::fuzz_ring;

use std::sync::Arc;

use crate::primitive::AtomicU64;
use crate::segment::RawSegment;
use crate::wait::WaitStrategy;

/// The handle of a queue object whose endpoints share its mapping (a
/// [`Queue`]'s [`Shared`](typed) state, a [`ByteQueue`]'s or a
/// [`Pipe`](crate::Pipe)'s [`Handle`](crate::handle::Handle)): each
/// endpoint keeps a clone of the `Arc`, and starts with the wait strategy
/// of the handle that made it.
#[derive(Debug)]
pub(crate) struct SharedHandle<X> {
    pub(crate) shared: Arc<X>,
    pub(crate) strategy: WaitStrategy,
}

impl<X: AsRef<RawSegment>> SharedHandle<X> {
    pub(crate) fn new(shared: X) -> Self {
        SharedHandle { shared: Arc::new(shared), strategy: WaitStrategy::default() }
    }

    /// The segment name.
    pub(crate) fn name(&self) -> &str {
        (*self.shared).as_ref().name()
    }

    /// Keeps the name after this (creating) handle is dropped.
    pub(crate) fn persist(&self) {
        (*self.shared).as_ref().persist();
    }

    /// The wait strategy of the endpoints made from now on.
    pub(crate) fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }
}

/// Writes an iterator over a receiver's messages, each `next` one call of
/// `$call` (`recv` or `try_recv`), whose error ends it.
macro_rules! receiver_iter {
    ($(#[$doc:meta])* $name:ident<$lt:lifetime $(, $T:ident)?>($rx:ty) -> $item:ty = $call:ident) => {
        $(#[$doc])*
        pub struct $name<$lt $(, $T: crate::ShmType)?> {
            rx: $rx,
        }

        impl<$($T: crate::ShmType)?> Iterator for $name<'_ $(, $T)?> {
            type Item = $item;

            fn next(&mut self) -> Option<$item> {
                self.rx.$call().ok()
            }
        }

        impl<$($T: crate::ShmType)?> std::fmt::Debug for $name<'_ $(, $T)?> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("rx", &self.rx).finish()
            }
        }
    };
}
use receiver_iter;

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
