//! `shmkit-broadcast-2sub`: one lossless [`Broadcast<[u8; N]>`](shmkit::Broadcast)
//! published by the measuring side, with two subscriber processes; each
//! subscriber answers on its own single-producer `Queue<[u8; N]>`.
//!
//! The measuring side's link publishes each message once and, to receive,
//! takes one answer from each subscriber and checks that they agree, so
//! the generic ping-pong (a round trip is the slower of the two echoes)
//! and stream (every message reaches both subscribers; the rate is per
//! subscriber) run over it unchanged. Both subscribers run on the peer
//! CPU, so the wait strategy is adaptive, never a pure spin.

use std::io;

use super::broadcast::{gone, publish, receive};
use super::link::Link;
use super::peer::Peer;
use super::queue::{recv_patiently, send_patiently};
use super::transport::{Ctx, Entry, Handoff, Outcome, err};
use super::{KIB, Pattern, Session};
use shmkit::{Broadcast, Policy, Publisher, Queue, Receiver, Sender, Subscriber, WaitStrategy};

/// Subscriber processes.
const SUBSCRIBERS: usize = 2;
/// Ring slots of the broadcast and of each answer queue, at most: 1024,
/// or as many as fit in 1 MiB.
const SLOTS: usize = 1024;

/// The measuring side: the publisher and one answer queue per subscriber.
struct FanOut<const N: usize> {
    publisher: Publisher<[u8; N]>,
    answers: [Receiver<[u8; N]>; SUBSCRIBERS],
    _objects: (Broadcast<[u8; N]>, [Queue<[u8; N]>; SUBSCRIBERS]),
}

impl<const N: usize> Link for FanOut<N> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        publish(&mut self.publisher, msg)
    }

    /// One answer from each subscriber; they must be the same message.
    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let [first, second] = &self.answers;
        let a = recv_patiently(first)?.ok_or_else(|| gone("subscriber 0 has gone"))?;
        let b = recv_patiently(second)?.ok_or_else(|| gone("subscriber 1 has gone"))?;
        if a[..8] != b[..8] {
            return Err(gone("the subscribers answered different messages"));
        }
        buf.copy_from_slice(&a);
        Ok(())
    }
}

/// A subscriber process: reads the broadcast, answers on its queue.
struct Subscribed<const N: usize> {
    subscriber: Subscriber<[u8; N]>,
    answer: Sender<[u8; N]>,
    _objects: (Broadcast<[u8; N]>, Queue<[u8; N]>),
}

impl<const N: usize> Link for Subscribed<N> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let v: [u8; N] = msg.try_into().map_err(|_| gone("wrong message size"))?;
        send_patiently(&self.answer, v)
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        receive(&mut self.subscriber, buf)
    }
}

fn measure_sized<const N: usize>(s: &mut Session, entry: &Entry, ctx: &Ctx) -> io::Result<Outcome> {
    let cast = format!("{}.cast", ctx.prefix);
    let answer = |i: usize| format!("{}.answer{i}", ctx.prefix);
    let slots = super::shm::ring_slots(N, 1 << 20, SLOTS).max(4);
    let broadcast = Broadcast::<[u8; N]>::create(&cast, slots, Policy::Lossless)
        .map_err(err)?
        .with_wait_strategy(WaitStrategy::Adaptive);
    let queues = [0, 1].map(|i| Queue::<[u8; N]>::create_spsc(&answer(i), slots));
    let [q0, q1] = queues;
    let queues = [q0.map_err(err)?, q1.map_err(err)?];
    let answers = [0, 1].map(|i| queues[i].receiver().map(|r| r.with_wait_strategy(WaitStrategy::Adaptive)));
    let [a0, a1] = answers;
    let mut link = FanOut {
        publisher: broadcast.publisher().map_err(err)?,
        answers: [a0.map_err(err)?, a1.map_err(err)?],
        _objects: (broadcast, queues),
    };
    // Each subscriber subscribes before it says it is ready, so nothing
    // is published before both exist.
    let mut peers: Vec<Peer> = Vec::with_capacity(SUBSCRIBERS);
    for i in 0..SUBSCRIBERS {
        let handoff = Handoff { args: vec![cast.clone(), answer(i)], fds: Vec::new() };
        let peer = s.spawn_peer(entry, ctx, handoff);
        peers.push(peer.map_err(|e| io::Error::new(e.kind(), format!("subscriber {i}: {e}")))?);
    }
    let plan = s.plan(ctx.pattern, ctx.size);
    let outcome = match ctx.pattern {
        Pattern::PingPong => super::link::pingpong(&mut link, N, &plan).map(Outcome::PingPong),
        Pattern::Stream => super::link::stream(&mut link, N, &plan).map(Outcome::Stream),
    };
    let outcome = match outcome {
        Err(e) => Err(peers.iter_mut().fold(e, |e, p| p.explain(e))),
        ok => ok,
    };
    let mut finished = Ok(());
    for (i, peer) in peers.iter_mut().enumerate() {
        let r = peer.finish(outcome.is_ok()).map_err(|e| io::Error::new(e.kind(), format!("subscriber {i}: {e}")));
        finished = finished.and(r);
    }
    drop(link);
    let outcome = outcome?;
    finished?;
    Ok(outcome)
}

fn serve_sized<const N: usize>(ctx: &Ctx, args: &[String]) -> io::Result<()> {
    let name = |i: usize| args.get(i).ok_or_else(|| gone("missing name"));
    let broadcast = Broadcast::<[u8; N]>::open(name(0)?).map_err(err)?.with_wait_strategy(WaitStrategy::Adaptive);
    let queue = Queue::<[u8; N]>::open(name(1)?).map_err(err)?;
    let mut link = Subscribed {
        subscriber: broadcast.subscribe().map_err(err)?,
        answer: queue.sender().map_err(err)?.with_wait_strategy(WaitStrategy::Adaptive),
        _objects: (broadcast, queue),
    };
    super::peer_ready()?;
    super::link::serve(&mut link, N, ctx.pattern == Pattern::PingPong)
}

fn unsupported(size: usize) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("no 2-subscriber row for {size}-byte messages"))
}

fn measure_any(s: &mut Session, e: &Entry, ctx: &Ctx) -> io::Result<Outcome> {
    match ctx.size {
        8 => measure_sized::<8>(s, e, ctx),
        64 => measure_sized::<64>(s, e, ctx),
        KIB => measure_sized::<KIB>(s, e, ctx),
        4096 => measure_sized::<4096>(s, e, ctx),
        65536 => measure_sized::<65536>(s, e, ctx),
        n => Err(unsupported(n)),
    }
}

fn serve_any(ctx: &Ctx, args: &[String], _fds: Vec<std::os::fd::OwnedFd>) -> io::Result<()> {
    match ctx.size {
        8 => serve_sized::<8>(ctx, args),
        64 => serve_sized::<64>(ctx, args),
        KIB => serve_sized::<KIB>(ctx, args),
        4096 => serve_sized::<4096>(ctx, args),
        65536 => serve_sized::<65536>(ctx, args),
        n => Err(unsupported(n)),
    }
}

/// The registry entry of `shmkit-broadcast-2sub`.
pub fn entry() -> Entry {
    Entry::new("shmkit-broadcast-2sub", "adaptive", measure_any, serve_any).sizes(&[8, 64, KIB, 4096, 65536]).describe(
        "one lossless Broadcast<[u8; N]>, 2 subscriber processes (both on the peer CPU), each answering on its \
         own Queue; a round trip waits for both echoes, the rate is per subscriber",
    )
}
