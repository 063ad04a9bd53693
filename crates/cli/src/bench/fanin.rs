//! `shmkit-queue-2x2`: one MPMC [`Queue<u64>`](shmkit::Queue) shared by two
//! sender processes and two receiver processes, all peers of the measuring
//! side; the row gives the total messages per second.
//!
//! The measuring side creates the queue, a control segment and two events
//! (`go`, `done`), starts the four peers, and sets `go` once all are ready:
//! the clock runs from there until both receivers have reported. Senders
//! send `(sender id, sequence)` words until the plan's budget is spent (the
//! measuring side raises a stop flag) or, with `--iters N`, exactly N each;
//! then they publish their count and drop their endpoint. Receivers check
//! that each sender's sequences increase strictly, count them and sum them,
//! and end when the queue says every sender is gone. The measuring side
//! checks that, per sender, the counts of both receivers add up to what was
//! sent and the sequence sums to `0 + 1 + … + (sent - 1)`: every message
//! arrived exactly once.
//!
//! With two pinned CPUs each CPU runs one sender and one receiver (sender 0
//! and receiver 0 share the measuring side's CPU, which only sleeps
//! meanwhile; sender 1 and receiver 1 the peer CPU). Both senders on one
//! CPU and both receivers on the other measured several times slower and
//! far noisier here (presumably a sender preempted between claiming a slot
//! and publishing it holds up the receivers until its CPU comes back).
//! On one CPU nothing is pinned. Four processes share two CPUs, so the
//! wait strategy is adaptive, never a pure spin.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use super::link::{DIE_AFTER_VAR, Patience, SLICE, STALL, Stream, bad};
use super::peer::Peer;
use super::queue::{recv_patiently, send_patiently};
use super::transport::{Ctx, Entry, Handoff, Outcome, err};
use super::{Pattern, Session};
use crate::sys;
use shmkit::{Event, Queue, Segment, WaitStrategy};

/// Queue capacity in messages.
const CAPACITY: usize = 1024;
/// Sender and receiver processes.
const SENDERS: usize = 2;
const RECEIVERS: usize = 2;
/// A message: the sender id in the top byte, the sequence below.
const ID_SHIFT: u32 = 56;
const SEQ_MASK: u64 = (1 << ID_SHIFT) - 1;
/// How often a receiver publishes its progress (messages).
const PROGRESS_EVERY: u64 = 1024;
/// How often a sender looks at the stop flag (messages).
const STOP_EVERY: u64 = 64;

/// Words of the control segment: eight to a cache line, each line written
/// by one side only.
const WORDS: usize = 64;
type Control = [AtomicU64; WORDS];
/// Set by the measuring side when the budget is spent.
const STOP: usize = 0;
/// Per sender: messages sent (at `SENT + id`), then 1 at `FINISHED + id`.
const SENT: usize = 8;
const FINISHED: usize = 16;
/// Per receiver: messages received so far (its own line).
const PROGRESS: usize = 24;
/// Per receiver and sender: count and sum of sequences (from `RESULTS`).
const RESULTS: usize = 40;
/// Receivers that have reported.
const DONE: usize = 56;

fn progress_word(r: usize) -> usize {
    PROGRESS + 8 * r
}

fn count_word(r: usize, s: usize) -> usize {
    RESULTS + 4 * r + 2 * s
}

/// The registry entry: streaming, 8-byte messages only.
pub fn entry() -> Entry {
    Entry::new("shmkit-queue-2x2", "adaptive", measure_fanin, serve_fanin)
        .sizes(&[8])
        .patterns(&[Pattern::Stream])
        .describe(
            "one Queue<u64> (MPMC), 2 sender processes and 2 receiver processes, total msgs/s \
             (one sender and one receiver pinned to each CPU)",
        )
}

/// A peer's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Send,
    Recv,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Send => "send",
            Role::Recv => "recv",
        }
    }
}

/// Spawn order: senders and receivers alternating.
const PEERS: [(Role, usize); SENDERS + RECEIVERS] =
    [(Role::Send, 0), (Role::Recv, 0), (Role::Send, 1), (Role::Recv, 1)];

fn label((role, id): (Role, usize)) -> String {
    match role {
        Role::Send => format!("sender {id}"),
        Role::Recv => format!("receiver {id}"),
    }
}

