//! [`DynQueue`]: a [`Queue`](crate::Queue) whose element type is a run-time
//! [`TypeDesc`], its messages moved as bytes — the same segment, kind for
//! kind and byte for byte, as a `Queue<T>` of the same layout, on the same
//! flavours (`mpmc.rs`, `spsc.rs`) over slots whose size is chosen at run
//! time ([`Stride`], the layout of a `Slot<T>` for that size and alignment).

use std::fmt;
use std::time::{Duration, Instant};

use super::SharedHandle;
use super::byte_ends::byte_forms;
use super::errors::{ByteRecvError, ByteSendError, RecvTimeoutError, SendTimeoutError, TaskDoneError};
use super::slot_ring::{Message, Reader, SlotLayout, Stride};
use super::typed::{Flavor, Format, QueueHead, QueueParams, Shared};
use super::{mpmc, spsc};
use crate::dynamic::element;
use crate::error::Error;
use crate::handle::Handle;
use crate::primitive::Ordering;
use crate::segment::OpenOptions;
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::shm_type::TypeDesc;
use crate::wait::{Deadline, WaitStrategy};

/// The slots of a queue of a described type: a `Slot<T>`'s layout for the
/// type's size and alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DynSlots(Stride);

impl DynSlots {
    fn of(fp: &Fingerprint) -> Option<DynSlots> {
        let size = usize::try_from(fp.elem_size).ok()?;
        let align = usize::try_from(fp.elem_align).ok()?;
        Stride::new(size, align).map(DynSlots)
    }

    fn size(self) -> usize {
        self.0.size()
    }
}

impl SlotLayout for DynSlots {
    #[inline]
    fn stride(self) -> usize {
        self.0.stride()
    }

    #[inline]
    fn data_offset(self) -> usize {
        self.0.data_offset()
    }

    #[inline]
    fn align(self) -> usize {
        self.0.align()
    }
}

impl Format for DynSlots {
    const KINDS: &'static [ObjectKind] = &[ObjectKind::Queue, ObjectKind::SpscQueue];
    /// The element type; `None` only before an open learns it.
    type Desc = Option<Fingerprint>;

    fn fingerprint(desc: &Option<Fingerprint>, capacity: u64) -> Fingerprint {
        match desc {
            Some(fp) => Fingerprint { capacity, ..fp.clone() },
            None => Fingerprint {
                elem_size: 0,
                elem_align: 1,
                type_name: "<described>".into(),
                encoding: "described".into(),
                capacity,
            },
        }
    }

    /// Checked when the description was made ([`DynQueue`]'s constructors
    /// refuse one without a layout); an unchecked one gives empty slots,
    /// which no segment's size matches.
    fn slots(desc: &Option<Fingerprint>) -> DynSlots {
        desc.as_ref().and_then(DynSlots::of).unwrap_or_default()
    }

    fn desc_for_open(name: &str, _header: &Header, template: Option<&Self::Desc>) -> Result<Self::Desc, Error> {
        match template {
            Some(Some(fp)) => Ok(Some(fp.clone())),
            _ => Err(Error::InvalidArgument(format!("opening '{name}' needs its element type described"))),
        }
    }
}

/// The element type of `ty` for a queue, checked to have slots.
fn describe(ty: &TypeDesc) -> Result<Option<Fingerprint>, Error> {
    let fp = element(ty, 1)?;
    DynSlots::of(&fp)
        .ok_or_else(|| Error::InvalidArgument(format!("a queue of {} bytes elements is too large", fp.elem_size)))?;
    Ok(Some(fp))
}

/// A message of exactly the element's size (checked by the sender).
#[derive(Clone, Copy)]
struct Exact<'m>(&'m [u8]);

impl Message<DynSlots> for Exact<'_> {
    #[inline]
    unsafe fn write(self, layout: DynSlots, data: *mut u8) {
        debug_assert_eq!(self.0.len(), layout.size());
        // SAFETY: a claimed slot's data (the caller's contract), the
        // element's size long, which the message is.
        unsafe { crate::copy::copy(self.0.as_ptr(), data, self.0.len()) }
    }
}

