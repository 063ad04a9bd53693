//! `shmkit-queue`: two [`Queue<[u8; N]>`](shmkit::Queue) (one per direction),
//! copy in and out, with the entry's wait strategy; `shmkit-spsc`: the same
//! in the single-producer mode ([`Queue::create_spsc`]); `shmkit-spsc-batch`:
//! that mode with messages sent and received in batches of up to 64
//! (flushed before every receive, so a ping-pong still round-trips each
//! message).
//!
//! The message type is `[u8; N]`, so each size is its own monomorphized
//! transport: [`entry`] dispatches on the size.

use std::io;
use std::os::fd::OwnedFd;

use super::link::{Link, Patience, SLICE};
use super::transport::{Ctx, Entry, Handoff, Outcome, Transport, err, measure, serve_peer, strategy};
use super::{KIB, MIB, Session};
use shmkit::queue::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use shmkit::{Queue, Receiver, Sender};

/// Bytes of queue space per direction.
const QUEUE_BYTES: usize = 1 << 20;

fn disconnected() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "queue disconnected: the peer has gone")
}

/// Queue modes: the multi-producer ring.
pub const MPMC: u8 = 0;
/// The single-producer mode.
pub const SPSC: u8 = 1;
/// The single-producer mode with batches.
pub const SPSC_BATCH: u8 = 2;
/// The multi-producer mode, received with `recv_async` on a tokio
/// current-thread runtime (its thread parks until the background waiter
/// wakes the task).
pub const MPMC_ASYNC: u8 = 4;
/// The single-producer mode, written and read in place (`send_with`,
/// `recv_with`): one copy in and one out, no `[u8; N]` on the stack.
pub const SPSC_IN_PLACE: u8 = 3;
/// Most messages in one batch.
const BATCH: usize = 64;

/// The queue transport for `N`-byte messages in mode `M`.
pub struct QueueOf<const N: usize, const M: u8>;

/// One side: a sender into one queue and a receiver from the other.
pub struct QueueLink<const N: usize, const M: u8> {
    tx: Sender<[u8; N]>,
    rx: Receiver<[u8; N]>,
    batches: Batches<[u8; N]>,
    /// The runtime of `recv_async` (mode `MPMC_ASYNC`).
    runtime: Option<tokio::runtime::Runtime>,
    _queues: [Queue<[u8; N]>; 2],
}

/// The batches of a `-batch` row's side: messages not sent yet (the first
/// `queued`), and received ones (the first `received`) of which the first
/// `taken` were taken. Sent with `send_batch` once [`BATCH`] are queued or
/// before a receive waits, so a ping-pong still round-trips each message.
pub(crate) struct Batches<T> {
    out: Box<[T]>,
    queued: usize,
    inbox: Box<[T]>,
    received: usize,
    taken: usize,
}

impl<T: shmkit::ShmType> Batches<T> {
    /// Room for batches (`batched`), or none (a row without batches).
    pub(crate) fn new(batched: bool) -> Self {
        let len = if batched { BATCH } else { 0 };
        let room = || vec![T::zeroed(); len].into_boxed_slice();
        Batches { out: room(), queued: 0, inbox: room(), received: 0, taken: 0 }
    }

    /// Queues `v`, sending the batch once it is full.
    #[inline]
    pub(crate) fn send(&mut self, tx: &Sender<T>, v: T) -> io::Result<()> {
        self.out[self.queued] = v;
        self.queued += 1;
        if self.queued == self.out.len() { self.flush(tx) } else { Ok(()) }
    }

    /// Sends the queued messages.
    pub(crate) fn flush(&mut self, tx: &Sender<T>) -> io::Result<()> {
        if self.queued == 0 {
            return Ok(());
        }
        let sent = tx.send_batch(&self.out[..self.queued]).map_err(|_| disconnected());
        self.queued = 0;
        sent
    }

    /// Takes the next message of a received batch, receiving one (after
    /// sending ours) if needed. Blocks without a slice limit: the peer's
    /// death still ends it (Disconnected).
    #[inline]
    pub(crate) fn take(&mut self, tx: &Sender<T>, rx: &Receiver<T>) -> io::Result<T> {
        if self.taken == self.received {
            self.flush(tx)?;
            self.received = rx.recv_batch(&mut self.inbox).map_err(|_| disconnected())?;
            self.taken = 0;
        }
        self.taken += 1;
        Ok(self.inbox[self.taken - 1])
    }
}

impl<const N: usize, const M: u8> QueueOf<N, M> {
    fn link(ctx: &Ctx, tx_q: Queue<[u8; N]>, rx_q: Queue<[u8; N]>) -> io::Result<QueueLink<N, M>> {
        let s = strategy(ctx.wait);
        Ok(QueueLink {
            tx: tx_q.sender().map_err(err)?.with_wait_strategy(s),
            rx: rx_q.receiver().map_err(err)?.with_wait_strategy(s),
            batches: Batches::new(M == SPSC_BATCH),
            runtime: if M == MPMC_ASYNC { Some(tokio::runtime::Builder::new_current_thread().build()?) } else { None },
            _queues: [tx_q, rx_q],
        })
    }
}

