//! The two ends of a byte ring as [`ByteQueue`](crate::ByteQueue) and
//! [`Pipe`](crate::Pipe) hold them ([`Tx`], [`Rx`]): the producer or
//! consumer cursor, the wait strategy and the peer checks, and the waits for
//! room or for a record. Also the state of a segment of byte rings
//! ([`ByteRings`]) and where each ring lies in it.
//!
//! # Inlining
//!
//! None of this is generic, so a caller in another crate (a user's
//! program, the C ABI, the Python module, the bench) inlines only what is
//! marked `#[inline]`: everything a send, a receive or a grant does on its
//! common path is, down to the ring's cursors, and only the waits and the
//! rare cases are calls. Calls left on that path made a round trip between
//! two processes 10-20 ns slower and streaming up to 2.6 times slower
//! (BENCHMARKS.md, "Byte-ring round trips").

use std::ptr::NonNull;

use bytemuck::Pod;

use super::byte_ring::{self, ByteRing, Consumer, Corrupt, Producer, Record, Reserved, RingState};
use super::endpoint::{End, PeerCheck, busy};
use super::errors::{ByteRecvError, ByteSendError};
use super::waits::Waited;
use crate::error::Error;
use crate::handle::{Handle, SegmentState, StateLayout};
use crate::segment::fork;
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::segment::registry::Liveness;
use crate::segment::{RawSegment, ShmSafe};
use crate::wait::{Deadline, WaitStrategy};

impl From<Corrupt> for ByteSendError {
    fn from(c: Corrupt) -> Self {
        ByteSendError::Corrupt(c.0)
    }
}

impl From<Corrupt> for ByteRecvError {
    fn from(c: Corrupt) -> Self {
        ByteRecvError::Corrupt(c.0)
    }
}

/// The capacity a ring of at least `bytes` gets: a power of two.
pub(crate) fn ring_capacity(bytes: usize) -> Result<u64, Error> {
    let want = (bytes as u64).max(byte_ring::MIN_CAPACITY);
    if bytes == 0 || want > byte_ring::MAX_CAPACITY {
        return Err(Error::InvalidArgument(format!(
            "byte queue capacity {bytes} is not in 1..={} bytes",
            byte_ring::MAX_CAPACITY
        )));
    }
    Ok(want.next_power_of_two())
}

/// Checks a ring capacity read from a header.
pub(crate) fn check_capacity(name: &str, cap: u64) -> Result<(), Error> {
    if !cap.is_power_of_two() || !(byte_ring::MIN_CAPACITY..=byte_ring::MAX_CAPACITY).contains(&cap) {
        return Err(Error::Corrupt { name: name.to_owned(), reason: format!("ring capacity {cap}") });
    }
    Ok(())
}

