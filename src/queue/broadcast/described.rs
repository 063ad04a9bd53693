//! [`DynBroadcast`]: a [`Broadcast`](crate::Broadcast) whose element type
//! is a run-time [`TypeDesc`], its messages published and read as bytes
//! (exactly [`elem_size`](DynBroadcast::elem_size) of them): the same
//! segment, kind for kind and byte for byte, as a `Broadcast<T>` of that
//! layout, so a C or Python program and a Rust `Broadcast<Job>` share one.

use std::fmt;
use std::sync::Arc;

use super::{BroadcastRecvError, BroadcastSendError, Form, Params, Policy, Pub, Shared, Sub, copy_racy};
use crate::dynamic::element;
use crate::error::Error;
use crate::handle::Handle;
use crate::primitive::Ordering;
use crate::queue::SharedHandle;
use crate::queue::byte_ends::byte_forms;
use crate::segment::OpenOptions;
use crate::segment::header::{Fingerprint, ObjectKind};
use crate::shm_type::TypeDesc;
use crate::wait::WaitStrategy;

/// Messages of a type described at run time (in the parameters).
pub(crate) struct Described;

impl Form for Described {
    const KIND: ObjectKind = ObjectKind::Broadcast;
    const DESCRIBED: bool = true;
    fn align(params: &Params) -> usize {
        // Checked to be a power of two up to 4096 when it was described.
        params.desc.as_ref().map_or(1, |fp| fp.elem_align as usize)
    }
    fn fingerprint(params: &Params) -> Fingerprint {
        match &params.desc {
            Some(fp) => Fingerprint { capacity: params.capacity, ..fp.clone() },
            None => Fingerprint {
                elem_size: 0,
                elem_align: 1,
                type_name: "<described>".into(),
                encoding: "described".into(),
                capacity: params.capacity,
            },
        }
    }
}

/// The parameters of a described broadcast of `ty`.
fn described(ty: &TypeDesc, capacity: usize, policy: Policy) -> Result<Params, Error> {
    let fp = element(ty, 1)?;
    let size = usize::try_from(fp.elem_size)
        .ok()
        .filter(|&s| s <= super::MAX_BROADCAST_MESSAGE)
        .ok_or_else(|| Error::InvalidArgument(format!("a broadcast of {} byte elements is too large", fp.elem_size)))?;
    let mut params = Params::new(capacity, size, policy)?;
    params.desc = Some(fp);
    Ok(params)
}

/// A [`Broadcast`](crate::Broadcast) of a type described at run time, its
/// messages published and read as bytes (exactly
/// [`elem_size`](DynBroadcast::elem_size) of them): the same segment, kind
/// for kind and byte for byte, as a `Broadcast<T>` of that layout, so a C
/// or Python program and a Rust `Broadcast<Job>` share one. Policies,
/// lagging and disconnection are a `Broadcast`'s. The handle is `Send` and
/// `Sync`; its ends are `Send`.
///
/// ```
/// use shmkit::dynamic::DynBroadcast;
/// use shmkit::{Broadcast, Policy, ShmLayout};
/// # let name = format!("doc-dynbc-{}", std::process::id());
/// let b = DynBroadcast::create(&name, &u64::type_desc(), 8, Policy::Lossless)?;
/// let typed = Broadcast::<u64>::open(&name)?; // the same broadcast, typed
/// let mut sub = typed.subscribe()?;
/// b.publisher()?.send(&7u64.to_ne_bytes()).unwrap();
/// assert_eq!(sub.recv(), Ok(7));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct DynBroadcast(SharedHandle<Shared<Described>>);

impl DynBroadcast {
    fn from_handle(handle: Handle<super::Head<Described>>) -> Self {
        DynBroadcast(SharedHandle::new(Shared::new(handle)))
    }

