//! The [`Link`] trait, bounded waiting, and the generic hot loops: ping-pong
//! and streaming on the parent side, echo/count on the peer side.
//!
//! Every message carries a sequence number in its first 8 bytes (sizes are
//! at least 8). Two values are markers: [`SYNC`] (the peer answers and goes
//! on) and [`STOP`] (the peer answers and exits). So the peer needs no
//! iteration count: the parent decides when to stop, by time or by count.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sys;

/// One side of a two-process message channel.
pub trait Link {
    /// Sends one message (blocks until accepted).
    fn send(&mut self, msg: &[u8]) -> io::Result<()>;
    /// Receives one message of exactly buf.len() bytes into buf (blocks).
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()>;
}

/// Marker: the peer answers with the marker and carries on.
pub const SYNC: u64 = u64::MAX - 1;
/// Marker: the peer answers with the marker and exits.
pub const STOP: u64 = u64::MAX;

/// How long a wait may see no progress before it fails as a hang.
pub const STALL: Duration = Duration::from_secs(10);
/// Longest single sleep of a blocking wait between checks.
pub const SLICE: Duration = Duration::from_millis(50);

/// The process on the other side, for liveness checks in waits: in the
/// parent the peer child's pid, in the peer the parent's pid (0: none).
static PEER_PID: AtomicU32 = AtomicU32::new(0);
static PEER_IS_PARENT: AtomicU32 = AtomicU32::new(0);

/// Sets the process that waits watch (`None`: none).
pub(crate) fn watch_child(pid: Option<u32>) {
    PEER_IS_PARENT.store(0, Ordering::Relaxed);
    PEER_PID.store(pid.unwrap_or(0), Ordering::Relaxed);
}

/// In a peer: waits watch the parent `pid`.
pub(crate) fn watch_parent(pid: u32) {
    PEER_IS_PARENT.store(1, Ordering::Relaxed);
    PEER_PID.store(pid, Ordering::Relaxed);
}

fn peer_gone() -> bool {
    let pid = PEER_PID.load(Ordering::Relaxed);
    if pid == 0 {
        return false;
    }
    if PEER_IS_PARENT.load(Ordering::Relaxed) != 0 {
        std::os::unix::process::parent_id() != pid
    } else {
        sys::child_exited(pid)
    }
}

/// Bounds a wait: every wait loop of a transport calls [`Patience::spin`]
/// (when spinning) or [`Patience::check`] (after each bounded sleep). It
/// fails the wait with `Interrupted` after SIGINT, `BrokenPipe` when the
/// peer process has exited, and `TimedOut` after [`STALL`] without
/// progress — never a hang.
#[derive(Debug, Default)]
pub struct Patience {
    since: Option<Instant>,
    spins: u32,
}

impl Patience {
    /// A fresh wait.
    #[inline]
    pub fn new() -> Patience {
        Patience { since: None, spins: 0 }
    }

    /// One spin of a busy wait: a CPU pause, and every few thousand spins
    /// the checks of [`Patience::check`].
    #[inline]
    pub fn spin(&mut self) -> io::Result<()> {
        self.spins = self.spins.wrapping_add(1);
        if self.spins.is_multiple_of(8192) {
            return self.check();
        }
        std::hint::spin_loop();
        Ok(())
    }

    /// Fails if the run was interrupted, the peer has gone, or this wait
    /// has lasted longer than [`STALL`].
    #[cold]
    pub fn check(&mut self) -> io::Result<()> {
        if sys::interrupted() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        if peer_gone() {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the peer process exited"));
        }
        if now.duration_since(since) > STALL {
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("no progress for {}s", STALL.as_secs())));
        }
        Ok(())
    }
}

/// How long or how many iterations one measurement runs.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Warm-up time (not recorded).
    pub warmup: Duration,
    /// Warm-up iterations at most.
    pub warmup_max: usize,
    /// Measuring time: stop after this once `min` iterations are done.
    pub budget: Duration,
    /// Iterations at least.
    pub min: usize,
    /// Iterations at most.
    pub max: usize,
}

/// What a ping-pong gave: one round-trip time per iteration.
#[derive(Debug, Clone)]
pub struct PingPong {
    /// Round-trip times in nanoseconds, in order.
    pub rtt_ns: Vec<u64>,
    /// Wall time of the measured iterations.
    pub elapsed: Duration,
}

/// What a stream gave.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    /// Messages counted by the peer (all of them: it acknowledges the last).
    pub messages: u64,
    /// From the first send until the peer's acknowledgement arrived.
    pub elapsed: Duration,
}

#[inline]
fn put_seq(msg: &mut [u8], seq: u64) {
    msg[..8].copy_from_slice(&seq.to_le_bytes());
}

#[inline]
fn seq_of(msg: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&msg[..8]);
    u64::from_le_bytes(b)
}

pub(crate) fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Sends `marker` and waits for the peer to answer it.
fn handshake<L: Link>(link: &mut L, msg: &mut [u8], back: &mut [u8], marker: u64) -> io::Result<()> {
    put_seq(msg, marker);
    link.send(msg)?;
    link.recv(back)?;
    if seq_of(back) != marker {
        return Err(bad(format!("the peer answered {:#x} to marker {marker:#x}", seq_of(back))));
    }
    Ok(())
}