/// Writes the four forms of blocking calls of a byte queue's end: `call`
/// (waits as long as it takes), `try_call` (does not wait), `call_timeout`
/// and `call_deadline`, from one body that waits until the `Deadline` it
/// is given. First the receiver, `&mut self` or `&self`, as the bodies
/// name it; then the errors of a call that may not wait, and of one whose
/// time ran out.
///
/// ```text
/// byte_forms! { &mut self, "[`ByteSendError::Full`]", "[`ByteSendError::Timeout`]";
///     /// Sends a copy of `msg`, waiting while there is no room.
///     send / try_send / send_timeout / send_deadline (msg: &[u8]) -> Result<(), ByteSendError>
///         = |d| self.tx.send_until(self.shared.segment(), msg, d);
/// }
/// ```
macro_rules! byte_forms {
    (&mut $self:ident, $($rest:tt)*) => {
        crate::queue::byte_ends::byte_forms! { @[&mut $self] $($rest)* }
    };
    (&$self:ident, $($rest:tt)*) => {
        crate::queue::byte_ends::byte_forms! { @[&$self] $($rest)* }
    };
    // One call at a time, so that the receiver's tokens repeat on their own.
    (@[$($recv:tt)+] $now_err:literal, $late_err:literal;) => {};
    (
        @[$($recv:tt)+] $now_err:literal, $late_err:literal;
        $(#[$doc:meta])*
        $call:ident / $try_:ident / $timeout:ident / $deadline:ident $([$($gen:tt)*])?
        ($($arg:ident: $argty:ty),*) -> $ret:ty = |$dl:ident| $body:expr;
        $($more:tt)*
    ) => {
        $(#[$doc])*
        #[inline]
        pub fn $call$(<$($gen)*>)?($($recv)+, $($arg: $argty),*) -> $ret {
            let $dl = crate::wait::Deadline::Never;
            $body
        }

        #[doc = concat!("[`", stringify!($call), "`](Self::", stringify!($call), ") if it can be done now, without waiting.")]
        ///
        /// # Errors
        #[doc = concat!($now_err, ", and those of [`", stringify!($call), "`](Self::", stringify!($call), ").")]
        #[inline]
        pub fn $try_$(<$($gen)*>)?($($recv)+, $($arg: $argty),*) -> $ret {
            let $dl = crate::wait::Deadline::Now;
            $body
        }

        #[doc = concat!("[`", stringify!($call), "`](Self::", stringify!($call), "), waiting at most `timeout`.")]
        ///
        /// # Errors
        #[doc = concat!($late_err, ", and those of [`", stringify!($call), "`](Self::", stringify!($call), ").")]
        #[inline]
        pub fn $timeout$(<$($gen)*>)?($($recv)+, $($arg: $argty,)* timeout: std::time::Duration) -> $ret {
            let $dl = crate::wait::Deadline::after(timeout);
            $body
        }

        #[doc = concat!("[`", stringify!($call), "`](Self::", stringify!($call), "), waiting until `deadline` at most.")]
        ///
        /// # Errors
        #[doc = concat!($late_err, ", and those of [`", stringify!($call), "`](Self::", stringify!($call), ").")]
        #[inline]
        pub fn $deadline$(<$($gen)*>)?($($recv)+, $($arg: $argty,)* deadline: std::time::Instant) -> $ret {
            let $dl = crate::wait::Deadline::At(deadline);
            $body
        }

        crate::queue::byte_ends::byte_forms! { @[$($recv)+] $now_err, $late_err; $($more)* }
    };
}
pub(crate) use byte_forms;

/// The sending calls of an end that holds a [`Tx`] in `self.tx` and the
/// handle of its segment in `self.shared`: `send`, `send_value` and
/// `reserve`, each in the four forms of [`byte_forms!`].
macro_rules! send_forms {
    () => {
        crate::queue::byte_ends::byte_forms! {
            &mut self, "[`ByteSendError::Full`](crate::queue::ByteSendError::Full)",
            "[`ByteSendError::Timeout`](crate::queue::ByteSendError::Timeout)";

            /// Sends a copy of `msg`, waiting while there is no room for it.
            ///
            /// # Errors
            /// [`ByteSendError::Disconnected`](crate::queue::ByteSendError::Disconnected)
            /// if the receiving end is gone,
            /// [`ByteSendError::TooLarge`](crate::queue::ByteSendError::TooLarge),
            /// [`ByteSendError::Corrupt`](crate::queue::ByteSendError::Corrupt).
            send / try_send / send_timeout / send_deadline
            (msg: &[u8]) -> Result<(), crate::queue::ByteSendError>
                = |d| self.tx.send_until(self.shared.segment(), msg, d);

            /// Sends the bytes of `value`, waiting while there is no room.
            ///
            /// # Errors
            /// As [`send`](Self::send).
            send_value / try_send_value / send_value_timeout / send_value_deadline [T: bytemuck::Pod]
            (value: &T) -> Result<(), crate::queue::ByteSendError>
                = |d| self.tx.send_until(self.shared.segment(), bytemuck::bytes_of(value), d);

            /// Reserves `len` bytes in the ring to write a message in place,
            /// waiting while there is no room. The message is sent when the
            /// grant is [committed](crate::queue::WriteGrant::commit), and
            /// abandoned if the grant is dropped uncommitted. The bytes hold
            /// whatever was there before.
            ///
            /// # Errors
            /// As [`send`](Self::send).
            reserve / try_reserve / reserve_timeout / reserve_deadline
            (len: usize) -> Result<crate::queue::WriteGrant<'_>, crate::queue::ByteSendError> = |d| {
                let r = self.tx.reserve_until(self.shared.segment(), len, d)?;
                Ok(crate::queue::WriteGrant::new(&mut self.tx, r))
            };
        }
    };
}
pub(crate) use send_forms;

/// The receiving calls of an end that holds an [`Rx`] in `self.rx` and the
/// handle of its segment in `self.shared`: `recv`, `recv_into`,
/// `recv_value` and `recv_ref`, each in the four forms of [`byte_forms!`],
/// and `poll`
/// (which takes its timeout), `try_poll` and `poll_deadline`.
macro_rules! recv_forms {
    () => {
        crate::queue::byte_ends::byte_forms! {
            &mut self, "[`ByteRecvError::Empty`](crate::queue::ByteRecvError::Empty)",
            "[`ByteRecvError::Timeout`](crate::queue::ByteRecvError::Timeout)";

            /// Receives a message, waiting while none is there.
            ///
            /// # Errors
            /// [`ByteRecvError::Disconnected`](crate::queue::ByteRecvError::Disconnected)
            /// at the end of the stream (the sending end is gone and
            /// everything it sent was received),
            /// [`ByteRecvError::Corrupt`](crate::queue::ByteRecvError::Corrupt).
            recv / try_recv / recv_timeout / recv_deadline
            () -> Result<Vec<u8>, crate::queue::ByteRecvError>
                = |d| self.rx.recv_until(self.shared.segment(), d);

            /// Receives a message into `buf`, returning its length.
            ///
            /// # Errors
            /// [`ByteRecvError::BufferTooSmall`](crate::queue::ByteRecvError::BufferTooSmall)
            /// (the message stays queued), and those of [`recv`](Self::recv).
            recv_into / try_recv_into / recv_into_timeout / recv_into_deadline
            (buf: &mut [u8]) -> Result<usize, crate::queue::ByteRecvError>
                = |d| self.rx.recv_into_until(self.shared.segment(), buf, d);

            /// Receives a value sent with `send_value`.
            ///
            /// # Errors
            /// [`ByteRecvError::WrongSize`](crate::queue::ByteRecvError::WrongSize)
            /// if the message is not `size_of::<T>()` bytes (it is
            /// consumed), and those of [`recv`](Self::recv).
            recv_value / try_recv_value / recv_value_timeout / recv_value_deadline [T: bytemuck::Pod]
            () -> Result<T, crate::queue::ByteRecvError>
                = |d| self.rx.recv_value_until(self.shared.segment(), d);

            /// Receives a message in place, waiting while none is there: the
            /// grant derefs to the message's bytes in the ring, which are
            /// freed when it is dropped.
            ///
            /// # Errors
            /// As [`recv`](Self::recv).
            recv_ref / try_recv_ref / recv_ref_timeout / recv_ref_deadline
            () -> Result<crate::queue::ReadGrant<'_>, crate::queue::ByteRecvError> = |d| {
                let r = self.rx.next_until(self.shared.segment(), d)?;
                Ok(crate::queue::ReadGrant::new(&mut self.rx, r))
            };
        }

        /// Waits at most `timeout` until a message is there: `Ok(true)` if
        /// one is, `Ok(false)` on timeout. `Duration::ZERO` just looks.
        ///
        /// # Errors
        /// [`ByteRecvError::Disconnected`](crate::queue::ByteRecvError::Disconnected)
        /// at the end of the stream,
        /// [`ByteRecvError::Corrupt`](crate::queue::ByteRecvError::Corrupt).
        pub fn poll(&mut self, timeout: std::time::Duration) -> Result<bool, crate::queue::ByteRecvError> {
            use crate::wait::Deadline;
            let deadline = if timeout.is_zero() { Deadline::Now } else { Deadline::after(timeout) };
            self.rx.poll_until(self.shared.segment(), deadline)
        }

        /// Whether a message is there now (as `poll(Duration::ZERO)`).
        ///
        /// # Errors
        /// As [`poll`](Self::poll).
        pub fn try_poll(&mut self) -> Result<bool, crate::queue::ByteRecvError> {
            self.rx.poll_until(self.shared.segment(), crate::wait::Deadline::Now)
        }

        /// Waits until `deadline` at most until a message is there:
        /// `Ok(true)` if one is, `Ok(false)` when the time is up.
        ///
        /// # Errors
        /// As [`poll`](Self::poll).
        pub fn poll_deadline(&mut self, deadline: std::time::Instant) -> Result<bool, crate::queue::ByteRecvError> {
            self.rx.poll_until(self.shared.segment(), crate::wait::Deadline::At(deadline))
        }
    };
}
pub(crate) use recv_forms;

