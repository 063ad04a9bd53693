//! [`MessageQueue`]: a bounded queue of variable-size byte messages for any
//! number of senders and receivers in any processes — the multi-producer
//! ring of `mpmc.rs` over slots of a size chosen at create (like
//! Boost.Interprocess's `message_queue` or a POSIX message queue).
//!
//! # Slots
//!
//! Each slot is a [`Stride`] for data of `4 + max_message_len` bytes
//! aligned to 8: the state word, then the message's length as a
//! little-endian `u32` (an atomic, so that a receiver may look at it before
//! it claims the slot), then the message's bytes. The slot protocol is the
//! ring's (`slot_ring.rs`): a sender killed mid-write leaves a claim that is
//! skipped, never a torn message; a receiver killed after its claim leaves
//! the slot to be freed once it is known dead.
//!
//! The length is read from shared memory: a length past `max_message_len`
//! (a corrupted segment) makes the receive consume that slot and answer
//! [`ByteRecvError::Corrupt`], never read past the slot.

use std::fmt;
use std::time::{Duration, Instant};

use super::SharedHandle;
use super::byte_ends::byte_forms;
use super::errors::{ByteRecvError, ByteSendError, RecvTimeoutError, SendTimeoutError, TaskDoneError};
use super::mpmc;
use super::slot_ring::{Message, Reader, SlotLayout, Stride};
use super::typed::{Flavor, Format, QueueHead, QueueParams, Shared};
use crate::error::Error;
use crate::handle::{Handle, handle_api};
use crate::primitive::{AtomicU32, Ordering};
use crate::segment::OpenOptions;
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::shm_type::{ShmLayout, TypeDesc};
use crate::wait::{Deadline, WaitStrategy};

/// Longest message a [`MessageQueue`] may be created for: 1 GiB.
pub const MAX_MESSAGE_LEN: usize = 1 << 30;

/// Bytes of the length before a message's bytes.
const LEN_BYTES: usize = 4;

/// The slots of a message queue: framed bytes of at most `max` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Framed {
    slots: Stride,
    max: u32,
}

impl Framed {
    /// Slots for messages of up to `max_message_len` bytes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] past [`MAX_MESSAGE_LEN`].
    fn new(max_message_len: usize) -> Result<Framed, Error> {
        let slots = Stride::new(LEN_BYTES + max_message_len, 8).filter(|_| max_message_len <= MAX_MESSAGE_LEN);
        let slots = slots
            .ok_or_else(|| Error::InvalidArgument(format!("message length {max_message_len} is not in 0..=2^30")))?;
        Ok(Framed { slots, max: max_message_len as u32 })
    }

    fn max(self) -> usize {
        self.max as usize
    }

    /// The length word of a slot whose data is at `data`.
    ///
    /// # Safety
    /// `data` is the data of a slot of this layout (aligned to 8, inside the
    /// ring).
    unsafe fn len_word<'a>(data: *const u8) -> &'a AtomicU32 {
        // SAFETY: the first 4 bytes of the slot's data, aligned (the
        // caller's contract); an atomic may be read while a sender writes
        // it.
        unsafe { &*data.cast::<AtomicU32>() }
    }

    /// The length of the message in a claimed slot, checked against `max`.
    ///
    /// # Safety
    /// As for [`Framed::len_word`].
    unsafe fn checked_len(self, data: *const u8) -> Result<usize, ByteRecvError> {
        // SAFETY: the caller's contract.
        let len = unsafe { Self::len_word(data) }.load(Ordering::Relaxed) as usize;
        if len > self.max() {
            return Err(ByteRecvError::Corrupt(format!(
                "a message length of {len} bytes in a queue of messages of at most {} bytes",
                self.max
            )));
        }
        Ok(len)
    }
}

impl SlotLayout for Framed {
    #[inline]
    fn stride(self) -> usize {
        self.slots.stride()
    }

    #[inline]
    fn data_offset(self) -> usize {
        self.slots.data_offset()
    }