fn check_stop() -> io::Result<()> {
    if sys::interrupted() { Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted")) } else { Ok(()) }
}

/// Parent side of a ping-pong: sends a message, waits for the echo, and
/// times each round trip with [`Instant`] (the time includes one clock
/// read). Warm-up first, then `plan`'s budget; ends with [`STOP`].
pub fn pingpong<L: Link>(link: &mut L, size: usize, plan: &Plan) -> io::Result<PingPong> {
    let (mut msg, mut back) = (vec![0u8; size], vec![0u8; size]);
    let mut seq = 0u64;
    let warm_start = Instant::now();
    for i in 0..plan.warmup_max {
        put_seq(&mut msg, seq);
        link.send(&msg)?;
        link.recv(&mut back)?;
        seq += 1;
        if i % 64 == 63 {
            check_stop()?;
            if warm_start.elapsed() >= plan.warmup {
                break;
            }
        }
    }
    let mut rtt_ns = Vec::with_capacity(plan.max);
    let start = Instant::now();
    let mut t0 = start;
    while rtt_ns.len() < plan.max {
        put_seq(&mut msg, seq);
        link.send(&msg)?;
        link.recv(&mut back)?;
        let t1 = Instant::now();
        rtt_ns.push(t1.duration_since(t0).as_nanos() as u64);
        t0 = t1;
        if seq_of(&back) != seq {
            return Err(bad(format!("the peer echoed message {} for {seq}", seq_of(&back))));
        }
        seq += 1;
        if rtt_ns.len() % 64 == 0 {
            check_stop()?;
            if rtt_ns.len() >= plan.min && t1.duration_since(start) >= plan.budget {
                break;
            }
        }
    }
    let elapsed = t0.duration_since(start);
    handshake(link, &mut msg, &mut back, STOP)?;
    Ok(PingPong { rtt_ns, elapsed })
}

/// Parent side of a stream: sends as fast as the link accepts; the peer
/// acknowledges the final [`STOP`] after receiving everything. Timed from
/// the first send to the acknowledgement. A warm-up round (ended by a
/// [`SYNC`] handshake) comes first.
pub fn stream<L: Link>(link: &mut L, size: usize, plan: &Plan) -> io::Result<Stream> {
    let (mut msg, mut back) = (vec![0u8; size], vec![0u8; size]);
    let mut seq = 0u64;
    let warm_start = Instant::now();
    for i in 0..plan.warmup_max {
        put_seq(&mut msg, seq);
        link.send(&msg)?;
        seq += 1;
        if i % 64 == 63 {
            check_stop()?;
            if warm_start.elapsed() >= plan.warmup {
                break;
            }
        }
    }
    handshake(link, &mut msg, &mut back, SYNC)?;
    let start = Instant::now();
    let mut n = 0u64;
    while (n as usize) < plan.max {
        put_seq(&mut msg, seq);
        link.send(&msg)?;
        seq += 1;
        n += 1;
        if n.is_multiple_of(64) {
            check_stop()?;
            if n as usize >= plan.min && start.elapsed() >= plan.budget {
                break;
            }
        }
    }
    handshake(link, &mut msg, &mut back, STOP)?;
    Ok(Stream { messages: n, elapsed: start.elapsed() })
}

/// The copy floor of a stream, in this process: one core copies
/// `size`-byte messages with `memcpy` from one page-aligned buffer of
/// `span` bytes into another, in turn through the buffers, timed like
/// [`stream`] (a warm-up, then the plan's budget). No peer and no
/// synchronization: only the copies. (Page-aligned, so glibc's `rep movsb`
/// runs at full speed: see `src/copy.rs`.)
pub fn copy_stream(size: usize, span: usize, plan: &Plan) -> io::Result<Stream> {
    const PAGE: usize = 4096;
    let slots = (span / size).max(1);
    let aligned = |v: &mut Vec<u8>| {
        let skip = v.as_ptr().align_offset(PAGE).min(PAGE);
        skip..skip + slots * size
    };
    // Both buffers written first, so no page is faulted in while timed.
    let mut src = vec![0x5au8; slots * size + PAGE];
    let mut dst = vec![0xa5u8; slots * size + PAGE];
    let (src_at, dst_at) = (aligned(&mut src), aligned(&mut dst));
    let src = &src[src_at];
    let dst = &mut dst[dst_at];
    let mut at = 0;
    let mut copy = |dst: &mut [u8]| {
        let range = at * size..(at + 1) * size;
        dst[range.clone()].copy_from_slice(&src[range]);
        std::hint::black_box(&mut *dst);
        at = if at + 1 == slots { 0 } else { at + 1 };
    };
    let warm_start = Instant::now();
    for i in 0..plan.warmup_max {
        copy(dst);
        if i % 64 == 63 && warm_start.elapsed() >= plan.warmup {
            break;
        }
    }
    let start = Instant::now();
    let mut n = 0u64;
    while (n as usize) < plan.max {
        copy(dst);
        n += 1;
        if n.is_multiple_of(64) {
            check_stop()?;
            if n as usize >= plan.min && start.elapsed() >= plan.budget {
                break;
            }
        }
    }
    Ok(Stream { messages: n, elapsed: start.elapsed() })
}

/// Environment variable for tests: a peer exits abruptly (status 3) after
/// this many messages, to show that the measuring side does not hang.
pub const DIE_AFTER_VAR: &str = "SHMKIT_BENCH_PEER_DIE_AFTER";

/// Peer side of both patterns: receives messages in sequence, echoes each
/// one when `echo` (ping-pong), answers markers, returns after [`STOP`].
pub fn serve<L: Link>(link: &mut L, size: usize, echo: bool) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    let mut expect = 0u64;
    let die_after: Option<u64> = std::env::var(DIE_AFTER_VAR).ok().and_then(|v| v.parse().ok());
    loop {
        if die_after == Some(expect) {
            std::process::exit(3);
        }
        link.recv(&mut buf)?;
        match seq_of(&buf) {
            STOP => return link.send(&buf),
            SYNC => link.send(&buf)?,
            s if s == expect => {
                expect += 1;
                if echo {
                    link.send(&buf)?;
                }
            }
            s => return Err(bad(format!("received message {s}, expected {expect}"))),
        }
    }
}