/// Takes `end` of `ring` for `seg`'s handle, then makes its cursor with
/// `cursor`; gives the end back if the ring's indices are impossible.
fn claim_end<C>(
    ring: ByteRing,
    seg: &RawSegment,
    end: End,
    cursor: impl FnOnce(ByteRing) -> Result<C, Corrupt>,
) -> Result<C, Error> {
    crate::primitive::asym::register();
    ring.claim(end, seg.try_registration()?.token(), seg).map_err(|()| busy(seg.name(), end))?;
    cursor(ring).map_err(|c| {
        ring.release(end, seg.token());
        Error::Corrupt { name: seg.name().to_owned(), reason: c.0 }
    })
}

/// The sending half of an endpoint: the producer cursor of one ring.
pub(crate) struct Tx {
    pub(super) prod: Producer,
    pub(crate) strategy: WaitStrategy,
    /// How often a send checks the receiver's liveness.
    peer: PeerCheck,
    /// The fork generation the end was taken in: a copy in a `fork()`ed
    /// child must not drive it (see `endpoint.rs`).
    born: u32,
}

impl Tx {
    /// Takes the sender end of `ring` for `seg`'s handle.
    pub(crate) fn claim(ring: ByteRing, seg: &RawSegment, strategy: WaitStrategy) -> Result<Tx, Error> {
        let prod = claim_end(ring, seg, End::Sender, Producer::new)?;
        Ok(Tx { prod, strategy, peer: PeerCheck::default(), born: fork::generation() })
    }

