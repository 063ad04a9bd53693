//! What [`wait_any`](crate::wait_any), [`ReadyFd`](crate::ReadyFd) and the
//! async forms need of each receiving end: whether a receive would not
//! block now (a message, or the end of the stream), where a waiter sleeps
//! (the futex word and sleeper count its senders wake), and an owned copy
//! of that check for the background waiter.
//!
//! The check reads only shared state (the ring's indices and slots, the
//! ends' role words and counts), never an end's private cursor, so the
//! copy shares the queue's mapping and nothing else.

use std::sync::Arc;

use super::byte_ends::ByteRings;
use super::byte_ring::ByteRing;
use super::bytes::ByteReceiver;
use super::channel::Receiver;
use super::described::{DynReceiver, DynSender};
use super::endpoint::{End, role_gone, role_released};
use super::message::MessageReceiver;
use super::typed::{Flavor, Format, Shared};
use super::{mpmc, spsc};
use crate::ShmType;
use crate::error::Error;
use crate::handle::Handle;
use crate::pipe::Connection;
use crate::primitive::Ordering;
use crate::select::sealed::{Park, Source};

type Probe = Arc<dyn Source + Send + Sync>;

impl<F: Format> Shared<F> {
    /// A multi-producer queue: a published message near the head, or every
    /// sender gone (dropped; with `thorough`, dead too). A single-producer
    /// one: a published message (its sender stores the tail only after the
    /// slot), or the sending end gone.
    fn receive_ready(&self, thorough: bool) -> bool {
        match self.flavor {
            Flavor::Mpmc => {
                if self.ring().any_ready() {
                    return true;
                }
                if thorough {
                    return self.senders_gone();
                }
                let c = &self.state().ctl;
                c.ever_sender.load(Ordering::Acquire) != 0 && c.senders.load(Ordering::Acquire) == 0
            }
            Flavor::Spsc => {
                if self.ring().len() != 0 {
                    return true;
                }
                let (word, ever) = self.role(End::Sender);
                if thorough { role_gone(word, ever, self.seg()) } else { role_released(word, ever) }
            }
        }
    }

    /// The receivers' side of the wait line: multi-producer senders wake
    /// one receiver after a fence; a single producer wakes every sleeper
    /// after the asymmetric barrier.
    fn receive_park(&self) -> Park<'_> {
        let w = &self.state().ctl.waits;
        let spsc = self.flavor == Flavor::Spsc;
        Park::Counted { word: &w.items_seq, count: &w.recv_sleepers, asym: spsc, wakes_one: !spsc }
    }
}

impl<F: Format> Shared<F> {
    /// Room for a send (fewer than `capacity` messages queued or in flight),
    /// or every receiver gone (a send would not block: it fails).
    fn send_ready(&self, thorough: bool) -> bool {
        if (self.ring().len() as usize) < self.capacity {
            return true;
        }
        match self.flavor {
            Flavor::Mpmc => self.receivers_gone(thorough),
            Flavor::Spsc => {
                let (word, ever) = self.role(End::Receiver);
                if thorough { role_gone(word, ever, self.seg()) } else { role_released(word, ever) }
            }
        }
    }

    /// The senders' side of the wait line (receivers wake senders as
    /// senders wake receivers).
    fn send_park(&self) -> Park<'_> {
        let w = &self.state().ctl.waits;
        let spsc = self.flavor == Flavor::Spsc;
        Park::Counted { word: &w.space_seq, count: &w.send_sleepers, asym: spsc, wakes_one: !spsc }
    }
}

impl<F: Format> Shared<F> {
    /// Whether the call of `side` (a send, a receive) would not block now.
    fn ready_for(&self, side: End, thorough: bool) -> bool {
        match side {
            End::Sender => self.send_ready(thorough),
            End::Receiver => self.receive_ready(thorough),
        }
    }

    /// Where a waiter of `side` sleeps.
    fn park_for(&self, side: End) -> Park<'_> {
        match side {
            End::Sender => self.send_park(),
            End::Receiver => self.receive_park(),
        }
    }
}

/// The readiness of one side of a queue, for the background waiter.
struct EndProbe<F: Format> {
    shared: Arc<Shared<F>>,
    side: End,
}

impl<F: Format> Source for EndProbe<F> {
    fn ready(&self, _armed: u32, thorough: bool) -> bool {
        self.shared.ready_for(self.side, thorough)
    }
    fn park(&self) -> Park<'_> {
        self.shared.park_for(self.side)
    }
    fn probe(&self) -> Result<Probe, Error> {
        Ok(Arc::new(EndProbe { shared: Arc::clone(&self.shared), side: self.side }))
    }
}

