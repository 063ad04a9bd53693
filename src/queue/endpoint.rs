//! Queue endpoints: who holds which end, whether the other side is still
//! there, and how a new endpoint attaches.
//!
//! # Exclusive ends (role words)
//!
//! An end that one endpoint holds at a time (both ends of a byte ring, of a
//! pipe, and of a single-producer [`Queue`](crate::Queue)) has a *role word*:
//!
//! | role word     | meaning                                          |
//! |---------------|--------------------------------------------------|
//! | `0`           | free (never held, or given up)                   |
//! | `HELD | t`    | held by the endpoint whose liveness token is `t` |
//!
//! and an `ever` word, set once the end was first held, so that a receiver
//! waits for a sender that has not come yet but is told `Disconnected` once
//! it has come and gone. A new endpoint takes a free end, or the end of a
//! dead holder, by CAS; a live holder's end gives [`Error::Busy`].
//!
//! # Counted ends (multi-producer queues)
//!
//! A multi-producer [`Queue`](crate::Queue) counts its senders and receivers,
//! in the queue and per handle in an [`EndpointEntry`] of its registry slot,
//! so that a waiter can tell, after a crash, whether any of them is alive.
//!
//! # Endpoints copied by `fork()`
//!
//! A forked child holds copies of the endpoints its parent held, counted
//! under the parent's slot. They must be neither the parent's (dropped in
//! the child they would uncount the parent's endpoints) nor nobody's (the
//! parent's receivers would be told `Disconnected` while the child still
//! sends):
//!
//! - Counted ends: a handle keeps a [`Tally`] of the endpoints it holds in
//!   this process. When a forked child registers the handle under a slot of
//!   its own (its first call on the queue, a drop included), the tally's
//!   copies are counted there and in the queue's totals: the child's from
//!   then on, uncounted by its drops, dead with it. A child that cannot
//!   register never counted them: its drops change nothing.
//! - Exclusive ends: only the process that took the role may drive the
//!   end; a copy in a forked child answers `Disconnected` (the byte rings:
//!   `Forked`), and its drop gives nothing up (the role word names the
//!   parent's token, never the child's).

use std::ptr::NonNull;

use super::slot_ring::QueueState;
use super::typed::{Format, Shared};
use crate::error::Error;
use crate::primitive::{AtomicU32, Ordering, asym};
use crate::segment::ForkHook;
use crate::segment::registry::{Liveness, Registration, Token};

/// Set in a role word while an end is held, so a token of 0 still counts.
const HELD: u32 = 1 << 31;
const _: () = assert!(Token::MASK < HELD);

/// Which end of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Sender,
    Receiver,
}

impl End {
    pub(crate) fn name(self) -> &'static str {
        match self {
            End::Sender => "sender",
            End::Receiver => "receiver",
        }
    }

    /// The other end.
    pub(crate) fn peer(self) -> End {
        match self {
            End::Sender => End::Receiver,
            End::Receiver => End::Sender,
        }
    }
}

/// The error for an end that a live endpoint of segment `name` holds.
pub(crate) fn busy(name: &str, end: End) -> Error {
    Error::Busy { name: name.to_owned(), end: end.name() }
}

/// Takes the end whose role word is `word` for the holder of `me`: free,
/// or held by a dead holder; sets `ever`. `Err(())` if a live holder (this
/// one included) has it.
pub(crate) fn claim_role(word: &AtomicU32, ever: &AtomicU32, me: Token, live: &impl Liveness) -> Result<(), ()> {
    let mut cur = word.load(Ordering::Acquire);
    loop {
        if cur != 0 && (Token::from_bits(cur) == me || live.is_alive(Token::from_bits(cur))) {
            return Err(());
        }
        match word.compare_exchange(cur, HELD | me.to_bits(), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(actual) => cur = actual,
        }
    }
    ever.store(1, Ordering::Release);
    Ok(())
}