    /// Creates the broadcast `name` of elements of the described type
    /// `ty`, with a ring of `capacity` messages (rounded up to a power of
    /// two) and the publisher's `policy` when it is full. Exclusive.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`],
    /// [`Error::InvalidArgument`] for a description
    /// [`check_type`](crate::dynamic::check_type) refuses or a capacity out
    /// of range, or an OS error.
    pub fn create(name: &str, ty: &TypeDesc, capacity: usize, policy: Policy) -> Result<Self, Error> {
        Self::create_with(name, ty, capacity, policy, &OpenOptions::default())
    }

    /// [`DynBroadcast::create`] with options.
    ///
    /// # Errors
    /// As [`DynBroadcast::create`].
    pub fn create_with(
        name: &str,
        ty: &TypeDesc,
        capacity: usize,
        policy: Policy,
        opts: &OpenOptions,
    ) -> Result<Self, Error> {
        Handle::create_with(name, described(ty, capacity, policy)?, (), opts).map(Self::from_handle)
    }

    /// Opens the existing broadcast `name`, whose element type must be `ty`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::WrongKind`], [`Error::WrongType`]
    /// (naming the first differing field), [`Error::InvalidArgument`] for a
    /// refused description, and the other checks of an open.
    pub fn open(name: &str, ty: &TypeDesc) -> Result<Self, Error> {
        Self::open_with(name, ty, &OpenOptions::default())
    }

    /// [`DynBroadcast::open`] with options.
    ///
    /// # Errors
    /// As [`DynBroadcast::open`].
    pub fn open_with(name: &str, ty: &TypeDesc, opts: &OpenOptions) -> Result<Self, Error> {
        Handle::open_template(name, &described(ty, 1, Policy::Lossy)?, opts).map(Self::from_handle)
    }

    /// Opens `name`, or creates it as [`DynBroadcast::create`] would: safe
    /// when processes race.
    ///
    /// # Errors
    /// As [`DynBroadcast::open`] and [`DynBroadcast::create`]; an existing
    /// broadcast of another policy is [`Error::InvalidArgument`].
    pub fn open_or_create(name: &str, ty: &TypeDesc, capacity: usize, policy: Policy) -> Result<Self, Error> {
        Self::open_or_create_with(name, ty, capacity, policy, &OpenOptions::default())
    }

    /// [`DynBroadcast::open_or_create`] with options.
    ///
    /// # Errors
    /// As [`DynBroadcast::open_or_create`].
    pub fn open_or_create_with(
        name: &str,
        ty: &TypeDesc,
        capacity: usize,
        policy: Policy,
        opts: &OpenOptions,
    ) -> Result<Self, Error> {
        Handle::open_or_create_with(name, described(ty, capacity, policy)?, || (), opts).map(Self::from_handle)
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// Keeps the name after this (creating) handle is dropped.
    pub fn persist(&self) {
        self.0.persist();
    }

    /// Sets how the ends made from now on wait when they must block.
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.0.set_wait_strategy(strategy);
        self
    }

    /// Bytes of one element: what every publish and receive moves.
    pub fn elem_size(&self) -> usize {
        self.0.shared.msg_size
    }

    /// Takes the publishing end.
    ///
    /// # Errors
    /// [`Error::Busy`] while a live publisher holds it.
    pub fn publisher(&self) -> Result<DynPublisher, Error> {
        Ok(DynPublisher { inner: Pub::attach(Arc::clone(&self.0.shared), self.0.strategy)? })
    }

    /// A new subscriber, which receives the messages published from now on.
    ///
    /// # Errors
    /// [`Error::RegistryFull`] when every subscriber entry is held.
    pub fn subscribe(&self) -> Result<DynSubscriber, Error> {
        self.subscribe_from_last(0)
    }

    /// A new subscriber that first receives the last `k` messages still in
    /// the ring.
    ///
    /// # Errors
    /// As [`DynBroadcast::subscribe`].
    pub fn subscribe_from_last(&self, k: usize) -> Result<DynSubscriber, Error> {
        Ok(DynSubscriber { inner: Sub::attach(Arc::clone(&self.0.shared), k as u64, self.0.strategy)? })
    }

    common_handle_methods!();
}