    /// Gives the end up; a copy in a `fork()`ed child leaves it alone.
    pub(crate) fn release(&mut self, seg: &RawSegment) {
        if fork::forked_since(self.born) {
            return;
        }
        self.prod.rollback();
        self.prod.ring().release(End::Sender, seg.token());
    }

    pub(crate) fn max(&self) -> usize {
        byte_ring::max_message(self.prod.ring().capacity()) as usize
    }

    /// The ring this end writes.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn ring(&self) -> &ByteRing {
        self.prod.ring()
    }

    /// Reserves `len` bytes, waiting per `deadline` for room. Inlined: a
    /// reservation returned through memory is read back with a wider load
    /// than it was written with, and that load waits for every earlier
    /// store (the last message's, to lines the consumer holds) to drain.
    #[inline(always)]
    pub(crate) fn reserve_until(
        &mut self,
        seg: &RawSegment,
        len: usize,
        deadline: Deadline,
    ) -> Result<Reserved, ByteSendError> {
        self.check_send(seg, len)?;
        self.reserve_checked(seg, len, deadline)
    }

    /// Why a message of `len` bytes cannot be sent at all, if it cannot:
    /// this end was forked, the message is too long, the receiver is gone.
    #[inline(always)]
    fn check_send(&self, seg: &RawSegment, len: usize) -> Result<(), ByteSendError> {
        if fork::forked_since(self.born) {
            return Err(ByteSendError::Forked);
        }
        if len > self.max() {
            return Err(ByteSendError::TooLarge { len, max: self.max() });
        }
        if self.prod.ring().gone_lazily(End::Receiver, seg, &self.peer) {
            return Err(ByteSendError::Disconnected);
        }
        Ok(())
    }

    /// [`reserve_until`](Self::reserve_until) past its checks.
    #[inline(always)]
    fn reserve_checked(&mut self, seg: &RawSegment, len: usize, deadline: Deadline) -> Result<Reserved, ByteSendError> {
        let ring = *self.prod.ring();
        loop {
            if let Some(r) = self.prod.try_reserve(len)? {
                return Ok(r);
            }
            if deadline == Deadline::Now {
                // No waiting, and no liveness syscall: the check above
                // notices a dead receiver now and then.
                return Err(ByteSendError::Full);
            }
            let prod = &mut self.prod;
            match ring.wait(End::Sender, seg, self.strategy, deadline, || prod.fits(len).unwrap_or(true)) {
                Waited::Ready => {}
                Waited::TimedOut if deadline == Deadline::Now => return Err(ByteSendError::Full),
                Waited::TimedOut => return Err(ByteSendError::Timeout),
                Waited::PeerGone => return Err(ByteSendError::Disconnected),
            }
        }
    }

    /// Sends `msg`, waiting per `deadline` for room. The common case (a
    /// short message that fits where the producer stands) is inline in the
    /// caller, across crates too; the rest is a call.
    #[inline(always)]
    pub(crate) fn send_until(&mut self, seg: &RawSegment, msg: &[u8], deadline: Deadline) -> Result<(), ByteSendError> {
        self.check_send(seg, msg.len())?;
        if self.prod.send_now(msg) {
            return Ok(());
        }
        self.send_reserving(seg, msg, deadline)
    }

    /// [`send_until`](Self::send_until) past its one-step case: reserve
    /// (waiting for room), fill, publish.
    #[inline(never)]
    fn send_reserving(&mut self, seg: &RawSegment, msg: &[u8], deadline: Deadline) -> Result<(), ByteSendError> {
        let r = self.reserve_checked(seg, msg.len(), deadline)?;
        self.prod.fill(r, msg);
        self.prod.publish();
        Ok(())
    }

    /// Sends messages `msg(0)..msg(n)` in order, publishing once per run
    /// that fits; returns how many were sent before an error.
    pub(crate) fn send_batch_until<'m>(
        &mut self,
        seg: &RawSegment,
        n: usize,
        msg: impl Fn(usize) -> &'m [u8],
        deadline: Deadline,
    ) -> (usize, Result<(), ByteSendError>) {
        if fork::forked_since(self.born) {
            return (0, Err(ByteSendError::Forked));
        }
        let max = self.max();
        if let Some(len) = (0..n).map(|i| msg(i).len()).find(|&len| len > max) {
            return (0, Err(ByteSendError::TooLarge { len, max }));
        }
        for i in 0..n {
            let m = msg(i);
            let r = match self.prod.try_reserve(m.len()) {
                Ok(Some(r)) => r,
                Ok(None) => {
                    // Out of room: let the receiver have what is written.
                    self.prod.publish();
                    match self.reserve_until(seg, m.len(), deadline) {
                        Ok(r) => r,
                        Err(e) => return (i, Err(e)),
                    }
                }
                Err(c) => {
                    self.prod.publish();
                    return (i, Err(c.into()));
                }
            };
            self.prod.fill(r, m);
        }
        self.prod.publish();
        (n, Ok(()))
    }
}