/// Parent side: creates everything, starts the four peers, times the run.
fn measure_fanin(s: &mut Session, entry: &Entry, ctx: &Ctx) -> io::Result<Outcome> {
    if ctx.size != 8 || ctx.pattern != Pattern::Stream {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "shmkit-queue-2x2 streams 8-byte messages only"));
    }
    let plan = s.plan(Pattern::Stream, 8);
    let names = [format!("{}.q", ctx.prefix), format!("{}.ctl", ctx.prefix), format!("{}.go", ctx.prefix)];
    let done_name = format!("{}.done", ctx.prefix);
    // The queue must exist for the peers to open; the parent holds no
    // endpoint, so the receivers see Disconnected once the senders are gone.
    let _queue = Queue::<u64>::create(&names[0], CAPACITY).map_err(err)?;
    let ctl = Segment::<Control>::create(&names[1], std::array::from_fn(|_| AtomicU64::new(0))).map_err(err)?;
    let go = Event::create(&names[2]).map_err(err)?;
    let done = Event::create(&done_name).map_err(err)?.with_wait_strategy(WaitStrategy::Park);
    let (min, max) = (plan.min.max(1) as u64, (plan.max as u64).min(SEQ_MASK));
    let mut peers = Vec::with_capacity(PEERS.len());
    for (role, id) in PEERS {
        // Sender 0 and receiver 0 on the first CPU, the others on the
        // second (see the module docs).
        let cpu = s.cpus.map_or("-".to_owned(), |(a, b)| if id == 0 { a } else { b }.to_string());
        let mut args = names.to_vec();
        args.extend([done_name.clone(), role.name().into(), id.to_string(), cpu, min.to_string(), max.to_string()]);
        let peer = s.spawn_peer(entry, ctx, Handoff { args, fds: Vec::new() });
        peers.push(peer.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", label((role, id)))))?);
    }
    let outcome = run(&ctl, &go, &done, plan.budget, &mut peers);
    let ok = outcome.is_ok();
    let mut finished = Ok(());
    for (peer, who) in peers.iter_mut().zip(PEERS) {
        let r = peer.finish(ok).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", label(who))));
        finished = finished.and(r);
    }
    let stream = outcome?;
    finished?;
    check(&ctl)?;
    Ok(Outcome::Stream(stream))
}

/// Starts the senders and waits for both receivers' reports; stops the
/// senders after `budget`. Fails at once if a peer fails, and after
/// [`STALL`] without progress.
fn run(ctl: &Control, go: &Event, done: &Event, budget: Duration, peers: &mut [Peer]) -> io::Result<Stream> {
    let start = Instant::now();
    go.set();
    let mut stopped = false;
    let (mut seen, mut seen_at) = (0u64, start);
    loop {
        // Pairs with the receivers' SeqCst increment before they set
        // `done`: either we see their report here, or the event is set
        // after our clear and the wait below returns at once.
        fence(Ordering::SeqCst);
        if ctl[DONE].load(Ordering::Acquire) >= RECEIVERS as u64 {
            let elapsed = start.elapsed();
            let messages = (0..RECEIVERS)
                .flat_map(|r| (0..SENDERS).map(move |s| (r, s)))
                .map(|(r, s)| ctl[count_word(r, s)].load(Ordering::Relaxed))
                .sum();
            return Ok(Stream { messages, elapsed });
        }
        if super::interrupted() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        for (peer, who) in peers.iter_mut().zip(PEERS) {
            if peer.failed() {
                let e = io::Error::new(io::ErrorKind::BrokenPipe, format!("{} exited with a failure", label(who)));
                return Err(peer.explain(e));
            }
        }
        let now = Instant::now();
        let progress = (0..RECEIVERS).map(|r| ctl[progress_word(r)].load(Ordering::Relaxed)).sum();
        if progress != seen {
            (seen, seen_at) = (progress, now);
        } else if now.duration_since(seen_at) > STALL {
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("no progress for {}s", STALL.as_secs())));
        }
        let ran = now.duration_since(start);
        if !stopped && ran >= budget {
            ctl[STOP].store(1, Ordering::Relaxed);
            stopped = true;
        }
        let nap = if stopped { SLICE } else { (budget - ran).min(SLICE) };
        if done.wait_timeout(nap) {
            done.clear();
        }
    }
}

/// Every message sent arrived exactly once: per sender, the receivers'
/// counts add up to the number sent, and their sequence sums to
/// `0 + 1 + … + (sent - 1)` (each receiver saw strictly increasing
/// sequences, so none twice).
fn check(ctl: &Control) -> io::Result<()> {
    for s in 0..SENDERS {
        if ctl[FINISHED + s].load(Ordering::Acquire) != 1 {
            return Err(bad(format!("sender {s} did not report what it sent")));
        }
        let sent = ctl[SENT + s].load(Ordering::Relaxed);
        let got: u64 = (0..RECEIVERS).map(|r| ctl[count_word(r, s)].load(Ordering::Relaxed)).sum();
        let sum = (0..RECEIVERS).fold(0u64, |a, r| a.wrapping_add(ctl[count_word(r, s) + 1].load(Ordering::Relaxed)));
        let want = (u128::from(sent) * u128::from(sent.saturating_sub(1)) / 2) as u64;
        if got != sent || sum != want {
            return Err(bad(format!(
                "sender {s} sent {sent} messages, the receivers got {got} (sequence sum {sum}, expected {want})"
            )));
        }
    }
    Ok(())
}

