//! What [`wait_any`](crate::wait_any) needs of each receiving end: whether
//! a receive would not block now (a message, or the end of the stream), and
//! where a waiter sleeps — the futex word and sleeper count its senders
//! wake.

use super::bytes::ByteReceiver;
use super::channel::Receiver;
use super::described::DynReceiver;
use super::endpoint::{End, role_gone, role_released};
use super::message::MessageReceiver;
use super::typed::{Format, Shared};
use super::{mpmc, spsc};
use crate::ShmType;
use crate::pipe::Connection;
use crate::primitive::Ordering;
use crate::select::sealed::{Park, Source};

/// The receivers' side of a queue's wait line.
fn receivers_park<F: Format>(sh: &Shared<F>, asym: bool, wakes_one: bool) -> Park<'_> {
    let w = &sh.state().ctl.waits;
    Park::Counted { word: &w.items_seq, count: &w.recv_sleepers, asym, wakes_one }
}

impl<F: Format> mpmc::Receiver<F> {
    /// A published message near the head, or every sender gone (dropped;
    /// with `thorough`, dead too).
    pub(super) fn select_ready(&self, thorough: bool) -> bool {
        let sh = &*self.shared;
        if sh.ring().any_ready() {
            return true;
        }
        if thorough {
            return sh.senders_gone();
        }
        let c = &sh.state().ctl;
        c.ever_sender.load(Ordering::Acquire) != 0 && c.senders.load(Ordering::Acquire) == 0
    }

    /// Senders wake one receiver after a fence.
    pub(super) fn select_park(&self) -> Park<'_> {
        receivers_park(&self.shared, false, true)
    }
}

impl<F: Format> spsc::Receiver<F> {
    /// A published message (the one sender stores the tail only after the
    /// slot), or the sending end gone.
    pub(super) fn select_ready(&self, thorough: bool) -> bool {
        let sh = &*self.shared;
        if sh.ring().len() != 0 {
            return true;
        }
        let (word, ever) = sh.role(End::Sender);
        if thorough { role_gone(word, ever, sh.seg()) } else { role_released(word, ever) }
    }

    /// The sender wakes every sleeper after the asymmetric barrier.
    pub(super) fn select_park(&self) -> Park<'_> {
        receivers_park(&self.shared, true, false)
    }
}

/// `Source` for a type whose receiving flavour is `self.$field` (an enum of
/// `Mpmc` and `Spsc`, or one flavour).
macro_rules! flavored_source {
    (impl[$($gen:tt)*] $ty:ty, |$s:ident| $flavor:expr) => {
        impl<$($gen)*> Source for $ty {
            fn ready(&self, _armed: u32, thorough: bool) -> bool {
                let $s = self;
                flavored_source!(@each $flavor, e => e.select_ready(thorough))
            }
            fn park(&self) -> Park<'_> {
                let $s = self;
                flavored_source!(@each $flavor, e => e.select_park())
            }
        }
    };
    (@each $flavor:expr, $e:ident => $call:expr) => {
        match $flavor {
            Either::Mpmc($e) => $call,
            Either::Spsc($e) => $call,
        }
    };
}

/// A receiving end of either flavour, borrowed.
pub(super) enum Either<'a, F: Format> {
    Mpmc(&'a mpmc::Receiver<F>),
    Spsc(&'a spsc::Receiver<F>),
}

flavored_source!(impl[T: ShmType] Receiver<T>, |r| r.either());
flavored_source!(impl[] DynReceiver, |r| r.either());
flavored_source!(impl[] MessageReceiver, |r| Either::Mpmc(r.inner()));

impl Source for ByteReceiver {
    fn ready(&self, _armed: u32, thorough: bool) -> bool {
        let (ring, seg) = self.ring_and_segment();
        ring.select_parts(seg, thorough).0
    }
    fn park(&self) -> Park<'_> {
        let (ring, seg) = self.ring_and_segment();
        ring.select_parts(seg, false).1
    }
}

impl Source for Connection {
    fn ready(&self, _armed: u32, thorough: bool) -> bool {
        let (ring, seg) = self.ring_and_segment();
        ring.select_parts(seg, thorough).0
    }
    fn park(&self) -> Park<'_> {
        let (ring, seg) = self.ring_and_segment();
        ring.select_parts(seg, false).1
    }
}