/// `Source` for an end of `side` whose queue state is `$shared`: ready
/// when its call (send or receive) would not block.
macro_rules! end_source {
    ($(impl[$($gen:tt)*] $ty:ty, $side:expr, |$s:ident| $shared:expr;)*) => {$(
        impl<$($gen)*> Source for $ty {
            fn ready(&self, _armed: u32, thorough: bool) -> bool {
                let $s = self;
                $shared.ready_for($side, thorough)
            }
            fn park(&self) -> Park<'_> {
                let $s = self;
                $shared.park_for($side)
            }
            fn probe(&self) -> Result<Probe, Error> {
                let $s = self;
                Ok(Arc::new(EndProbe { shared: Arc::clone($shared), side: $side }))
            }
        }
    )*};
}

end_source! {
    impl[T: ShmType] super::channel::Sender<T>, End::Sender, |s| s.shared_state();
    impl[] super::message::MessageSender, End::Sender, |s| s.shared_state();
    impl[] DynSender, End::Sender, |s| s.shared_state();
    impl[T: ShmType] Receiver<T>, End::Receiver, |r| r.either().shared();
    impl[] DynReceiver, End::Receiver, |r| r.either().shared();
    impl[] MessageReceiver, End::Receiver, |r| &r.inner().shared;
}

/// The queue state of an end of either flavour.
pub(super) enum Either<'a, F: Format> {
    Mpmc(&'a mpmc::Receiver<F>),
    Spsc(&'a spsc::Receiver<F>),
}

impl<'a, F: Format> Either<'a, F> {
    fn shared(self) -> &'a Arc<Shared<F>> {
        match self {
            Either::Mpmc(e) => &e.shared,
            Either::Spsc(e) => &e.shared,
        }
    }
}

/// A byte ring's receive readiness, for the background waiter: the ring
/// and the handle that keeps its mapping.
struct RingProbe<const N: usize> {
    handle: Arc<Handle<ByteRings<N>>>,
    ring: ByteRing,
}

// SAFETY: the ring is a view into the mapping `handle` keeps alive, used
// only through its atomics (indices, role words, wait line).
unsafe impl<const N: usize> Send for RingProbe<N> {}
// SAFETY: as above.
unsafe impl<const N: usize> Sync for RingProbe<N> {}

impl<const N: usize> Source for RingProbe<N> {
    fn ready(&self, _armed: u32, thorough: bool) -> bool {
        self.ring.select_parts(self.handle.segment(), thorough).0
    }
    fn park(&self) -> Park<'_> {
        self.ring.select_parts(self.handle.segment(), false).1
    }
    fn probe(&self) -> Result<Probe, Error> {
        Ok(Arc::new(RingProbe { handle: Arc::clone(&self.handle), ring: self.ring }))
    }
}

/// `Source` for an end that reads a byte ring (`ring_parts` gives the ring
/// and the handle).
macro_rules! ring_source {
    ($ty:ty) => {
        impl Source for $ty {
            fn ready(&self, _armed: u32, thorough: bool) -> bool {
                let (ring, handle) = self.ring_parts();
                ring.select_parts(handle.segment(), thorough).0
            }
            fn park(&self) -> Park<'_> {
                let (ring, handle) = self.ring_parts();
                ring.select_parts(handle.segment(), false).1
            }
            fn probe(&self) -> Result<Probe, Error> {
                let (ring, handle) = self.ring_parts();
                Ok(Arc::new(RingProbe { handle: Arc::clone(handle), ring: *ring }))
            }
        }
    };
}

ring_source!(ByteReceiver);
ring_source!(Connection);

/// A byte ring's room for one send of `len` bytes, for the background
/// waiter (`send_async` of a byte queue's sender or a pipe end).
#[cfg_attr(not(feature = "async"), allow(dead_code))]
pub(crate) struct RoomProbe<const N: usize> {
    handle: Arc<Handle<ByteRings<N>>>,
    ring: ByteRing,
    len: usize,
}

// SAFETY: as for `RingProbe`.
unsafe impl<const N: usize> Send for RoomProbe<N> {}
// SAFETY: as above.
unsafe impl<const N: usize> Sync for RoomProbe<N> {}

#[cfg_attr(not(feature = "async"), allow(dead_code))]
impl<const N: usize> RoomProbe<N> {
    /// Room for `len` bytes in the ring an end writes, given as `parts`.
    pub(crate) fn new((ring, handle): (&ByteRing, &Arc<Handle<ByteRings<N>>>), len: usize) -> Self {
        RoomProbe { handle: Arc::clone(handle), ring: *ring, len }
    }
}

impl<const N: usize> Source for RoomProbe<N> {
    fn ready(&self, _armed: u32, thorough: bool) -> bool {
        self.ring.send_parts(self.len, self.handle.segment(), thorough).0
    }
    fn park(&self) -> Park<'_> {
        self.ring.send_parts(self.len, self.handle.segment(), false).1
    }
    fn probe(&self) -> Result<Probe, Error> {
        Ok(Arc::new(RoomProbe { handle: Arc::clone(&self.handle), ring: self.ring, len: self.len }))
    }
}
