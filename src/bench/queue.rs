//! `shmkit-queue`: two [`Queue<[u8; N]>`](crate::Queue) (one per direction),
//! copy in and out, with the entry's wait strategy.
//!
//! The message type is `[u8; N]`, so each size is its own monomorphized
//! transport: [`entry`] dispatches on the size.

use std::io;
use std::os::fd::OwnedFd;

use super::link::{Link, Patience, SLICE};
use super::transport::{Ctx, Entry, Handoff, Outcome, Transport, measure, serve_peer};
use super::{KIB, MIB, Session};
use crate::queue::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use crate::{Queue, Receiver, Sender, WaitStrategy};

/// Bytes of queue space per direction.
const QUEUE_BYTES: usize = 1 << 20;

fn err(e: crate::Error) -> io::Error {
    io::Error::other(e.to_string())
}

fn disconnected() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "queue disconnected: the peer has gone")
}

/// The queue transport for `N`-byte messages.
pub struct QueueOf<const N: usize>;

/// One side: a sender into one queue and a receiver from the other.
pub struct QueueLink<const N: usize> {
    tx: Sender<[u8; N]>,
    rx: Receiver<[u8; N]>,
    _queues: [Queue<[u8; N]>; 2],
}

fn strategy(wait: &str) -> WaitStrategy {
    match wait {
        "spin" => WaitStrategy::Spin,
        "park" => WaitStrategy::Park,
        _ => WaitStrategy::Adaptive,
    }
}

impl<const N: usize> QueueOf<N> {
    fn link(ctx: &Ctx, tx_q: Queue<[u8; N]>, rx_q: Queue<[u8; N]>) -> QueueLink<N> {
        let s = strategy(ctx.wait);
        QueueLink {
            tx: tx_q.sender().with_wait_strategy(s),
            rx: rx_q.receiver().with_wait_strategy(s),
            _queues: [tx_q, rx_q],
        }
    }
}

impl<const N: usize> Transport for QueueOf<N> {
    type Link = QueueLink<N>;
    fn create(ctx: &Ctx) -> io::Result<(QueueLink<N>, Handoff)> {
        let cap = super::shm::ring_slots(N, QUEUE_BYTES, 1024).max(4);
        let (a, b) = (format!("{}.p2c", ctx.prefix), format!("{}.c2p", ctx.prefix));
        let p2c = Queue::<[u8; N]>::create(&a, cap).map_err(err)?;
        let c2p = Queue::<[u8; N]>::create(&b, cap).map_err(err)?;
        Ok((Self::link(ctx, p2c, c2p), Handoff { args: vec![a, b], fds: Vec::new() }))
    }

    fn open(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<QueueLink<N>> {
        let name =
            |i: usize| args.get(i).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing queue name"));
        let p2c = Queue::<[u8; N]>::open(name(0)?).map_err(err)?;
        let c2p = Queue::<[u8; N]>::open(name(1)?).map_err(err)?;
        Ok(Self::link(ctx, c2p, p2c))
    }
}

impl<const N: usize> Link for QueueLink<N> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let v: [u8; N] =
            msg.try_into().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "wrong message size"))?;
        let mut v = match self.tx.try_send(v) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(v)) => v,
            Err(TrySendError::Disconnected(_)) => return Err(disconnected()),
        };
        let mut p = Patience::new();
        loop {
            match self.tx.send_timeout(v, SLICE) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Timeout(back)) => v = back,
                Err(SendTimeoutError::Disconnected(_)) => return Err(disconnected()),
            }
            p.check()?;
        }
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let v = match self.rx.try_recv() {
            Ok(v) => v,
            Err(TryRecvError::Disconnected) => return Err(disconnected()),
            Err(TryRecvError::Empty) => {
                let mut p = Patience::new();
                loop {
                    match self.rx.recv_timeout(SLICE) {
                        Ok(v) => break v,
                        Err(RecvTimeoutError::Timeout) => p.check()?,
                        Err(RecvTimeoutError::Disconnected) => return Err(disconnected()),
                    }
                }
            }
        };
        buf.copy_from_slice(&v);
        Ok(())
    }
}

fn unsupported(size: usize) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("no Queue<[u8; {size}]> instance"))
}

/// Picks the monomorphized function for `$size`, or `$none`.
macro_rules! by_size {
    ($size:expr, $f:ident, $args:tt, $none:expr) => {
        match $size {
            8 => $f::<QueueOf<8>> $args,
            64 => $f::<QueueOf<64>> $args,
            KIB => $f::<QueueOf<KIB>> $args,
            4096 => $f::<QueueOf<4096>> $args,
            65536 => $f::<QueueOf<65536>> $args,
            MIB => $f::<QueueOf<MIB>> $args,
            _ => $none,
        }
    };
}

fn measure_any(s: &mut Session, e: &Entry, ctx: &Ctx) -> io::Result<Outcome> {
    by_size!(ctx.size, measure, (s, e, ctx), Err(unsupported(ctx.size)))
}

fn serve_any(ctx: &Ctx, args: &[String], fds: Vec<OwnedFd>) -> io::Result<()> {
    by_size!(ctx.size, serve_peer, (ctx, args, fds), Err(unsupported(ctx.size)))
}

/// The registry entry of `shmkit-queue` with wait strategy `wait`.
pub fn entry(wait: &'static str) -> Entry {
    Entry::new("shmkit-queue", wait, measure_any, serve_any)
        .sizes(&[8, 64, KIB, 4096, 65536, MIB])
        .describe("two Queue<[u8; N]> (MPMC, crash-safe), copy in and out")
}