/// The receiving half of an endpoint: the consumer cursor of one ring.
pub(crate) struct Rx {
    cons: Consumer,
    pub(crate) strategy: WaitStrategy,
    /// How often a `try_` receive on an empty ring checks the sender's
    /// liveness.
    peer: PeerCheck,
    /// As the sender's.
    born: u32,
}

impl Rx {
    /// The ring this end reads.
    pub(crate) fn ring(&self) -> &ByteRing {
        self.cons.ring()
    }

    /// Takes the receiver end of `ring` for `seg`'s handle.
    pub(crate) fn claim(ring: ByteRing, seg: &RawSegment, strategy: WaitStrategy) -> Result<Rx, Error> {
        let cons = claim_end(ring, seg, End::Receiver, Consumer::new)?;
        Ok(Rx { cons, strategy, peer: PeerCheck::default(), born: fork::generation() })
    }

    /// Gives the end up; a copy in a `fork()`ed child leaves it alone.
    pub(crate) fn release(&mut self, seg: &RawSegment) {
        if fork::forked_since(self.born) {
            return;
        }
        self.cons.ring().release(End::Receiver, seg.token());
    }

    /// The next record, waiting per `deadline`: one published now is taken
    /// inline, and so is one the wait found (the record comes back in
    /// registers: returned through memory from a call, it was read back
    /// with a wider load than it was stored with, which waited for the
    /// stores to drain).
    #[inline(always)]
    pub(crate) fn next_until(&mut self, seg: &RawSegment, deadline: Deadline) -> Result<Record, ByteRecvError> {
        loop {
            if !fork::forked_since(self.born)
                && let Some(r) = self.cons.peek_plain()
            {
                return Ok(r);
            }
            self.wait_record(seg, deadline)?;
        }
    }