    #[inline]
    fn align(self) -> usize {
        self.slots.align()
    }
}

impl Format for Framed {
    const KINDS: &'static [ObjectKind] = &[ObjectKind::MessageQueue];
    type Desc = Framed;

    /// The element is `[u8; max_message_len]`: what a slot can hold.
    fn fingerprint(desc: &Framed, capacity: u64) -> Fingerprint {
        let ty = TypeDesc::array(u8::type_desc(), desc.max());
        Fingerprint { elem_size: ty.size, elem_align: ty.align, encoding: ty.encode(), type_name: ty.name, capacity }
    }

    fn slots(desc: &Framed) -> Framed {
        *desc
    }

    fn desc_for_open(name: &str, header: &Header, _template: Option<&Framed>) -> Result<Framed, Error> {
        usize::try_from(header.elem_size).ok().and_then(|max| Framed::new(max).ok()).ok_or_else(|| Error::Corrupt {
            name: name.to_owned(),
            reason: format!("message length {}", header.elem_size),
        })
    }
}

/// A message to send, at most `max` bytes (checked by the sender).
#[derive(Clone, Copy)]
struct Frame<'m>(&'m [u8]);

impl Message<Framed> for Frame<'_> {
    #[inline]
    unsafe fn write(self, layout: Framed, data: *mut u8) {
        debug_assert!(self.0.len() <= layout.max());
        // SAFETY: a claimed slot's data (the caller's contract): its length
        // word, then `max` bytes, of which the message takes `len`.
        unsafe {
            Framed::len_word(data).store(self.0.len() as u32, Ordering::Relaxed);
            crate::copy::copy(self.0.as_ptr(), data.add(LEN_BYTES), self.0.len());
        }
    }
}

/// Reads a message into a new `Vec`.
struct ToVec;

impl Reader<Framed> for ToVec {
    type Out = Result<Vec<u8>, ByteRecvError>;

    unsafe fn read(&mut self, layout: Framed, data: *const u8) -> Self::Out {
        // SAFETY: a claimed slot's data (the caller's contract), `len`
        // checked against the slot's room.
        unsafe {
            let len = layout.checked_len(data)?;
            Ok(crate::copy::to_vec(std::slice::from_raw_parts(data.add(LEN_BYTES), len)))
        }
    }
}

/// Reads a message into a buffer; refuses one longer than the buffer.
struct IntoBuf<'b>(&'b mut [u8]);

impl Reader<Framed> for IntoBuf<'_> {
    type Out = Result<usize, ByteRecvError>;

    fn refuse(&mut self, layout: Framed, data: *const u8) -> Option<Self::Out> {
        // SAFETY: the data of a slot of this layout: its length word may be
        // read at any time (an atomic).
        let len = unsafe { Framed::len_word(data) }.load(Ordering::Relaxed) as usize;
        // A corrupted length is taken (and reported by `read`), so that it
        // does not block the queue.
        (len > self.0.len() && len <= layout.max()).then_some(Err(ByteRecvError::BufferTooSmall { len }))
    }

    unsafe fn read(&mut self, layout: Framed, data: *const u8) -> Self::Out {
        // SAFETY: as in `ToVec::read`.
        let len = unsafe { layout.checked_len(data)? };
        // Checked before the claim; a changed length is impossible while
        // the slot stays published, but a corrupted one is not.
        let dst = self.0.get_mut(..len).ok_or(ByteRecvError::BufferTooSmall { len })?;
        // SAFETY: as in `ToVec::read`.
        unsafe { crate::copy::copy(data.add(LEN_BYTES), dst.as_mut_ptr(), len) };
        Ok(len)
    }
}

/// Hands the message in place to a closure.
struct With<F>(Option<F>);

impl<F: FnOnce(&[u8]) -> R, R> Reader<Framed> for With<F> {
    type Out = Result<R, ByteRecvError>;