/// Copies a message into a buffer of exactly the element's size.
struct CopyOut<'b>(&'b mut [u8]);

impl Reader<DynSlots> for CopyOut<'_> {
    type Out = ();

    #[inline]
    unsafe fn read(&mut self, layout: DynSlots, data: *const u8) {
        debug_assert_eq!(self.0.len(), layout.size());
        // SAFETY: a claimed slot's data (the caller's contract), the
        // element's size long, which the buffer is.
        unsafe { crate::copy::copy(data, self.0.as_mut_ptr(), self.0.len()) }
    }
}

/// A [`Queue`](crate::Queue) whose element type is described at run time
/// by a [`TypeDesc`], its messages sent and received as bytes (exactly
/// [`elem_size`](DynQueue::elem_size) of them).
///
/// The segment is a `Queue<T>`'s for a `T` of the same layout, with the
/// same fingerprint: a Rust `Queue<Job>` and a `DynQueue` of `Job`'s
/// description (from C or Python) attach to one queue. Both modes exist,
/// any number of senders and receivers ([`DynQueue::create`]) or one of
/// each at a time ([`DynQueue::create_spsc`]), with the same crash safety.
///
/// The handle is `Send` and `Sync`; its endpoints are `Send`, not `Sync`,
/// as a `Queue`'s are.
///
/// ```
/// use shmkit::dynamic::DynQueue;
/// use shmkit::{Queue, ShmLayout};
/// # let name = format!("doc-dynq-{}", std::process::id());
/// let q = DynQueue::create(&name, &u64::type_desc(), 8)?;
/// let typed = Queue::<u64>::open(&name)?; // the same queue, typed
/// q.sender()?.send(&7u64.to_ne_bytes()).unwrap();
/// assert_eq!(typed.receiver()?.recv(), Ok(7));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct DynQueue(SharedHandle<Shared<DynSlots>>);

impl DynQueue {
    fn from_handle(handle: Handle<QueueHead<DynSlots>>) -> Self {
        DynQueue(SharedHandle::new(Shared::new(handle)))
    }

    fn create_mode(
        name: &str,
        ty: &TypeDesc,
        capacity: usize,
        flavor: Flavor,
        joinable: bool,
        opts: &OpenOptions,
    ) -> Result<Self, Error> {
        let params = QueueParams::new(capacity, flavor, joinable, describe(ty)?)?;
        Handle::create_with(name, params, (), opts).map(Self::from_handle)
    }

    /// Creates the queue `name` of elements of the described type `ty`,
    /// holding up to `capacity` messages (rounded up to a power of two, at
    /// most 2^30), for any number of senders and receivers. Exclusive.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`],
    /// [`Error::InvalidArgument`] for a description
    /// [`check_type`](crate::dynamic::check_type) refuses or a capacity out
    /// of range, or an OS error.
    pub fn create(name: &str, ty: &TypeDesc, capacity: usize) -> Result<Self, Error> {
        Self::create_with(name, ty, capacity, &OpenOptions::default())
    }

    /// [`DynQueue::create`] with options.
    ///
    /// # Errors
    /// As [`DynQueue::create`].
    pub fn create_with(name: &str, ty: &TypeDesc, capacity: usize, opts: &OpenOptions) -> Result<Self, Error> {
        Self::create_mode(name, ty, capacity, Flavor::Mpmc, false, opts)
    }

    /// Creates a queue for one sender and one receiver at a time, as
    /// [`Queue::create_spsc`](crate::Queue::create_spsc) does.
    ///
    /// # Errors
    /// As [`DynQueue::create`].
    pub fn create_spsc(name: &str, ty: &TypeDesc, capacity: usize) -> Result<Self, Error> {
        Self::create_spsc_with(name, ty, capacity, &OpenOptions::default())
    }

    /// [`DynQueue::create_spsc`] with options.
    ///
    /// # Errors
    /// As [`DynQueue::create`].
    pub fn create_spsc_with(name: &str, ty: &TypeDesc, capacity: usize, opts: &OpenOptions) -> Result<Self, Error> {
        Self::create_mode(name, ty, capacity, Flavor::Spsc, false, opts)
    }