impl<const N: usize, const M: u8> Transport for QueueOf<N, M> {
    type Link = QueueLink<N, M>;
    fn create(ctx: &Ctx) -> io::Result<(QueueLink<N, M>, Handoff)> {
        let cap = super::shm::ring_slots(N, QUEUE_BYTES, 1024).max(4);
        let (a, b) = (format!("{}.p2c", ctx.prefix), format!("{}.c2p", ctx.prefix));
        let make = |name: &str| {
            if M == MPMC || M == MPMC_ASYNC {
                Queue::<[u8; N]>::create(name, cap)
            } else {
                Queue::<[u8; N]>::create_spsc(name, cap)
            }
        };
        let p2c = make(&a).map_err(err)?;
        let c2p = make(&b).map_err(err)?;
        Ok((Self::link(ctx, p2c, c2p)?, Handoff { args: vec![a, b], fds: Vec::new() }))
    }

    fn open(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<QueueLink<N, M>> {
        let name =
            |i: usize| args.get(i).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing queue name"));
        let p2c = Queue::<[u8; N]>::open(name(0)?).map_err(err)?;
        let c2p = Queue::<[u8; N]>::open(name(1)?).map_err(err)?;
        Self::link(ctx, c2p, p2c)
    }
}

impl<const N: usize, const M: u8> Drop for QueueLink<N, M> {
    fn drop(&mut self) {
        let _ = self.batches.flush(&self.tx);
    }
}

impl<const N: usize, const M: u8> Link for QueueLink<N, M> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        if M == SPSC_IN_PLACE {
            let msg: &[u8; N] =
                msg.try_into().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "wrong message size"))?;
            return send_in_place(&self.tx, msg);
        }
        let v: [u8; N] =
            msg.try_into().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "wrong message size"))?;
        if M == SPSC_BATCH {
            return self.batches.send(&self.tx, v);
        }
        send_patiently(&self.tx, v)
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if M == SPSC_BATCH {
            buf.copy_from_slice(&self.batches.take(&self.tx, &self.rx)?);
            return Ok(());
        }
        if M == SPSC_IN_PLACE {
            return recv_in_place(&self.rx, buf);
        }
        if let Some(runtime) = &self.runtime {
            // A dead peer ends the receive (Disconnected: the background
            // waiter checks liveness); a hung one, the harness's watchdog.
            let v = runtime.block_on(self.rx.recv_async()).map_err(|_| disconnected())?;
            buf.copy_from_slice(&v);
            return Ok(());
        }
        let v = recv_patiently(&self.rx)?.ok_or_else(disconnected)?;
        buf.copy_from_slice(&v);
        Ok(())
    }
}

/// Writes `msg` into the queue's slot in place, waiting in slices of
/// [`SLICE`] while the queue is full.
#[inline]
fn send_in_place<const N: usize>(tx: &Sender<[u8; N]>, msg: &[u8; N]) -> io::Result<()> {
    let write = |slot: &mut [u8; N]| slot.copy_from_slice(msg);
    match tx.try_send_with(write) {
        Ok(()) => return Ok(()),
        Err(TrySendError::Full(())) => {}
        Err(TrySendError::Disconnected(())) => return Err(disconnected()),
    }
    let mut p = Patience::new();
    loop {
        match tx.send_with_timeout(write, SLICE) {
            Ok(()) => return Ok(()),
            Err(SendTimeoutError::Timeout(())) => p.check()?,
            Err(SendTimeoutError::Disconnected(())) => return Err(disconnected()),
        }
    }
}

/// Reads the next message out of its slot into `buf`, waiting in slices of
/// [`SLICE`] while the queue is empty.
#[inline]
fn recv_in_place<const N: usize>(rx: &Receiver<[u8; N]>, buf: &mut [u8]) -> io::Result<()> {
    let mut read = |slot: &[u8; N]| buf.copy_from_slice(slot);
    match rx.try_recv_with(&mut read) {
        Ok(()) => return Ok(()),
        Err(TryRecvError::Empty) => {}
        Err(TryRecvError::Disconnected) => return Err(disconnected()),
    }
    let mut p = Patience::new();
    loop {
        match rx.recv_with_timeout(&mut read, SLICE) {
            Ok(()) => return Ok(()),
            Err(RecvTimeoutError::Timeout) => p.check()?,
            Err(RecvTimeoutError::Disconnected) => return Err(disconnected()),
        }
    }
}