    unsafe fn read(&mut self, layout: Framed, data: *const u8) -> Self::Out {
        // SAFETY: as in `ToVec::read`; the slice lives while the slot is
        // claimed, which lasts until this returns.
        let msg = unsafe {
            let len = layout.checked_len(data)?;
            std::slice::from_raw_parts(data.add(LEN_BYTES), len)
        };
        // Called at most once: a reader's `read` runs once per receive.
        let f = self.0.take().ok_or_else(|| ByteRecvError::Corrupt("message read twice".into()))?;
        Ok(f(msg))
    }
}

/// A bounded queue of variable-size byte messages shared by name: any
/// number of [`MessageSender`]s and [`MessageReceiver`]s in any processes,
/// FIFO per sender.
///
/// It holds `capacity` messages of at most `max_message_len` bytes each,
/// in slots of that size (like a POSIX message queue), on the same
/// crash-safe slot protocol as [`Queue`](crate::Queue): a sender killed at
/// any point of a send never makes a receiver see a torn message, and its
/// slot is reclaimed once it is known dead; a receiver killed after it
/// claimed a message leaves that slot to be freed too. Where one sender and
/// one receiver suffice and messages vary widely in size, a
/// [`ByteQueue`](crate::ByteQueue) uses its memory better.
///
/// A receive on an empty queue whose senders have all gone (dropped,
/// exited or killed) returns [`ByteRecvError::Disconnected`]; a send whose
/// receivers have all gone returns [`ByteSendError::Disconnected`].
///
/// ```
/// use shmkit::MessageQueue;
/// # let name = format!("doc-mq-{}", std::process::id());
/// let q = MessageQueue::create(&name, 64, 1024)?;
/// let tx = MessageQueue::open(&name)?.sender()?; // in a producer process
/// let rx = q.receiver()?;                         // in a consumer process
/// tx.send(b"hello").unwrap();
/// tx.send(b"").unwrap();
/// assert_eq!(rx.recv().unwrap(), b"hello");
/// assert_eq!(rx.recv_with(|m| m.len()).unwrap(), 0); // read in place
/// drop(tx);
/// assert!(rx.recv().is_err()); // every sender gone: Disconnected, not a hang
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct MessageQueue(SharedHandle<Shared<Framed>>);

handle_api! {
    impl[] MessageQueue, "message queue", " holding up to `capacity` messages (rounded up to a power of two, at most 2^30) of at most `max_message_len` bytes each (at most 2^30), for any number of senders and receivers";
    wrap(Self::from_handle);
    create(capacity: usize, max_message_len: usize) =>
        (QueueParams::new(capacity, Flavor::Mpmc, false, Framed::new(max_message_len)?)?, ());
    waits;
}

impl MessageQueue {
    fn from_handle(handle: Handle<QueueHead<Framed>>) -> Self {
        MessageQueue(SharedHandle::new(Shared::new(handle)))
    }

    /// Creates a message queue that tracks delivery, like Python's
    /// `JoinableQueue`: every message sent counts as unfinished until a
    /// receiver calls [`MessageReceiver::task_done`] for it, and
    /// [`MessageQueue::join`] waits until none is left.
    ///
    /// # Errors
    /// As [`MessageQueue::create`].
    pub fn create_joinable(name: &str, capacity: usize, max_message_len: usize) -> Result<Self, Error> {
        Self::create_joinable_with(name, capacity, max_message_len, &OpenOptions::default())
    }

    /// [`MessageQueue::create_joinable`] with options.
    ///
    /// # Errors
    /// As [`MessageQueue::create`].
    pub fn create_joinable_with(
        name: &str,
        capacity: usize,
        max_message_len: usize,
        opts: &OpenOptions,
    ) -> Result<Self, Error> {
        let params = QueueParams::new(capacity, Flavor::Mpmc, true, Framed::new(max_message_len)?)?;
        Handle::create_with(name, params, (), opts).map(Self::from_handle)
    }

    fn shared(&self) -> &Shared<Framed> {
        &self.0.shared
    }