impl fmt::Debug for DynBroadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynBroadcast")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("elem_size", &self.elem_size())
            .field("policy", &self.policy())
            .finish()
    }
}

/// The publishing end of a [`DynBroadcast`]; one at a time.
pub struct DynPublisher {
    inner: Pub<Described>,
}

impl DynPublisher {
    byte_forms! { &mut self, "[`BroadcastSendError::Full`] (lossless only)", "[`BroadcastSendError::Timeout`] (lossless only)";
        /// Publishes `elem` (exactly [`elem_size`](DynBroadcast::elem_size)
        /// bytes) to every subscriber, as [`Publisher::send`](crate::Publisher::send).
        ///
        /// # Errors
        /// [`BroadcastSendError::TooLarge`] (with the element's size as
        /// `max`) for any other length.
        send / try_send / send_timeout / send_deadline (elem: &[u8]) -> Result<(), BroadcastSendError>
            = |d| {
                let size = self.inner.shared.msg_size;
                if elem.len() != size {
                    return Err(BroadcastSendError::TooLarge { len: elem.len(), max: size });
                }
                self.inner.send_with(size, d, |dst| {
                    // SAFETY: the slot's message area holds `size` bytes,
                    // aligned for the element; `elem` is that long.
                    unsafe { crate::copy::copy(elem.as_ptr(), dst, size) };
                    size as u32
                })
            };
    }

    /// Bytes of one element.
    pub fn elem_size(&self) -> usize {
        self.inner.shared.msg_size
    }

    /// Publishes a copy of `elem` as an async call, as
    /// [`Publisher::send_async`](crate::Publisher::send_async).
    ///
    /// # Errors
    /// As [`send`](DynPublisher::send).
    #[cfg(feature = "async")]
    pub async fn send_async(&mut self, elem: &[u8]) -> Result<(), BroadcastSendError> {
        loop {
            match self.try_send(elem) {
                Err(BroadcastSendError::Full) => crate::notify::until_ready(&self.inner.room()).await,
                other => return other,
            }
        }
    }
}

impl fmt::Debug for DynPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynPublisher").field("name", &self.inner.shared.seg().name()).finish()
    }
}

/// A subscriber of a [`DynBroadcast`]: its own cursor over the messages.
pub struct DynSubscriber {
    pub(super) inner: Sub<Described>,
}

impl DynSubscriber {
    byte_forms! { &mut self, "[`BroadcastRecvError::Empty`]", "[`BroadcastRecvError::Timeout`]";
        /// Copies the next message into the first
        /// [`elem_size`](DynBroadcast::elem_size) bytes of `out`, as
        /// [`Subscriber::recv`](crate::Subscriber::recv) receives.
        ///
        /// # Errors
        /// As [`Subscriber::recv`](crate::Subscriber::recv), and
        /// [`BroadcastRecvError::BufferTooSmall`] (with the element's size)
        /// for a shorter buffer: nothing is read then.
        recv_into / try_recv_into / recv_into_timeout / recv_into_deadline (out: &mut [u8]) -> Result<(), BroadcastRecvError>
            = |d| {
                let size = self.inner.shared.msg_size;
                if out.len() < size {
                    return Err(BroadcastRecvError::BufferTooSmall { len: size });
                }
                self.inner.recv_with(d, |src, _| {
                    // SAFETY: the slot's message area holds `size` bytes;
                    // `out` is at least that long. A torn copy is thrown
                    // away by the caller's sequence check.
                    unsafe { copy_racy(src, out.as_mut_ptr(), size) };
                    Ok(())
                })
            };
    }

    /// Bytes of one element.
    pub fn elem_size(&self) -> usize {
        self.inner.shared.msg_size
    }

    /// Messages published and not yet received by this subscriber (more
    /// than the capacity means it lags).
    pub fn pending(&self) -> u64 {
        self.inner.shared.st().tail.pos.load(Ordering::Acquire).saturating_sub(self.inner.cursor)
    }
}

impl fmt::Debug for DynSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynSubscriber").field("cursor", &self.inner.cursor).finish()
    }
}
