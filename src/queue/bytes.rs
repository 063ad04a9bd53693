//! [`ByteQueue`]: variable-size messages from one sending process to one
//! receiving process, copied or zero-copy.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::SharedHandle;
use super::byte_ends::{ByteRings, Rx, Tx, byte_forms, recv_forms, ring_capacity, send_forms};
use super::byte_ring::{self, Record, Reserved};
use super::errors::{ByteRecvError, ByteSendError};
use crate::error::Error;
use crate::handle::{Handle, handle_api};
use crate::wait::{Deadline, WaitStrategy};

/// The mapping of a queue's ring, shared by its handle and its ends in this
/// process.
type Shared = Handle<ByteRings<1>>;

/// A queue of variable-size byte messages, shared by name, from one
/// [`ByteSender`] to one [`ByteReceiver`] (each in any process). The
/// messages are length-prefixed records in a ring of bytes: a send is a copy
/// and one index store, with no syscall unless the other end sleeps.
///
/// Zero-copy both ways: [`ByteSender::reserve`] hands out the ring's memory
/// to write a message in place, [`ByteReceiver::recv_ref`] to read one in
/// place. Batch forms publish (or free) many messages with one index update.
///
/// Each end is held by one endpoint at a time: [`ByteQueue::sender`] fails
/// with [`Error::Busy`] while a live endpoint holds the sending end, and
/// takes over the end of a holder that died. A sender killed mid-message
/// leaves nothing torn: its unfinished message is never seen. A receive on
/// an empty queue whose sender has gone returns
/// [`ByteRecvError::Disconnected`] (before any sender ever attached it
/// waits); a send whose receiver has gone returns
/// [`ByteSendError::Disconnected`]: at once if the receiver was dropped, and
/// if it died, within 1024 sends or as soon as the ring is full (the check
/// costs a syscall, so it is not made on every send).
///
/// ```
/// use shmkit::ByteQueue;
/// # let name = format!("doc-bytequeue-{}", std::process::id());
/// let q = ByteQueue::create(&name, 64 * 1024)?;
/// let mut tx = ByteQueue::open(&name)?.sender()?; // in a producer process
/// let mut rx = q.receiver()?;                      // in a consumer process
/// tx.send(b"hello").unwrap();
/// let mut grant = tx.reserve(3).unwrap();          // write in place
/// grant.copy_from_slice(b"abc");
/// grant.commit();
/// assert_eq!(rx.recv().unwrap(), b"hello");
/// assert_eq!(&*rx.recv_ref().unwrap(), b"abc");   // read in place
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct ByteQueue(SharedHandle<Shared>);

handle_api! {
    impl[] ByteQueue, "queue", " with a ring of `capacity_bytes` (rounded up to a power of two, at least 64, at most 2 GiB); each message takes its length rounded up to 8, plus 8 bytes";
    wrap(|handle| ByteQueue(SharedHandle::new(handle)));
    create(capacity_bytes: usize) => (ring_capacity(capacity_bytes)?, ());
    waits;
}

impl ByteQueue {
    /// The ring's size in bytes.
    pub fn capacity(&self) -> usize {
        self.0.shared.ring_cap() as usize
    }

    /// The longest message the queue carries: the capacity less 8 bytes.
    pub fn max_message_len(&self) -> usize {
        byte_ring::max_message(self.0.shared.ring_cap()) as usize
    }

    /// Bytes of published messages not yet received (a snapshot, headers
    /// and padding included).
    pub fn used_bytes(&self) -> usize {
        self.0.shared.ring(0).used() as usize
    }

    /// Whether the queue looks empty now.
    pub fn is_empty(&self) -> bool {
        self.used_bytes() == 0
    }

    /// Takes the sending end, with this handle's wait strategy.
    ///
    /// # Errors
    /// [`Error::Busy`] if a live endpoint (this process's included) holds
    /// it; [`Error::Corrupt`] if the ring's indices are impossible.
    pub fn sender(&self) -> Result<ByteSender, Error> {
        let shared = &self.0.shared;
        let tx = Tx::claim(shared.ring(0), shared.segment(), self.0.strategy)?;
        Ok(ByteSender { shared: shared.clone(), tx })
    }

    /// Takes the receiving end, with this handle's wait strategy.
    ///
    /// # Errors
    /// As [`ByteQueue::sender`].
    pub fn receiver(&self) -> Result<ByteReceiver, Error> {
        let shared = &self.0.shared;
        let rx = Rx::claim(shared.ring(0), shared.segment(), self.0.strategy)?;
        Ok(ByteReceiver { shared: shared.clone(), rx })
    }
}

impl fmt::Debug for ByteQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteQueue").field("name", &self.name()).field("capacity", &self.capacity()).finish()
    }
}