    /// Waits per `deadline` until a record that [`Consumer::peek_plain`]
    /// takes is at the read position (padding before it is skipped), or
    /// says why not.
    #[inline(never)]
    fn wait_record(&mut self, seg: &RawSegment, deadline: Deadline) -> Result<(), ByteRecvError> {
        if fork::forked_since(self.born) {
            return Err(ByteRecvError::Forked);
        }
        let ring = *self.cons.ring();
        // Nothing published (the common case of a poll): no padding to
        // skip, nor a record to check.
        if self.cons.has_data() && self.cons.peek()?.is_some() {
            return Ok(());
        }
        if deadline == Deadline::Now {
            // A poll: the liveness syscall only now and then; a sender that
            // let go of its end is seen at once.
            let gone = ring.gone_lazily(End::Sender, seg, &self.peer);
            if !gone && !self.cons.has_data() {
                return Err(ByteRecvError::Empty);
            }
            return match self.cons.peek()? {
                Some(_) => Ok(()),
                None if gone => Err(ByteRecvError::Disconnected),
                None => Err(ByteRecvError::Empty),
            };
        }
        // The waiter polls (per the strategy) as the typed queue's does. A
        // loop of our own polls here first made the round trip 20-25 ns
        // slower or no faster, depending on the build (BENCHMARKS.md,
        // "Byte-ring round trips").
        let cons = &mut self.cons;
        match ring.wait(End::Receiver, seg, self.strategy, deadline, || cons.has_data()) {
            // Published: the caller takes it (a padding record brings it
            // back here, where `peek` skips it).
            Waited::Ready => Ok(()),
            Waited::TimedOut if deadline == Deadline::Now => Err(ByteRecvError::Empty),
            Waited::TimedOut => Err(ByteRecvError::Timeout),
            Waited::PeerGone => self.cons.peek()?.map(|_| ()).ok_or(ByteRecvError::Disconnected),
        }
    }

    /// Whether a message is there, waiting per `deadline`; `Ok(false)` when
    /// the time is up. End of stream is an error, as for a receive.
    pub(crate) fn poll_until(&mut self, seg: &RawSegment, deadline: Deadline) -> Result<bool, ByteRecvError> {
        match self.next_until(seg, deadline) {
            Ok(_) => Ok(true),
            Err(ByteRecvError::Empty | ByteRecvError::Timeout) => Ok(false),
            Err(e) => Err(e),
        }
    }

    #[inline]
    pub(crate) fn payload(&self, r: Record) -> &[u8] {
        // SAFETY: r is the record the last peek returned and is not consumed
        // yet; the slice borrows self, so it ends before the next consume.
        unsafe { self.cons.payload(r) }
    }

    /// Consumes `r` and frees it.
    #[inline]
    pub(crate) fn done(&mut self, r: Record) {
        self.cons.consume(r);
        self.cons.release();
    }

    pub(crate) fn recv_until(&mut self, seg: &RawSegment, deadline: Deadline) -> Result<Vec<u8>, ByteRecvError> {
        let r = self.next_until(seg, deadline)?;
        let v = crate::copy::to_vec(self.payload(r));
        self.done(r);
        Ok(v)
    }

    #[inline(always)]
    pub(crate) fn recv_into_until(
        &mut self,
        seg: &RawSegment,
        buf: &mut [u8],
        deadline: Deadline,
    ) -> Result<usize, ByteRecvError> {
        let r = self.next_until(seg, deadline)?;
        if r.len > buf.len() {
            return Err(ByteRecvError::BufferTooSmall { len: r.len });
        }
        // SAFETY: the payload is r.len bytes, buf at least as long (checked
        // above), and the two do not overlap (buf is borrowed mutably).
        unsafe { crate::copy::copy_out(self.payload(r).as_ptr(), buf.as_mut_ptr(), r.len) };
        self.done(r);
        Ok(r.len)
    }

    pub(crate) fn recv_value_until<T: Pod>(
        &mut self,
        seg: &RawSegment,
        deadline: Deadline,
    ) -> Result<T, ByteRecvError> {
        let r = self.next_until(seg, deadline)?;
        let expected = std::mem::size_of::<T>();
        let got = (r.len == expected).then(|| bytemuck::pod_read_unaligned(self.payload(r)));
        self.done(r);
        got.ok_or(ByteRecvError::WrongSize { len: r.len, expected })
    }