/// Gives up the end whose role word is `word`, if `me` holds it.
pub(crate) fn release_role(word: &AtomicU32, me: Token) {
    let _ = word.compare_exchange(HELD | me.to_bits(), 0, Ordering::AcqRel, Ordering::Relaxed);
}

/// Whether the end was held once and has been given up (no liveness check).
#[inline]
pub(crate) fn role_released(word: &AtomicU32, ever: &AtomicU32) -> bool {
    ever.load(Ordering::Acquire) != 0 && word.load(Ordering::Acquire) == 0
}

/// Whether the end was held once and is not held by a live holder now.
pub(crate) fn role_gone(word: &AtomicU32, ever: &AtomicU32, live: &impl Liveness) -> bool {
    if ever.load(Ordering::Acquire) == 0 {
        return false;
    }
    let cur = word.load(Ordering::Acquire);
    cur == 0 || !live.is_alive(Token::from_bits(cur))
}

/// A `try_` call (or a send with room) checks whether a peer it cannot see
/// released is still alive (a syscall) once per this many calls; blocking
/// calls check whenever they are about to sleep.
pub(crate) const PEER_CHECK_EVERY: u32 = 1024;

/// Bumped when a readiness check of this process ([`wait_any`](crate::wait_any),
/// the background waiter) found a peer dead: every [`PeerCheck`] is then
/// due at its next call, so that a `try_` call says at once what the
/// readiness check saw.
static DEATHS_SEEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Makes every [`PeerCheck`] of this process due (see [`DEATHS_SEEN`]).
pub(crate) fn note_death_seen() {
    DEATHS_SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Counts the cheap checks of a peer's end, so that the thorough one (a
/// liveness syscall) is made once in [`PEER_CHECK_EVERY`], or at once after
/// a readiness check of this process found a peer dead.
/// Process-local counters (Relaxed: hints, so an endpoint shared by
/// threads may count a call twice or miss one).
#[derive(Debug, Default)]
pub(crate) struct PeerCheck {
    calls: std::sync::atomic::AtomicU32,
    deaths: std::sync::atomic::AtomicU32,
}

impl PeerCheck {
    /// Counts a call; `true` once in [`PEER_CHECK_EVERY`], and after a
    /// death was seen.
    #[inline]
    pub(crate) fn due(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let seen = DEATHS_SEEN.load(Relaxed);
        if seen != self.deaths.load(Relaxed) {
            self.deaths.store(seen, Relaxed);
            self.calls.store(0, Relaxed);
            return true;
        }
        let n = self.calls.load(Relaxed) + 1;
        self.calls.store(if n >= PEER_CHECK_EVERY { 0 } else { n }, Relaxed);
        n >= PEER_CHECK_EVERY
    }

    /// Whether the end with role word `word` is gone: released (seen at
    /// once), or held by a dead holder (seen when the thorough check is
    /// due).
    #[inline]
    pub(crate) fn gone(&self, word: &AtomicU32, ever: &AtomicU32, live: &impl Liveness) -> bool {
        if self.due() { role_gone(word, ever, live) } else { role_released(word, ever) }
    }
}

/// Endpoints a handle (a registry slot) holds: lets a waiter find out, after
/// a crash, whether any sender or receiver is still alive.
#[repr(C)]
pub(crate) struct EndpointEntry {
    /// Token of the handle that last used this registry slot.
    pub(crate) token: AtomicU32,
    pub(crate) senders: AtomicU32,
    pub(crate) receivers: AtomicU32,
    _pad: u32,
}

/// The endpoints of a multi-producer queue held through one handle in this
/// process, as its registry slot's [`EndpointEntry`] counts them; a forked
/// child counts its copies under its own slot from these (see the module
/// docs). Installed as the handle's [`ForkHook`].
pub(crate) struct Tally {
    senders: std::sync::atomic::AtomicU32,
    receivers: std::sync::atomic::AtomicU32,
    /// The queue's state and its endpoint table (`n` entries), in the
    /// mapping of the segment that owns this hook.
    state: NonNull<QueueState>,
    entries: NonNull<EndpointEntry>,
    n: usize,
}

// SAFETY: the pointers lead into the mapping of the segment that owns the
// hook (so they live as long as it), to shared state that is only accessed
// atomically; the counts are atomics.
unsafe impl Send for Tally {}
// SAFETY: as above.
unsafe impl Sync for Tally {}

impl Tally {
    fn count(&self, end: End) -> &std::sync::atomic::AtomicU32 {
        match end {
            End::Sender => &self.senders,
            End::Receiver => &self.receivers,
        }
    }
}

impl ForkHook for Tally {
    /// Counts the child's copies in its own entry and in the totals.
    fn registered(&self, reg: Registration) {
        use std::sync::atomic::Ordering::Relaxed;
        // SAFETY: see the `Send` impl: the pointers are valid for the life
        // of the segment that calls its own hook.
        let (state, entries) =
            unsafe { (self.state.as_ref(), std::slice::from_raw_parts(self.entries.as_ptr(), self.n)) };
        let (senders, receivers) = (self.senders.load(Relaxed), self.receivers.load(Relaxed));
        if let Some(entry) = entries.get(reg.slot() as usize) {
            // Our new slot is ours alone: whatever a dead previous holder
            // left goes.
            entry.senders.store(senders, Ordering::Relaxed);
            entry.receivers.store(receivers, Ordering::Relaxed);
            entry.token.store(reg.token().to_bits(), Ordering::Release);
        }
        // The totals count the copies once more: the parent's own stay
        // counted under the parent's slot.
        state.ctl.senders.fetch_add(senders, Ordering::AcqRel);
        state.ctl.receivers.fetch_add(receivers, Ordering::AcqRel);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Attaching endpoints to a [`Queue`](crate::Queue) and telling whether the
/// other side is gone.
impl<F: Format> Shared<F> {
    /// Claims our endpoint entry: our registry slot is ours alone, so
    /// whatever counts a dead previous holder left are reset first. Installs
    /// the handle's [`Tally`].
    pub(super) fn claim_entry(&self) {
        if let Some(entry) = self.my_entry() {
            entry.senders.store(0, Ordering::Relaxed);
            entry.receivers.store(0, Ordering::Relaxed);
            entry.token.store(self.seg().token().to_bits(), Ordering::Release);
        }
        let endpoints = self.endpoints();
        self.seg().set_fork_hook(Box::new(Tally {
            senders: Default::default(),
            receivers: Default::default(),
            state: NonNull::from(self.state()),
            entries: NonNull::from(endpoints).cast(),
            n: endpoints.len(),
        }));
    }

    pub(super) fn my_entry(&self) -> Option<&EndpointEntry> {
        self.entry(self.seg().token())
    }

    fn entry(&self, token: Token) -> Option<&EndpointEntry> {
        self.endpoints().get(token.slot() as usize)
    }

    /// This handle's [`Tally`].
    fn tally(&self) -> Option<&Tally> {
        self.seg().fork_hook().and_then(|h| h.as_any().downcast_ref::<Tally>())
    }

    /// Whether some registered endpoint of the kind `count` selects is alive.
    fn any_alive(&self, count: impl Fn(&EndpointEntry) -> &AtomicU32) -> bool {
        self.endpoints().iter().enumerate().any(|(slot, e)| {
            if count(e).load(Ordering::Acquire) == 0 {
                return false;
            }
            let token = Token::from_bits(e.token.load(Ordering::Acquire));
            token.slot() as usize == slot && self.seg().is_alive(token)
        })
    }

    /// Multi-producer queues: every sender that ever attached is gone.
    pub(super) fn senders_gone(&self) -> bool {
        let c = &self.state().ctl;
        c.ever_sender.load(Ordering::Acquire) != 0
            && (c.senders.load(Ordering::Acquire) == 0 || !self.any_alive(|e| &e.senders))
    }

    /// Multi-producer queues: every receiver that ever attached was dropped
    /// (or, `thorough`, is dead).
    pub(super) fn receivers_gone(&self, thorough: bool) -> bool {
        let c = &self.state().ctl;
        c.ever_receiver.load(Ordering::Acquire) != 0
            && (c.receivers.load(Ordering::Acquire) == 0 || (thorough && !self.any_alive(|e| &e.receivers)))
    }

    /// Multi-producer queues: counts a new endpoint of `end` (in the queue,
    /// in this handle's entry and in its tally).
    pub(super) fn count_in(&self, end: End) {
        // First: in a forked child this registers, and counts the copies
        // tallied so far (not this one) under the child's slot.
        let me = self.seg().token();
        let c = &self.state().ctl;
        let (count, ever) = match end {
            End::Sender => (&c.senders, &c.ever_sender),
            End::Receiver => (&c.receivers, &c.ever_receiver),
        };
        if let Some(t) = self.tally() {
            t.count(end).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(e) = self.entry(me) {
            match end {
                End::Sender => e.senders.fetch_add(1, Ordering::AcqRel),
                End::Receiver => e.receivers.fetch_add(1, Ordering::AcqRel),
            };
        }
        count.fetch_add(1, Ordering::AcqRel);
        ever.store(1, Ordering::Release);
    }

    /// Multi-producer queues: uncounts a dropped endpoint of `end` and wakes
    /// the other side, which may now be disconnected.
    ///
    /// In a forked child this registers first (the copies are counted
    /// under the child's slot, then this one is taken off); a child that
    /// cannot register never counted its copies, and changes nothing.
    pub(super) fn count_out(&self, end: End) {
        let Ok(me) = self.seg().try_registration() else { return };
        let c = &self.state().ctl;
        if let Some(t) = self.tally() {
            t.count(end).fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(e) = self.entry(me.token()) {
            match end {
                End::Sender => e.senders.fetch_sub(1, Ordering::AcqRel),
                End::Receiver => e.receivers.fetch_sub(1, Ordering::AcqRel),
            };
        }
        match end {
            End::Sender => c.senders.fetch_sub(1, Ordering::AcqRel),
            End::Receiver => c.receivers.fetch_sub(1, Ordering::AcqRel),
        };
        c.waits.notify(end.peer(), true);
    }

    /// Single-producer queues: the role word and `ever` flag of `end`.
    pub(super) fn role(&self, end: End) -> (&AtomicU32, &AtomicU32) {
        let c = &self.state().ctl;
        match end {
            End::Sender => (&c.sender_role, &c.ever_sender),
            End::Receiver => (&c.receiver_role, &c.ever_receiver),
        }
    }

    /// Single-producer queues: takes `end` for this handle.
    ///
    /// # Errors
    /// [`Error::Busy`] while a live endpoint holds it; in a forked child
    /// that cannot register, the error of
    /// [`RawSegment::try_registration`](crate::segment::RawSegment::try_registration).
    pub(super) fn claim(&self, end: End) -> Result<(), Error> {
        asym::register();
        let me = self.seg().try_registration()?.token();
        let (word, ever) = self.role(end);
        claim_role(word, ever, me, self.seg()).map_err(|()| busy(self.seg().name(), end))
    }

    /// Single-producer queues: gives `end` up and wakes the other side,
    /// which may now be disconnected. A copy dropped in a forked child gives
    /// nothing up: the role word names its parent, not the child (and a
    /// child that cannot register does not try).
    pub(super) fn release(&self, end: End) {
        let Ok(me) = self.seg().try_registration() else { return };
        release_role(self.role(end).0, me.token());
        self.state().ctl.waits.notify(end.peer(), true);
    }
}