    /// How many messages the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.shared().capacity
    }

    /// The longest message the queue carries, in bytes.
    pub fn max_message_len(&self) -> usize {
        self.shared().params().desc.max()
    }

    /// Messages in the queue now (a snapshot; includes ones being written).
    pub fn len(&self) -> usize {
        self.shared().ring().len() as usize
    }

    /// Whether the queue looks empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue looks full now.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Whether the queue tracks delivery (made with
    /// [`MessageQueue::create_joinable`]).
    pub fn is_joinable(&self) -> bool {
        self.shared().joinable()
    }

    /// Waits until every message sent has been marked done with
    /// [`MessageReceiver::task_done`]. Returns at once on a queue that is
    /// not joinable. A receiver that dies before marking its message done
    /// leaves it unfinished for ever: use [`MessageQueue::join_timeout`]
    /// when that matters.
    pub fn join(&self) {
        self.shared().join_by(Deadline::Never);
    }

    /// Whether every message sent has been marked done now.
    pub fn try_join(&self) -> bool {
        self.shared().join_by(Deadline::Now)
    }

    /// [`MessageQueue::join`], waiting at most `timeout`; `true` if every
    /// message was marked done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.shared().join_by(Deadline::after(timeout))
    }

    /// [`MessageQueue::join`], waiting until `deadline` at most; `true` if
    /// every message was marked done.
    pub fn join_deadline(&self, deadline: Instant) -> bool {
        self.shared().join_by(Deadline::At(deadline))
    }

    /// Messages sent and not yet marked done (0 for a plain queue).
    pub fn unfinished(&self) -> usize {
        self.shared().state().ctl.unfinished.load(Ordering::Acquire) as usize
    }

    /// A new sending endpoint, with this handle's wait strategy.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for the checks of other queues.
    pub fn sender(&self) -> Result<MessageSender, Error> {
        Ok(MessageSender(mpmc::Sender::attach(self.0.shared.clone(), self.0.strategy)))
    }

    /// A new receiving endpoint, with this handle's wait strategy.
    ///
    /// # Errors
    /// As [`MessageQueue::sender`].
    pub fn receiver(&self) -> Result<MessageReceiver, Error> {
        Ok(MessageReceiver(mpmc::Receiver::attach(self.0.shared.clone(), self.0.strategy)))
    }
}

impl fmt::Debug for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageQueue")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("max_message_len", &self.max_message_len())
            .finish_non_exhaustive()
    }
}

/// The sending end of a [`MessageQueue`]: any number of them, in any
/// processes. `Send` and `Sync`: its calls take `&self`, so threads may
/// share one (or each [`clone`](Clone::clone) their own).
pub struct MessageSender(mpmc::Sender<Framed>);

impl MessageSender {
    /// The queue's shared state (for `wait_any` and the async forms).
    pub(super) fn shared_state(&self) -> &std::sync::Arc<Shared<Framed>> {
        &self.0.shared
    }
}

