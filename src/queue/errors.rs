//! Errors of queue operations. They hand the value back, and their `Debug`
//! does not require `T: Debug`.

use std::fmt;

macro_rules! value_error {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $msg:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(PartialEq, Eq, Clone, Copy)]
        pub enum $name<T> {
            $($(#[$vdoc])* $variant(T),)*
        }

        impl<T> $name<T> {
            /// The value that was not sent.
            pub fn into_inner(self) -> T {
                match self {
                    $($name::$variant(v) => v,)*
                }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str(concat!(stringify!($variant), "(..)")),)*
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str($msg),)*
                }
            }
        }

        impl<T> std::error::Error for $name<T> {}
    };
}

value_error!(
    /// `send` failed: every receiver is gone. Holds the value.
    SendError {
        /// Every receiver has gone (dropped, exited or died).
        Disconnected => "sending on a queue whose receivers have all gone",
    }
);

value_error!(
    /// `try_send` failed. Holds the value.
    TrySendError {
        /// The queue is full.
        Full => "sending on a full queue",
        /// Every receiver has gone.
        Disconnected => "sending on a queue whose receivers have all gone",
    }
);

value_error!(
    /// `send_timeout` failed. Holds the value.
    SendTimeoutError {
        /// The queue stayed full until the deadline.
        Timeout => "timed out sending on a full queue",
        /// Every receiver has gone.
        Disconnected => "sending on a queue whose receivers have all gone",
    }
);

/// Writes an error with no value to hand back: a unit struct, or an enum
/// of unit variants, each with its message.
macro_rules! unit_error {
    ($(#[$doc:meta])* struct $name:ident => $msg:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($msg)
            }
        }

        impl std::error::Error for $name {}
    };
    ($(#[$doc:meta])* enum $name:ident { $($(#[$vdoc:meta])* $variant:ident => $msg:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $($name::$variant => $msg,)*
                })
            }
        }

        impl std::error::Error for $name {}
    };
}

unit_error!(
    /// `recv` failed: the queue is empty and every sender is gone.
    struct RecvError => "receiving on an empty queue whose senders have all gone"
);

unit_error!(
    /// `try_recv` failed.
    enum TryRecvError {
        /// Nothing to receive now.
        Empty => "receiving on an empty queue",
        /// Empty, and every sender has gone.
        Disconnected => "receiving on an empty queue whose senders have all gone",
    }
);

unit_error!(
    /// `recv_timeout` failed.
    enum RecvTimeoutError {
        /// Nothing arrived before the deadline.
        Timeout => "timed out receiving on an empty queue",
        /// Empty, and every sender has gone.
        Disconnected => "receiving on an empty queue whose senders have all gone",
    }
);

unit_error!(
    /// `task_done` was called more times than messages were sent, or on a
    /// queue not created joinable.
    struct TaskDoneError => "task_done called more times than messages were sent (or the queue is not joinable)"
);

/// A send on a [`ByteSender`](crate::ByteSender) or a
/// [`Connection`](crate::Connection) failed. The message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ByteSendError {
    /// No room now (`try_` forms).
    Full,
    /// No room before the deadline (`_timeout` forms).
    Timeout,
    /// The receiving end is gone: released, or its process exited or died.
    Disconnected,
    /// The message is longer than the ring can ever hold.
    TooLarge {
        /// The message length.
        len: usize,
        /// The longest message this ring carries.
        max: usize,
    },
    /// The message is not one element of a
    /// [`DynQueue`](crate::dynamic::DynQueue): its length differs from the
    /// element's size.
    WrongSize {
        /// The message length.
        len: usize,
        /// The size of the queue's element.
        expected: usize,
    },
    /// The ring's shared indices are impossible: its memory was corrupted.
    Corrupt(String),
}

impl fmt::Display for ByteSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ByteSendError::Full => f.write_str("sending on a full queue"),
            ByteSendError::Timeout => f.write_str("timed out sending on a full queue"),
            ByteSendError::Disconnected => f.write_str("sending on a queue whose receiver has gone"),
            ByteSendError::TooLarge { len, max } => {
                write!(f, "a message of {len} bytes is longer than the queue carries ({max} bytes)")
            }
            ByteSendError::WrongSize { len, expected } => {
                write!(f, "a message of {len} bytes cannot be sent as an element of {expected} bytes")
            }
            ByteSendError::Corrupt(why) => write!(f, "corrupted queue: {why}"),
        }
    }
}

impl std::error::Error for ByteSendError {}

/// A receive on a [`ByteReceiver`](crate::ByteReceiver) or a
/// [`Connection`](crate::Connection) failed. Nothing was consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ByteRecvError {
    /// Nothing to receive now (`try_` forms).
    Empty,
    /// Nothing arrived before the deadline (`_timeout` forms).
    Timeout,
    /// End of stream: empty, and the sending end is gone (released, or its
    /// process exited or died).
    Disconnected,
    /// The buffer given to a `recv_into` form is shorter than the next
    /// message, which stays queued.
    BufferTooSmall {
        /// The length of the next message.
        len: usize,
    },
    /// The message has a different size than the type asked for; it was
    /// consumed. (From a [`DynQueue`](crate::dynamic::DynQueue)'s receiver:
    /// the buffer is not one element long, and nothing was consumed.)
    WrongSize {
        /// The message length (the buffer's, from a `DynQueue`).
        len: usize,
        /// The size of the type asked for.
        expected: usize,
    },
    /// The ring's shared indices or a record header are impossible: its
    /// memory was corrupted.
    Corrupt(String),
}

impl fmt::Display for ByteRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ByteRecvError::Empty => f.write_str("receiving on an empty queue"),
            ByteRecvError::Timeout => f.write_str("timed out receiving on an empty queue"),
            ByteRecvError::Disconnected => f.write_str("end of stream: the sender has gone and nothing is left"),
            ByteRecvError::BufferTooSmall { len } => {
                write!(f, "the next message has {len} bytes, more than the buffer holds")
            }
            ByteRecvError::WrongSize { len, expected } => {
                write!(f, "a message of {len} bytes cannot be read as a value of {expected} bytes")
            }
            ByteRecvError::Corrupt(why) => write!(f, "corrupted queue: {why}"),
        }
    }
}

impl std::error::Error for ByteRecvError {}