    /// Creates a queue that tracks delivery, as
    /// [`Queue::create_joinable`](crate::Queue::create_joinable) does.
    ///
    /// # Errors
    /// As [`DynQueue::create`].
    pub fn create_joinable(name: &str, ty: &TypeDesc, capacity: usize) -> Result<Self, Error> {
        Self::create_joinable_with(name, ty, capacity, &OpenOptions::default())
    }

    /// [`DynQueue::create_joinable`] with options.
    ///
    /// # Errors
    /// As [`DynQueue::create`].
    pub fn create_joinable_with(name: &str, ty: &TypeDesc, capacity: usize, opts: &OpenOptions) -> Result<Self, Error> {
        Self::create_mode(name, ty, capacity, Flavor::Mpmc, true, opts)
    }

    /// Opens the existing queue `name` (either mode, any capacity), whose
    /// element type must be `ty`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::WrongKind`], [`Error::WrongType`]
    /// (naming the first differing field), [`Error::InvalidArgument`] for a
    /// refused description, and the other checks of an open.
    pub fn open(name: &str, ty: &TypeDesc) -> Result<Self, Error> {
        Self::open_with(name, ty, &OpenOptions::default())
    }

    /// [`DynQueue::open`] with options.
    ///
    /// # Errors
    /// As [`DynQueue::open`].
    pub fn open_with(name: &str, ty: &TypeDesc, opts: &OpenOptions) -> Result<Self, Error> {
        let template = QueueParams::new(1, Flavor::Mpmc, false, describe(ty)?)?;
        Handle::open_template(name, &template, opts).map(Self::from_handle)
    }

    /// Opens `name` (as it is, whatever its capacity and mode), or creates
    /// it as [`DynQueue::create`] would: safe when processes race.
    ///
    /// # Errors
    /// As [`DynQueue::open`] and [`DynQueue::create`].
    pub fn open_or_create(name: &str, ty: &TypeDesc, capacity: usize) -> Result<Self, Error> {
        Self::open_or_create_with(name, ty, capacity, &OpenOptions::default())
    }

    /// [`DynQueue::open_or_create`] with options.
    ///
    /// # Errors
    /// As [`DynQueue::open_or_create`].
    pub fn open_or_create_with(name: &str, ty: &TypeDesc, capacity: usize, opts: &OpenOptions) -> Result<Self, Error> {
        let params = QueueParams::new(capacity, Flavor::Mpmc, false, describe(ty)?)?;
        Handle::open_or_create_with(name, params, || (), opts).map(Self::from_handle)
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// Keeps the name after this (creating) handle is dropped, and marks
    /// the segment persisted in its header.
    pub fn persist(&self) {
        self.0.persist();
    }

    /// Sets how the endpoints made from now on wait when they must block.
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.0.set_wait_strategy(strategy);
        self
    }

    fn shared(&self) -> &Shared<DynSlots> {
        &self.0.shared
    }

    /// Bytes of one element: what every send and receive moves.
    pub fn elem_size(&self) -> usize {
        DynSlots::slots(&self.shared().params().desc).size()
    }

    /// How many messages the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.shared().capacity
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

    /// Whether this queue serves one sender and one receiver at a time.
    pub fn is_spsc(&self) -> bool {
        self.shared().flavor == Flavor::Spsc
    }

    /// Whether the queue tracks delivery.
    pub fn is_joinable(&self) -> bool {
        self.shared().joinable()
    }

    /// Waits until every message sent has been marked done with
    /// [`DynReceiver::task_done`] (at once on a queue that is not
    /// joinable).
    pub fn join(&self) {
        self.shared().join_by(Deadline::Never);
    }

    /// Whether every message sent has been marked done now.
    pub fn try_join(&self) -> bool {
        self.shared().join_by(Deadline::Now)
    }