impl MessageSender {
    /// Sets how this endpoint waits when the queue is full.
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.0.strategy = strategy;
        self
    }

    /// Another sender on the same queue, as [`Clone`] makes it (never
    /// fails; for symmetry with the ends of other queues).
    ///
    /// # Errors
    /// None.
    pub fn try_clone(&self) -> Result<Self, Error> {
        Ok(self.clone())
    }

    /// The longest message the queue carries, in bytes.
    pub fn max_message_len(&self) -> usize {
        self.0.shared.params().desc.max()
    }

    /// How many messages the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.0.shared.capacity
    }

    /// Messages in the queue now (a snapshot).
    pub fn len(&self) -> usize {
        self.0.shared.ring().len() as usize
    }

    /// Whether the queue looks empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue looks full now.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    fn send_until(&self, msg: &[u8], deadline: Deadline) -> Result<(), ByteSendError> {
        let max = self.max_message_len();
        if msg.len() > max {
            return Err(ByteSendError::TooLarge { len: msg.len(), max });
        }
        let s = &self.0;
        s.shared.counted(Frame(msg), |m| s.put(m, deadline)).map_err(|e| match e {
            SendTimeoutError::Timeout(_) if deadline == Deadline::Now => ByteSendError::Full,
            SendTimeoutError::Timeout(_) => ByteSendError::Timeout,
            SendTimeoutError::Disconnected(_) => ByteSendError::Disconnected,
        })
    }

    byte_forms! {
        &self, "[`ByteSendError::Full`]", "[`ByteSendError::Timeout`]";

        /// Sends a copy of `msg`, waiting while the queue is full.
        ///
        /// # Errors
        /// [`ByteSendError::TooLarge`] for a message longer than
        /// [`max_message_len`](Self::max_message_len),
        /// [`ByteSendError::Disconnected`] if every receiver is gone.
        send / try_send / send_timeout / send_deadline (msg: &[u8]) -> Result<(), ByteSendError>
            = |d| self.send_until(msg, d);
    }
}

impl Clone for MessageSender {
    fn clone(&self) -> Self {
        MessageSender(mpmc::Sender::attach(self.0.shared.clone(), self.0.strategy))
    }
}

impl fmt::Debug for MessageSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageSender").field("queue", &self.0.shared.seg().name()).finish_non_exhaustive()
    }
}

/// The receiving end of a [`MessageQueue`]: any number of them, in any
/// processes. `Send` and `Sync`, like [`MessageSender`].
pub struct MessageReceiver(mpmc::Receiver<Framed>);

impl MessageReceiver {
    /// The receiving end (for `wait_any`).
    pub(super) fn inner(&self) -> &mpmc::Receiver<Framed> {
        &self.0
    }
}

impl MessageReceiver {
    /// Sets how this endpoint waits when the queue is empty.
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.0.strategy = strategy;
        self
    }

    /// Another receiver on the same queue, as [`Clone`] makes it.
    ///
    /// # Errors
    /// None.
    pub fn try_clone(&self) -> Result<Self, Error> {
        Ok(self.clone())
    }

    /// The longest message the queue carries, in bytes.
    pub fn max_message_len(&self) -> usize {
        self.0.shared.params().desc.max()
    }

    /// How many messages the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.0.shared.capacity
    }

    /// Messages in the queue now (a snapshot).
    pub fn len(&self) -> usize {
        self.0.shared.ring().len() as usize
    }

    /// Whether the queue looks empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue looks full now.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Marks one received message as finished (joinable queues).
    ///
    /// # Errors
    /// [`TaskDoneError`] if more messages were marked done than were sent,
    /// or the queue is not joinable.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let sh = &*self.0.shared;
        if sh.joinable() && sh.finish_one() { Ok(()) } else { Err(TaskDoneError) }
    }

    fn recv_until<R>(
        &self,
        reader: impl Reader<Framed, Out = Result<R, ByteRecvError>>,
        deadline: Deadline,
    ) -> Result<R, ByteRecvError> {
        match self.0.recv_until(reader, deadline) {
            Ok(got) => got,
            Err(RecvTimeoutError::Timeout) if deadline == Deadline::Now => Err(ByteRecvError::Empty),
            Err(RecvTimeoutError::Timeout) => Err(ByteRecvError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(ByteRecvError::Disconnected),
        }
    }

    byte_forms! {
        &self, "[`ByteRecvError::Empty`]", "[`ByteRecvError::Timeout`]";

        /// Receives a message, waiting while the queue is empty.
        ///
        /// # Errors
        /// [`ByteRecvError::Disconnected`] if the queue is empty and every
        /// sender is gone, [`ByteRecvError::Corrupt`] for a message whose
        /// length in shared memory is impossible (it is consumed).
        recv / try_recv / recv_timeout / recv_deadline () -> Result<Vec<u8>, ByteRecvError>
            = |d| self.recv_until(ToVec, d);

        /// Receives a message into `buf`, returning its length.
        ///
        /// # Errors
        /// [`ByteRecvError::BufferTooSmall`] with the message's length if
        /// `buf` is shorter (the message stays queued), and those of
        /// [`recv`](Self::recv).
        recv_into / try_recv_into / recv_into_timeout / recv_into_deadline (buf: &mut [u8])
            -> Result<usize, ByteRecvError>
            = |d| self.recv_until(IntoBuf(buf), d);

        /// Receives a message and hands it to `f` in place, in the queue's
        /// memory (no copy); returns what `f` returns. The slot stays
        /// claimed while `f` runs, and is freed when it returns (or
        /// unwinds: the message is then consumed).
        ///
        /// # Errors
        /// As [`recv`](Self::recv).
        recv_with / try_recv_with / recv_with_timeout / recv_with_deadline [R, F: FnOnce(&[u8]) -> R] (f: F)
            -> Result<R, ByteRecvError>
            = |d| self.recv_until(With(Some(f)), d);
    }
}