fn arg(args: &[String], i: usize) -> io::Result<&str> {
    args.get(i).map(String::as_str).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing argument"))
}

fn number(args: &[String], i: usize) -> io::Result<u64> {
    arg(args, i)?.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad number {}", args[i])))
}

/// Peer side: `queue ctl go done role id cpu min max`.
fn serve_fanin(_ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<()> {
    let role = match arg(args, 4)? {
        "send" => Role::Send,
        "recv" => Role::Recv,
        r => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("unknown role {r}"))),
    };
    let id = number(args, 5)? as usize;
    if id >= SENDERS.max(RECEIVERS) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad peer id {id}")));
    }
    let cpu = arg(args, 6)?;
    if cpu != "-" {
        let cpu: usize = cpu.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad cpu"))?;
        sys::pin_to_cpu(cpu)?;
    }
    let (min, max) = (number(args, 7)?, number(args, 8)?.min(SEQ_MASK));
    let queue = Queue::<u64>::open(arg(args, 0)?).map_err(err)?;
    let ctl = Segment::<Control>::open(arg(args, 1)?).map_err(err)?;
    match role {
        Role::Send => {
            let tx = queue.sender().map_err(err)?.with_wait_strategy(WaitStrategy::Adaptive);
            let go = Event::open(arg(args, 2)?).map_err(err)?;
            super::peer_ready()?;
            let mut p = Patience::new();
            while !go.wait_timeout(SLICE) {
                p.check()?;
            }
            let sent = send_all(&tx, &ctl, id, min, max)?;
            ctl[SENT + id].store(sent, Ordering::Relaxed);
            ctl[FINISHED + id].store(1, Ordering::Release);
            // Our endpoint goes before we exit: the receivers' Disconnected
            // (and through it the counts above) follow from this drop.
            drop(tx);
            Ok(())
        }
        Role::Recv => {
            let rx = queue.receiver().map_err(err)?.with_wait_strategy(WaitStrategy::Adaptive);
            let done = Event::open(arg(args, 3)?).map_err(err)?;
            super::peer_ready()?;
            let tally = recv_all(&rx, &ctl, id)?;
            for (s, (count, sum)) in tally.into_iter().enumerate() {
                ctl[count_word(id, s)].store(count, Ordering::Relaxed);
                ctl[count_word(id, s) + 1].store(sum, Ordering::Relaxed);
            }
            // SeqCst: pairs with the fence of the measuring side's wait.
            ctl[DONE].fetch_add(1, Ordering::SeqCst);
            done.set();
            Ok(())
        }
    }
}

/// Sends `(id, 0)`, `(id, 1)`, … until `max` are sent, or the stop flag is
/// up and at least `min` are. Returns how many were sent.
fn send_all(tx: &shmkit::Sender<u64>, ctl: &Control, id: usize, min: u64, max: u64) -> io::Result<u64> {
    let tag = (id as u64) << ID_SHIFT;
    // Test hook: sender 1 dies after this many messages.
    let die_after: Option<u64> =
        if id == 1 { std::env::var(DIE_AFTER_VAR).ok().and_then(|v| v.parse().ok()) } else { None };
    let mut n = 0u64;
    while n < max {
        if die_after == Some(n) {
            std::process::exit(3);
        }
        if n.is_multiple_of(STOP_EVERY) && n >= min && ctl[STOP].load(Ordering::Relaxed) != 0 {
            break;
        }
        send_patiently(tx, tag | n)?;
        n += 1;
    }
    Ok(n)
}

/// Receives until every sender has gone; checks that each sender's
/// sequences increase strictly. Returns (count, wrapping sum of sequences)
/// per sender.
fn recv_all(rx: &shmkit::Receiver<u64>, ctl: &Control, id: usize) -> io::Result<[(u64, u64); SENDERS]> {
    let mut tally = [(0u64, 0u64); SENDERS];
    // The lowest sequence each sender may send next.
    let mut floor = [0u64; SENDERS];
    let mut total = 0u64;
    while let Some(v) = recv_patiently(rx)? {
        let (s, seq) = ((v >> ID_SHIFT) as usize, v & SEQ_MASK);
        if s >= SENDERS {
            return Err(bad(format!("received {v:#x}: no sender {s}")));
        }
        if seq < floor[s] {
            return Err(bad(format!("received {v:#x}: sender {s} sequence {seq}, expected at least {}", floor[s])));
        }
        floor[s] = seq + 1;
        tally[s].0 += 1;
        tally[s].1 = tally[s].1.wrapping_add(seq);
        total += 1;
        if total.is_multiple_of(PROGRESS_EVERY) {
            ctl[progress_word(id)].store(total, Ordering::Relaxed);
        }
    }
    Ok(tally)
}
