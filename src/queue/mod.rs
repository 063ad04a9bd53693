//! Queues across processes: [`Queue<T>`](crate::Queue) for `T: Pod` messages,
//! [`ByteQueue`] for variable-size byte messages.

mod byte_ring;
pub(crate) mod bytes;
mod errors;
mod slot_ring;
mod typed;

pub use bytes::{ByteQueue, ByteReceiver, ByteSender, ReadGrant, WriteGrant};
pub use errors::{
    ByteRecvError, ByteSendError, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TaskDoneError,
    TryRecvError, TrySendError,
};
pub use typed::{Queue, Receiver, Sender};

#[cfg(not(loom))]
#[doc(hidden)]
pub use slot_ring::fuzz_ring;

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
#[cfg(not(loom))]
#[doc(hidden)]
pub use byte_ring::fuzz_byte_ring;