impl Clone for MessageReceiver {
    fn clone(&self) -> Self {
        MessageReceiver(mpmc::Receiver::attach(self.0.shared.clone(), self.0.strategy))
    }
}

impl fmt::Debug for MessageReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageReceiver").field("queue", &self.0.shared.seg().name()).finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::ptr::NonNull;

    use super::*;
    use crate::queue::slot_ring::{Ring, Take, test_state, test_word};
    use crate::segment::registry::Token;

    /// Framed slots whose lengths and states are arbitrary, as a corrupted
    /// segment could hold them: every reader returns an error or a message
    /// of at most `max` bytes, never panics or reads past its slot.
    #[test]
    fn corrupted_lengths_are_errors() {
        let framed = Framed::new(20).unwrap();
        let cap = 4;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..5_000u64 {
            // u64 words so that the slots are aligned to 8.
            let mut mem = vec![0u64; cap * framed.stride() / 8];
            let x = crate::queue::fill_random(bytemuck::cast_slice_mut(&mut mem), &mut seed);
            let head = x % 8;
            let state = test_state(head + x % 3, head);
            for i in 0..cap {
                let at = i * framed.stride() / 8;
                let lap = head + ((i as u64 + cap as u64 - head % cap as u64) % cap as u64);
                mem[at] = test_word(lap, (x >> i) & 1 == 1);
                // Half the rounds: plausible lengths.
                if round % 2 == 0 {
                    let len = (mem[at + 1] as u32) % 24;
                    mem[at + 1] = (mem[at + 1] & !0xffff_ffff) | u64::from(len);
                }
            }
            let base = NonNull::from(&mut mem[..]).cast::<u8>();
            // SAFETY: `cap` slots of this layout in `mem`, aligned to 8,
            // each state word initialized; only this test uses them.
            let ring = unsafe { Ring::from_raw(&state, base, cap, framed) };
            let me = Token::from_bits(1);
            let mut buf = [0u8; 8];
            for k in 0..6 {
                let out = match k % 3 {
                    0 => match ring.try_take(me, &mut ToVec) {
                        Take::Got(r) => Some(r.map(|v| v.len())),
                        _ => None,
                    },
                    1 => match ring.try_take(me, &mut IntoBuf(&mut buf)) {
                        Take::Got(r) => Some(r),
                        _ => None,
                    },
                    _ => match ring.try_take(me, &mut With(Some(|m: &[u8]| m.len()))) {
                        Take::Got(r) => Some(r),
                        _ => None,
                    },
                };
                match out {
                    Some(Ok(len)) => assert!(len <= 20, "a message of {len} bytes"),
                    Some(Err(ByteRecvError::Corrupt(_) | ByteRecvError::BufferTooSmall { .. })) | None => {}
                    Some(Err(e)) => panic!("unexpected {e:?}"),
                }
                let _ = ring.try_put(Frame(&[7; 20]), me);
            }
        }
    }
}
