//! `shmkit-broadcast`: two lossless [`Broadcast<[u8; N]>`](shmkit::Broadcast)
//! (one per direction), each with the other side as its one subscriber:
//! the publish–subscribe pattern beside iceoryx2's rows. Copy in and out.
//!
//! Each side subscribes before it says it is ready, so nothing is published
//! before the subscriber exists.

use std::io;
use std::os::fd::OwnedFd;

use super::link::{Link, Patience, SLICE};
use super::transport::{Ctx, Entry, Handoff, Outcome, Transport, err, measure, serve_peer, strategy};
use super::{KIB, MIB, Session};
use shmkit::{Broadcast, BroadcastRecvError, BroadcastSendError, Policy, Publisher, Subscriber};

/// Ring slots per direction.
const SLOTS: usize = 1024;

/// The broadcast transport for `N`-byte messages.
pub struct BroadcastOf<const N: usize>;

/// One side: publishing into one broadcast, subscribed to the other.
pub struct BroadcastLink<const N: usize> {
    publisher: Publisher<[u8; N]>,
    subscriber: Subscriber<[u8; N]>,
    _broadcasts: [Broadcast<[u8; N]>; 2],
}

pub(super) fn gone(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, format!("broadcast: {what}"))
}

impl<const N: usize> BroadcastOf<N> {
    fn link(ctx: &Ctx, out: Broadcast<[u8; N]>, inbox: Broadcast<[u8; N]>) -> io::Result<BroadcastLink<N>> {
        let s = strategy(ctx.wait);
        let (out, inbox) = (out.with_wait_strategy(s), inbox.with_wait_strategy(s));
        Ok(BroadcastLink {
            publisher: out.publisher().map_err(err)?,
            subscriber: inbox.subscribe().map_err(err)?,
            _broadcasts: [out, inbox],
        })
    }
}

impl<const N: usize> Transport for BroadcastOf<N> {
    type Link = BroadcastLink<N>;
    fn create(ctx: &Ctx) -> io::Result<(BroadcastLink<N>, Handoff)> {
        let cap = super::shm::ring_slots(N, 1 << 20, SLOTS).max(4);
        let (a, b) = (format!("{}.p2c", ctx.prefix), format!("{}.c2p", ctx.prefix));
        let p2c = Broadcast::<[u8; N]>::create(&a, cap, Policy::Lossless).map_err(err)?;
        let c2p = Broadcast::<[u8; N]>::create(&b, cap, Policy::Lossless).map_err(err)?;
        Ok((Self::link(ctx, p2c, c2p)?, Handoff { args: vec![a, b], fds: Vec::new() }))
    }

    fn open(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<BroadcastLink<N>> {
        let name = |i: usize| args.get(i).ok_or_else(|| gone("missing name"));
        let p2c = Broadcast::<[u8; N]>::open(name(0)?).map_err(err)?;
        let c2p = Broadcast::<[u8; N]>::open(name(1)?).map_err(err)?;
        Self::link(ctx, c2p, p2c)
    }
}

/// Publishes `msg`, waiting in slices while the slowest subscriber holds
/// the ring full.
#[inline]
pub(super) fn publish<const N: usize>(publisher: &mut Publisher<[u8; N]>, msg: &[u8]) -> io::Result<()> {
    let v: [u8; N] = msg.try_into().map_err(|_| gone("wrong message size"))?;
    match publisher.try_send(v) {
        Ok(()) => return Ok(()),
        Err(BroadcastSendError::Full) => {}
        Err(e) => return Err(gone(&e.to_string())),
    }
    let mut p = Patience::new();
    loop {
        match publisher.send_timeout(v, SLICE) {
            Ok(()) => return Ok(()),
            Err(BroadcastSendError::Timeout) => p.check()?,
            Err(e) => return Err(gone(&e.to_string())),
        }
    }
}

/// Receives the next message into `buf`, waiting in slices.
#[inline]
pub(super) fn receive<const N: usize>(subscriber: &mut Subscriber<[u8; N]>, buf: &mut [u8]) -> io::Result<()> {
    let v = match subscriber.try_recv() {
        Ok(v) => v,
        Err(BroadcastRecvError::Empty) => {
            let mut p = Patience::new();
            loop {
                match subscriber.recv_timeout(SLICE) {
                    Ok(v) => break v,
                    Err(BroadcastRecvError::Timeout) => p.check()?,
                    Err(e) => return Err(gone(&e.to_string())),
                }
            }
        }
        Err(e) => return Err(gone(&e.to_string())),
    };
    buf.copy_from_slice(&v);
    Ok(())
}

impl<const N: usize> Link for BroadcastLink<N> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        publish(&mut self.publisher, msg)
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        receive(&mut self.subscriber, buf)
    }
}

fn unsupported(size: usize) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("no Broadcast<[u8; {size}]> instance"))
}

fn measure_any(s: &mut Session, e: &Entry, ctx: &Ctx) -> io::Result<Outcome> {
    match ctx.size {
        8 => measure::<BroadcastOf<8>>(s, e, ctx),
        64 => measure::<BroadcastOf<64>>(s, e, ctx),
        KIB => measure::<BroadcastOf<KIB>>(s, e, ctx),
        4096 => measure::<BroadcastOf<4096>>(s, e, ctx),
        65536 => measure::<BroadcastOf<65536>>(s, e, ctx),
        MIB => measure::<BroadcastOf<MIB>>(s, e, ctx),
        n => Err(unsupported(n)),
    }
}

fn serve_any(ctx: &Ctx, args: &[String], fds: Vec<OwnedFd>) -> io::Result<()> {
    match ctx.size {
        8 => serve_peer::<BroadcastOf<8>>(ctx, args, fds),
        64 => serve_peer::<BroadcastOf<64>>(ctx, args, fds),
        KIB => serve_peer::<BroadcastOf<KIB>>(ctx, args, fds),
        4096 => serve_peer::<BroadcastOf<4096>>(ctx, args, fds),
        65536 => serve_peer::<BroadcastOf<65536>>(ctx, args, fds),
        MIB => serve_peer::<BroadcastOf<MIB>>(ctx, args, fds),
        n => Err(unsupported(n)),
    }
}

/// The registry entry of `shmkit-broadcast` with wait strategy `wait`.
pub fn entry(wait: &'static str) -> Entry {
    Entry::new("shmkit-broadcast", wait, measure_any, serve_any)
        .sizes(&[8, 64, KIB, 4096, 65536, MIB])
        .describe("two lossless Broadcast<[u8; N]>, one subscriber each (publish-subscribe), copy in and out")
}
