//! Queues across processes: [`Queue<T>`](crate::Queue) for `T: Pod` messages,
//! [`ByteQueue`] for variable-size byte messages.

pub(crate) mod bytes;
mod errors;
mod ring;
mod spsc;
mod typed;

pub use bytes::{ByteQueue, ByteReceiver, ByteSender, ReadGrant, WriteGrant};
pub use errors::{
    ByteRecvError, ByteSendError, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TaskDoneError,
    TryRecvError, TrySendError,
};
pub use typed::{Queue, Receiver, Sender};

#[cfg(not(loom))]
#[doc(hidden)]
pub use ring::fuzz_ring;
#[cfg(not(loom))]
#[doc(hidden)]
pub use spsc::fuzz_byte_ring;