/// Sends `v`, waiting in slices of [`SLICE`] while the queue is full, so
/// that a hung peer or Ctrl-C ends the wait.
#[inline]
pub(crate) fn send_patiently<T: shmkit::ShmType>(tx: &Sender<T>, v: T) -> io::Result<()> {
    let mut v = match tx.try_send(v) {
        Ok(()) => return Ok(()),
        Err(TrySendError::Full(v)) => v,
        Err(TrySendError::Disconnected(_)) => return Err(disconnected()),
    };
    let mut p = Patience::new();
    loop {
        match tx.send_timeout(v, SLICE) {
            Ok(()) => return Ok(()),
            Err(SendTimeoutError::Timeout(back)) => v = back,
            Err(SendTimeoutError::Disconnected(_)) => return Err(disconnected()),
        }
        p.check()?;
    }
}

/// Receives a message, waiting in slices of [`SLICE`] while the queue is
/// empty; `None` once every sender has gone.
#[inline]
pub(crate) fn recv_patiently<T: shmkit::ShmType>(rx: &Receiver<T>) -> io::Result<Option<T>> {
    match rx.try_recv() {
        Ok(v) => return Ok(Some(v)),
        Err(TryRecvError::Disconnected) => return Ok(None),
        Err(TryRecvError::Empty) => {}
    }
    let mut p = Patience::new();
    loop {
        match rx.recv_timeout(SLICE) {
            Ok(v) => return Ok(Some(v)),
            Err(RecvTimeoutError::Timeout) => p.check()?,
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        }
    }
}

fn unsupported(size: usize) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("no Queue<[u8; {size}]> instance"))
}

/// Picks the monomorphized function for `$size` in mode `$m`, or `$none`.
macro_rules! by_size {
    ($size:expr, $m:ident, $f:ident, $args:tt, $none:expr) => {
        match $size {
            8 => $f::<QueueOf<8, $m>> $args,
            64 => $f::<QueueOf<64, $m>> $args,
            KIB => $f::<QueueOf<KIB, $m>> $args,
            4096 => $f::<QueueOf<4096, $m>> $args,
            65536 => $f::<QueueOf<65536, $m>> $args,
            MIB => $f::<QueueOf<MIB, $m>> $args,
            _ => $none,
        }
    };
}

fn measure_any<const M: u8>(s: &mut Session, e: &Entry, ctx: &Ctx) -> io::Result<Outcome> {
    by_size!(ctx.size, M, measure, (s, e, ctx), Err(unsupported(ctx.size)))
}

fn serve_any<const M: u8>(ctx: &Ctx, args: &[String], fds: Vec<OwnedFd>) -> io::Result<()> {
    by_size!(ctx.size, M, serve_peer, (ctx, args, fds), Err(unsupported(ctx.size)))
}

/// The registry entry of `shmkit-queue` with wait strategy `wait`.
pub fn entry(wait: &'static str) -> Entry {
    Entry::new("shmkit-queue", wait, measure_any::<MPMC>, serve_any::<MPMC>)
        .sizes(&[8, 64, KIB, 4096, 65536, MIB])
        .describe("two Queue<[u8; N]> (MPMC, crash-safe), copy in and out")
}

/// The registry entry of `shmkit-spsc` with wait strategy `wait`.
pub fn spsc_entry(wait: &'static str) -> Entry {
    Entry::new("shmkit-spsc", wait, measure_any::<SPSC>, serve_any::<SPSC>)
        .sizes(&[8, 64, KIB, 4096, 65536, MIB])
        .describe("two Queue<[u8; N]> made with create_spsc (single producer), copy in and out")
}

/// The registry entry of `shmkit-spsc-inplace` (spinning).
pub fn spsc_in_place_entry() -> Entry {
    Entry::new("shmkit-spsc-inplace", "spin", measure_any::<SPSC_IN_PLACE>, serve_any::<SPSC_IN_PLACE>)
        .sizes(&[8, 64, KIB, 4096, 65536, MIB])
        .describe("single-producer Queue<[u8; N]>, send_with/recv_with: the message copied into and out of the slot in place, once each")
}

/// The registry entry of `shmkit-queue-async`: receives are `recv_async`
/// futures (the `async` feature), woken by the background waiter.
pub fn async_entry() -> Entry {
    Entry::new("shmkit-queue-async", "async", measure_any::<MPMC_ASYNC>, serve_any::<MPMC_ASYNC>)
        .sizes(&[8, 64, KIB, 4096, 65536, MIB])
        .describe("two Queue<[u8; N]> (MPMC), received with recv_async on a tokio current-thread runtime")
}

/// The registry entry of `shmkit-spsc-batch` (spinning).
pub fn spsc_batch_entry() -> Entry {
    Entry::new("shmkit-spsc-batch", "spin", measure_any::<SPSC_BATCH>, serve_any::<SPSC_BATCH>)
        .max_size(KIB, "batches of 64 pay off for small messages only")
        .describe("single-producer Queue<[u8; N]>, send_batch/recv_batch of up to 64 messages")
}