    /// Hands each message to `f` as it lies in the ring: waits per
    /// `deadline` for the first, then takes up to `max` that are there,
    /// freeing them all at once.
    pub(crate) fn recv_batch_until(
        &mut self,
        seg: &RawSegment,
        max: usize,
        deadline: Deadline,
        mut f: impl FnMut(&[u8]),
    ) -> Result<usize, ByteRecvError> {
        if max == 0 {
            return Ok(0);
        }
        let mut r = self.next_until(seg, deadline)?;
        let mut n = 0;
        loop {
            f(self.payload(r));
            self.cons.consume(r);
            n += 1;
            if n == max {
                break;
            }
            match self.cons.peek() {
                Ok(Some(next)) => r = next,
                Ok(None) => break,
                Err(c) => {
                    self.cons.release();
                    return if n > 0 { Ok(n) } else { Err(c.into()) };
                }
            }
        }
        self.cons.release();
        Ok(n)
    }
}

/// The state of a segment of `N` byte rings of `cap` bytes each: a ring's
/// state then its data, one ring after the other (each starts 64-byte
/// aligned: the state's size and the capacity are multiples of 64). One
/// ring is a [`ByteQueue`](crate::ByteQueue), two (one each way) a
/// [`Pipe`](crate::Pipe). This is the first ring's state; the rest is the
/// tail.
#[repr(transparent)]
pub(crate) struct ByteRings<const N: usize> {
    first: RingState,
}

// SAFETY: repr(transparent) over a ring's state, which is repr(C) atomics
// only (any bits valid, no pointers, no drop glue); the data bytes after it
// are plain bytes, reached only by the holder of an end.
unsafe impl<const N: usize> ShmSafe for ByteRings<N> {}

impl<const N: usize> SegmentState for ByteRings<N> {
    const KINDS: &'static [ObjectKind] = if N == 1 { &[ObjectKind::ByteQueue] } else { &[ObjectKind::Pipe] };
    /// The capacity of each ring in bytes.
    type Params = u64;
    type Init<'a> = ();

    fn fingerprint(&cap: &u64) -> Fingerprint {
        Fingerprint::of::<u8>(cap)
    }

    fn layout(&cap: &u64, _slots: u32) -> Result<StateLayout, Error> {
        let size = usize::try_from(cap)
            .ok()
            .and_then(|cap| cap.checked_add(byte_ring::STATE_SIZE))
            .and_then(|ring| ring.checked_mul(N))
            .ok_or_else(|| Error::InvalidArgument(format!("a ring of {cap} bytes is too large")))?;
        Ok(StateLayout { size, align: 64 })
    }

    /// Zeroed memory is the initial state: both indices at 0, no end held.
    fn init(&mut self, _tail: &mut [u8], _cap: &u64, _slots: u32, (): ()) {}

    fn params_of(name: &str, header: &Header) -> Result<u64, Error> {
        check_capacity(name, header.capacity)?;
        Ok(header.capacity)
    }

    /// `open_or_create` takes an existing object as it is, whatever its
    /// capacity, as `open` does.
    fn check_existing(_name: &str, _header: &Header, _asked: &u64, _found: &u64) -> Result<(), Error> {
        Ok(())
    }

    fn wanted() -> String {
        Self::KINDS[0].name().to_owned()
    }
}

impl<const N: usize> Handle<ByteRings<N>> {
    /// The capacity of each ring in bytes.
    pub(crate) fn ring_cap(&self) -> u64 {
        *self.params()
    }

    /// A view of ring `index` (below `N`).
    pub(crate) fn ring(&self, index: usize) -> ByteRing {
        debug_assert!(index < N);
        let cap = self.ring_cap();
        // SAFETY: the state is 64-byte aligned (the layout) and holds
        // `N` rings of a state and `cap` bytes each (checked against
        // the header at open, made at create), so ring `index` starts
        // 64-byte aligned inside it, with a capacity checked by
        // `params_of` or `ring_capacity`; the mapping lives in this handle,
        // which outlives the view in every holder (they keep the `Arc`
        // that owns it).
        unsafe {
            let at = index * (byte_ring::STATE_SIZE + cap as usize);
            ByteRing::new(NonNull::new_unchecked(self.data_ptr().add(at)), cap)
        }
    }
}