/// What the two ends of a [`ByteQueue`] have alike, written once for
/// [`ByteSender`] and [`ByteReceiver`]: the end (the handle's `Arc` and
/// the half of the ring it holds), the wait strategy, the snapshot of the
/// ring, giving the end up on drop, and `Debug`.
macro_rules! byte_end {
    ($(#[$doc:meta])* $end:ident($half:ident: $Half:ty), $blocks:literal) => {
        $(#[$doc])*
        pub struct $end {
            shared: Arc<Shared>,
            $half: $Half,
        }

        // SAFETY: the cursor points into the mapping the Arc keeps alive;
        // the end is held by this endpoint alone, whichever thread uses it.
        unsafe impl Send for $end {}

        impl $end {
            #[doc = concat!("Sets how this endpoint waits when the queue is ", $blocks, ".")]
            pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
                self.$half.strategy = strategy;
                self
            }

            /// The ring's size in bytes.
            pub fn capacity(&self) -> usize {
                self.shared.ring_cap() as usize
            }

            /// Bytes of published messages not yet received (a snapshot,
            /// headers and padding included).
            pub fn used_bytes(&self) -> usize {
                self.shared.ring(0).used() as usize
            }

            /// Whether the queue looks empty now.
            pub fn is_empty(&self) -> bool {
                self.used_bytes() == 0
            }
        }

        impl Drop for $end {
            fn drop(&mut self) {
                self.$half.release(self.shared.segment());
            }
        }

        impl fmt::Debug for $end {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($end)).field("queue", &self.shared.name()).finish_non_exhaustive()
            }
        }
    };
}

byte_end!(
    /// The sending end of a [`ByteQueue`]. Move it to another thread if
    /// needed; it is not shared.
    ByteSender(tx: Tx), "full"
);

byte_end!(
    /// The receiving end of a [`ByteQueue`]. Move it to another thread if
    /// needed; it is not shared.
    ///
    /// A `try_` receive on an empty queue is cheap: a sender that let go of
    /// its end gives `Disconnected` at once, one that died on one call in
    /// 1024 (the check is a syscall).
    ByteReceiver(rx: Rx), "empty"
);

impl ByteSender {
    /// The longest message this queue carries.
    pub fn max_message_len(&self) -> usize {
        self.tx.max()
    }

    send_forms!();

    /// Sends every message of `msgs` in order, waiting for room as needed,
    /// and publishes them in as few index updates as the room allows (one,
    /// when they all fit): much faster than one `send` each for small
    /// messages. Returns how many were sent.
    ///
    /// # Errors
    /// As [`ByteSender::send`]; the messages before the one that failed were
    /// sent. A message too large fails the batch before anything is sent.
    pub fn send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M]) -> Result<usize, ByteSendError> {
        let (sent, res) =
            self.tx.send_batch_until(self.shared.segment(), msgs.len(), |i| msgs[i].as_ref(), Deadline::Never);
        res.map(|()| sent)
    }

    /// Sends the longest prefix of `msgs` that fits now, with one index
    /// update; returns how many were sent (0 if none fit).
    ///
    /// # Errors
    /// [`ByteSendError::Disconnected`], [`ByteSendError::TooLarge`] or
    /// [`ByteSendError::Corrupt`], with nothing sent.
    pub fn try_send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M]) -> Result<usize, ByteSendError> {
        self.send_batch_partly(msgs, Deadline::Now)
    }

    /// [`ByteSender::send_batch`], waiting at most `timeout` for room in
    /// all; returns how many were sent (fewer than `msgs.len()` if the time
    /// ran out).
    ///
    /// # Errors
    /// As [`ByteSender::try_send_batch`].
    pub fn send_batch_timeout<M: AsRef<[u8]>>(
        &mut self,
        msgs: &[M],
        timeout: Duration,
    ) -> Result<usize, ByteSendError> {
        self.send_batch_partly(msgs, Deadline::after(timeout))
    }

    /// [`ByteSender::send_batch`], waiting until `deadline` at most for
    /// room; returns how many were sent (fewer than `msgs.len()` if the
    /// time ran out).
    ///
    /// # Errors
    /// As [`ByteSender::try_send_batch`].
    pub fn send_batch_deadline<M: AsRef<[u8]>>(
        &mut self,
        msgs: &[M],
        deadline: Instant,
    ) -> Result<usize, ByteSendError> {
        self.send_batch_partly(msgs, Deadline::At(deadline))
    }

    /// Sends what it can of `msgs` until `deadline`: an error only when
    /// nothing was sent, and not for a lack of room or time.
    fn send_batch_partly<M: AsRef<[u8]>>(&mut self, msgs: &[M], deadline: Deadline) -> Result<usize, ByteSendError> {
        match self.tx.send_batch_until(self.shared.segment(), msgs.len(), |i| msgs[i].as_ref(), deadline) {
            (sent, Err(ByteSendError::Full | ByteSendError::Timeout)) => Ok(sent),
            (0, Err(e)) => Err(e),
            (sent, _) => Ok(sent),
        }
    }
}

/// Room for one message in a byte ring (a [`ByteQueue`]'s or a
/// [`Pipe`](crate::Pipe)'s), written in place: it derefs to the message's
/// bytes. [`WriteGrant::commit`] sends it; dropping
/// the grant uncommitted abandons it.
pub struct WriteGrant<'a> {
    tx: &'a mut Tx,
    r: Reserved,
    done: bool,
}

