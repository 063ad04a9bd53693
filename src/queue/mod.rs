//! Queues across processes: [`Queue<T>`](crate::Queue) for `T: Pod` messages.

mod errors;
mod ring;
mod typed;

pub use errors::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TaskDoneError, TryRecvError, TrySendError};
pub use typed::{Queue, Receiver, Sender};

#[cfg(not(loom))]
#[doc(hidden)]
pub use ring::fuzz_ring;