    /// [`DynQueue::join`], waiting at most `timeout`; `true` if every
    /// message was marked done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.shared().join_by(Deadline::after(timeout))
    }

    /// [`DynQueue::join`], waiting until `deadline` at most; `true` if
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
    /// On a single-producer queue, [`Error::Busy`] while a live endpoint
    /// holds the sending end.
    pub fn sender(&self) -> Result<DynSender, Error> {
        let (shared, strategy) = (self.0.shared.clone(), self.0.strategy);
        Ok(DynSender(match shared.flavor {
            Flavor::Mpmc => SendFlavor::Mpmc(mpmc::Sender::attach(shared, strategy)),
            Flavor::Spsc => SendFlavor::Spsc(spsc::Sender::attach(shared, strategy)?),
        }))
    }

    /// A new receiving endpoint, with this handle's wait strategy.
    ///
    /// # Errors
    /// As [`DynQueue::sender`], for the receiving end.
    pub fn receiver(&self) -> Result<DynReceiver, Error> {
        let (shared, strategy) = (self.0.shared.clone(), self.0.strategy);
        Ok(DynReceiver(match shared.flavor {
            Flavor::Mpmc => RecvFlavor::Mpmc(mpmc::Receiver::attach(shared, strategy)),
            Flavor::Spsc => RecvFlavor::Spsc(spsc::Receiver::attach(shared, strategy)?),
        }))
    }
}

impl fmt::Debug for DynQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynQueue")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("elem_size", &self.elem_size())
            .finish_non_exhaustive()
    }
}

/// The flavour a [`DynSender`] runs.
enum SendFlavor {
    Mpmc(mpmc::Sender<DynSlots>),
    Spsc(spsc::Sender<DynSlots>),
}

/// The flavour a [`DynReceiver`] runs.
enum RecvFlavor {
    Mpmc(mpmc::Receiver<DynSlots>),
    Spsc(spsc::Receiver<DynSlots>),
}

/// The sending end of a [`DynQueue`]. `Send`, not `Sync`: for another
/// thread, [`try_clone`](DynSender::try_clone) it.
pub struct DynSender(SendFlavor);

/// The receiving end of a [`DynQueue`]. `Send`, not `Sync`, as
/// [`DynSender`].
pub struct DynReceiver(RecvFlavor);

impl DynReceiver {
    /// The flavour, borrowed (for `wait_any`).
    pub(super) fn either(&self) -> super::ready::Either<'_, DynSlots> {
        match &self.0 {
            RecvFlavor::Mpmc(e) => super::ready::Either::Mpmc(e),
            RecvFlavor::Spsc(e) => super::ready::Either::Spsc(e),
        }
    }
}

/// Writes what both ends have alike: the shared state, the wait strategy,
/// `try_clone`, the element size, and `Debug`.
macro_rules! end_common {
    ($end:ident, $inner:ident, $flavor:ident, $blocks:literal) => {
        impl $end {
            fn shared(&self) -> &Shared<DynSlots> {
                match &self.0 {
                    $flavor::Mpmc(e) => &e.shared,
                    $flavor::Spsc(e) => &e.shared,
                }
            }

            #[doc = concat!("Sets how this endpoint waits when the queue is ", $blocks, ".")]
            pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
                match &mut self.0 {
                    $flavor::Mpmc(e) => e.strategy = strategy,
                    $flavor::Spsc(e) => e.strategy = strategy,
                }
                self
            }

            /// Another endpoint of this side on the same queue, with the
            /// same wait strategy.
            ///
            /// # Errors
            /// [`Error::Busy`] on a single-producer queue, whose end this
            /// endpoint holds.
            pub fn try_clone(&self) -> Result<Self, Error> {
                let (shared, strategy) = match &self.0 {
                    $flavor::Mpmc(e) => (e.shared.clone(), e.strategy),
                    $flavor::Spsc(e) => (e.shared.clone(), e.strategy),
                };
                Ok($end(match shared.flavor {
                    Flavor::Mpmc => $flavor::Mpmc(mpmc::$inner::attach(shared, strategy)),
                    Flavor::Spsc => $flavor::Spsc(spsc::$inner::attach(shared, strategy)?),
                }))
            }

            /// Bytes of one element: what every send and receive moves.
            pub fn elem_size(&self) -> usize {
                DynSlots::slots(&self.shared().params().desc).size()
            }

            /// Messages in the queue now (a snapshot).
            pub fn len(&self) -> usize {
                self.shared().ring().len() as usize
            }

            /// Whether the queue looks empty now.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
        }

        impl fmt::Debug for $end {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($end)).field("queue", &self.shared().seg().name()).finish_non_exhaustive()
            }
        }
    };
}