impl<'a> WriteGrant<'a> {
    /// The grant of `r`, just reserved by `tx`.
    #[inline]
    pub(crate) fn new(tx: &'a mut Tx, r: Reserved) -> Self {
        WriteGrant { tx, r, done: false }
    }

    /// Sends the message.
    #[inline]
    pub fn commit(mut self) {
        self.tx.prod.publish();
        self.done = true;
    }

    /// Sends only the first `len` bytes (`len` is capped at the reserved
    /// length): for a message whose size is known once written.
    pub fn commit_len(mut self, len: usize) {
        self.tx.prod.shrink(self.r, len);
        self.tx.prod.publish();
        self.done = true;
    }
}

impl Deref for WriteGrant<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the grant borrows the sender, so no other reservation,
        // publish or rollback happens while this slice lives; the bytes are
        // unpublished and ours alone.
        unsafe { &*self.tx.prod.payload_ptr(self.r) }
    }
}

impl DerefMut for WriteGrant<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref; we hold the grant mutably.
        unsafe { &mut *self.tx.prod.payload_ptr(self.r) }
    }
}

impl Drop for WriteGrant<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.tx.prod.rollback();
        }
    }
}

impl fmt::Debug for WriteGrant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteGrant").field("len", &self.len()).finish()
    }
}

impl ByteSender {
    /// The ring it writes and the handle of its mapping (for `send_async`).
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn send_ring_parts(&self) -> (&super::byte_ring::ByteRing, &Arc<Shared>) {
        (self.tx.ring(), &self.shared)
    }
}

impl ByteReceiver {
    /// The ring it reads and the handle of its mapping (for `wait_any`).
    pub(super) fn ring_parts(&self) -> (&super::byte_ring::ByteRing, &Arc<Shared>) {
        (self.rx.ring(), &self.shared)
    }

    /// A blocking iterator over the messages: each `next` is a
    /// [`recv`](ByteReceiver::recv), and the iteration ends at the end of
    /// the stream (the sender is gone and everything it sent was received),
    /// or at a corrupted ring.
    ///
    /// ```
    /// # let name = format!("doc-bytequeue-iter-{}", std::process::id());
    /// let q = shmkit::ByteQueue::create(&name, 1024)?;
    /// let (mut tx, mut rx) = (q.sender()?, q.receiver()?);
    /// tx.send_batch(&[&b"ab"[..], b"c"]).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [b"ab".to_vec(), b"c".to_vec()]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter(&mut self) -> ByteIter<'_> {
        ByteIter { rx: self }
    }

    /// An iterator over the messages there now: each `next` is a
    /// [`try_recv`](ByteReceiver::try_recv), and the iteration ends when the
    /// queue is empty (or at the end of the stream, or a corrupted ring).
    pub fn try_iter(&mut self) -> ByteTryIter<'_> {
        ByteTryIter { rx: self }
    }

    recv_forms!();

    byte_forms! {
        &mut self, "[`ByteRecvError::Empty`]", "[`ByteRecvError::Timeout`]";

        /// Waits for a message, then hands each message there (up to
        /// `max`) to `f` in place, and frees them all with one index
        /// update. Returns how many were handled.
        ///
        /// # Errors
        /// As [`ByteReceiver::recv`], when no message was handled.
        recv_batch / try_recv_batch / recv_batch_timeout / recv_batch_deadline [F: FnMut(&[u8])]
        (max: usize, f: F) -> Result<usize, ByteRecvError>
            = |d| self.rx.recv_batch_until(self.shared.segment(), max, d, f);
    }
}

/// A message read in place from a byte ring (a [`ByteQueue`]'s or a
/// [`Pipe`](crate::Pipe)'s): it derefs to the message's bytes, which are
/// freed for the sender when it is dropped.
pub struct ReadGrant<'a> {
    rx: &'a mut Rx,
    r: Record,
}

impl<'a> ReadGrant<'a> {
    /// The grant of `r`, just found by `rx`.
    #[inline]
    pub(crate) fn new(rx: &'a mut Rx, r: Record) -> Self {
        ReadGrant { rx, r }
    }
}

impl Deref for ReadGrant<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.rx.payload(self.r)
    }
}

impl Drop for ReadGrant<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.rx.done(self.r);
    }
}

impl fmt::Debug for ReadGrant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGrant").field("len", &self.len()).finish()
    }
}

super::receiver_iter!(
    /// A blocking iterator over a [`ByteReceiver`]'s messages, made by
    /// [`ByteReceiver::iter`]: ends at the end of the stream.
    ByteIter<'a>(&'a mut ByteReceiver) -> Vec<u8> = recv
);

super::receiver_iter!(
    /// A non-blocking iterator over a [`ByteReceiver`]'s messages, made by
    /// [`ByteReceiver::try_iter`]: ends when the queue is empty.
    ByteTryIter<'a>(&'a mut ByteReceiver) -> Vec<u8> = try_recv
);