end_common!(DynSender, Sender, SendFlavor, "full");
end_common!(DynReceiver, Receiver, RecvFlavor, "empty");

impl DynSender {
    /// The queue's shared state, of either flavour (for `wait_any`).
    pub(super) fn shared_state(&self) -> &std::sync::Arc<Shared<DynSlots>> {
        match &self.0 {
            SendFlavor::Mpmc(s) => &s.shared,
            SendFlavor::Spsc(s) => &s.shared,
        }
    }

    fn send_until(&self, msg: &[u8], deadline: Deadline) -> Result<(), ByteSendError> {
        let expected = self.elem_size();
        if msg.len() != expected {
            return Err(ByteSendError::WrongSize { len: msg.len(), expected });
        }
        let sent = match &self.0 {
            SendFlavor::Mpmc(s) => s.shared.counted(Exact(msg), |m| s.put(m, deadline)),
            SendFlavor::Spsc(s) => s.shared.counted(Exact(msg), |m| s.put(m, deadline)),
        };
        sent.map_err(|e| match e {
            SendTimeoutError::Timeout(_) if deadline == Deadline::Now => ByteSendError::Full,
            SendTimeoutError::Timeout(_) => ByteSendError::Timeout,
            SendTimeoutError::Disconnected(_) => ByteSendError::Disconnected,
        })
    }

    byte_forms! {
        &self, "[`ByteSendError::Full`]", "[`ByteSendError::Timeout`]";

        /// Sends a copy of `msg`, an element's bytes, waiting while the
        /// queue is full.
        ///
        /// # Errors
        /// [`ByteSendError::WrongSize`] if `msg` is not
        /// [`elem_size`](Self::elem_size) bytes long,
        /// [`ByteSendError::Disconnected`] if every receiver is gone.
        send / try_send / send_timeout / send_deadline (msg: &[u8]) -> Result<(), ByteSendError>
            = |d| self.send_until(msg, d);
    }
}

impl DynReceiver {
    fn recv_until(&self, buf: &mut [u8], deadline: Deadline) -> Result<(), ByteRecvError> {
        let expected = self.elem_size();
        if buf.len() != expected {
            return Err(ByteRecvError::WrongSize { len: buf.len(), expected });
        }
        let got = match &self.0 {
            RecvFlavor::Mpmc(r) => r.recv_until(CopyOut(buf), deadline),
            RecvFlavor::Spsc(r) => r.recv_until(CopyOut(buf), deadline),
        };
        got.map_err(|e| match e {
            RecvTimeoutError::Timeout if deadline == Deadline::Now => ByteRecvError::Empty,
            RecvTimeoutError::Timeout => ByteRecvError::Timeout,
            RecvTimeoutError::Disconnected => ByteRecvError::Disconnected,
        })
    }

    /// Marks one received message as finished (joinable queues).
    ///
    /// # Errors
    /// [`TaskDoneError`] if more messages were marked done than were sent,
    /// or the queue is not joinable.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let sh = self.shared();
        if sh.joinable() && sh.finish_one() { Ok(()) } else { Err(TaskDoneError) }
    }

    byte_forms! {
        &self, "[`ByteRecvError::Empty`]", "[`ByteRecvError::Timeout`]";

        /// Receives a message into `buf`, which must be
        /// [`elem_size`](Self::elem_size) bytes long, waiting while the
        /// queue is empty.
        ///
        /// # Errors
        /// [`ByteRecvError::WrongSize`] for a `buf` of another length
        /// (nothing is consumed), [`ByteRecvError::Disconnected`] if the
        /// queue is empty and every sender is gone.
        recv / try_recv / recv_timeout / recv_deadline (buf: &mut [u8]) -> Result<(), ByteRecvError>
            = |d| self.recv_until(buf, d);
    }
}
