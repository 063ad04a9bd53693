//! Transports and their registry.
//!
//! A transport creates its parent side ([`Transport::create`]: resources
//! named with the run's unique prefix, plus what the peer needs to open its
//! side) and opens the peer side ([`Transport::open`]). [`measure`] and
//! [`serve_peer`] drive any transport through the generic hot loops, so each
//! message costs a direct (inlinable) call, never a virtual one.
//!
//! # Adding a transport
//! 1. Write a type implementing [`Link`] for one side of the channel, and a
//!    type implementing [`Transport`] that makes both sides.
//! 2. Add one line to [`registry`]: `Entry::of::<YourTransport>(name, wait)`
//!    with its limits (`.max_size(..)`, `.spinning()`, `.sizes(..)`).
//!
//! A transport whose type depends on the message size (a `[u8; N]` queue)
//! gives [`Entry::new`] two functions that pick the monomorphized
//! [`measure`]/[`serve_peer`] by size, as `queue.rs` does.

use std::io;
use std::os::fd::OwnedFd;

use super::link::{Link, PingPong, Stream};
use super::{Pattern, Session};

/// A shmkit error as the harness's error type.
pub(crate) fn err(e: shmkit::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// The wait strategy of a registry entry's wait column (`spin`, `park`;
/// anything else is adaptive).
pub(crate) fn strategy(wait: &str) -> shmkit::WaitStrategy {
    match wait {
        "spin" => shmkit::WaitStrategy::Spin,
        "park" => shmkit::WaitStrategy::Park,
        _ => shmkit::WaitStrategy::Adaptive,
    }
}

/// What a transport needs to know to make one channel.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Message size in bytes (at least 8).
    pub size: usize,
    /// Wait strategy name of the registry entry (`"spin"`, `"park"`, …).
    pub wait: &'static str,
    /// The pattern that will run (a transport may size its buffers for it).
    pub pattern: Pattern,
    /// A segment name prefix unique to this channel (`bench.<pid>.<n>`);
    /// append `.a`, `.b`, … for several segments.
    pub prefix: String,
}

/// What the parent hands to the peer: arguments and descriptors.
#[derive(Debug, Default)]
pub struct Handoff {
    /// Strings passed on the peer's command line.
    pub args: Vec<String>,
    /// Descriptors the peer inherits (as descriptors 3, 4, …).
    pub fds: Vec<OwnedFd>,
}

/// Makes both sides of one kind of channel.
pub trait Transport {
    /// One side of the channel.
    type Link: Link;
    /// Parent side: creates the resources and returns the parent's link
    /// and what the peer needs to open its side.
    fn create(ctx: &Ctx) -> io::Result<(Self::Link, Handoff)>;
    /// Peer side: opens the channel from the parent's handoff (`fds` are
    /// the inherited descriptors, in order).
    fn open(ctx: &Ctx, args: &[String], fds: Vec<OwnedFd>) -> io::Result<Self::Link>;
}

/// Parent side of one measurement.
pub type MeasureFn = fn(&mut Session, &Entry, &Ctx) -> io::Result<Outcome>;
/// Peer side of one measurement.
pub type ServeFn = fn(&Ctx, &[String], Vec<OwnedFd>) -> io::Result<()>;

/// What one measurement gave.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Ping-pong round trips.
    PingPong(PingPong),
    /// A stream.
    Stream(Stream),
}

/// One row source of the registry: a transport with one wait strategy.
#[derive(Clone)]
pub struct Entry {
    /// Transport name as shown (`"pipe"`, `"shmkit-queue"`, …).
    pub name: &'static str,
    /// Wait strategy as shown (`"spin"`, `"adaptive"`, `"park"`, `"block"`).
    pub wait: &'static str,
    /// Largest message size it can carry (larger ones are skipped with a
    /// note).
    pub max_size: usize,
    /// Why sizes above `max_size` are skipped.
    pub size_note: &'static str,
    /// Only these sizes (empty: all).
    pub only_sizes: &'static [usize],
    /// Only these patterns (empty: both).
    pub only_patterns: &'static [Pattern],
    /// Busy-waits: skipped on a single CPU.
    pub spins: bool,
    /// The floor for its pattern (raw shared memory, no library).
    pub floor: Option<Pattern>,
    /// One line of what is measured, for the notes.
    pub what: &'static str,
    pub(crate) measure: MeasureFn,
    pub(crate) serve: ServeFn,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).field("wait", &self.wait).finish_non_exhaustive()
    }
}

impl Entry {
    /// An entry with explicit measure/serve functions (for transports that
    /// choose their type by message size).
    pub fn new(name: &'static str, wait: &'static str, measure: MeasureFn, serve: ServeFn) -> Entry {
        Entry {
            name,
            wait,
            max_size: usize::MAX,
            size_note: "",
            only_sizes: &[],
            only_patterns: &[],
            spins: false,
            floor: None,
            what: "",
            measure,
            serve,
        }
    }

    /// The entry of transport `T`.
    pub fn of<T: Transport>(name: &'static str, wait: &'static str) -> Entry {
        Entry::new(name, wait, measure::<T>, serve_peer::<T>)
    }

    /// Messages above `max` bytes are skipped, with `why`.
    pub fn max_size(mut self, max: usize, why: &'static str) -> Entry {
        self.max_size = max;
        self.size_note = why;
        self
    }

    /// Busy-waits (skipped on one CPU).
    pub fn spinning(mut self) -> Entry {
        self.spins = true;
        self
    }

    /// Runs only at these sizes.
    pub fn sizes(mut self, sizes: &'static [usize]) -> Entry {
        self.only_sizes = sizes;
        self
    }

    /// Runs only these patterns.
    pub fn patterns(mut self, patterns: &'static [Pattern]) -> Entry {
        self.only_patterns = patterns;
        self
    }

    /// Marks the entry as the floor for `pattern`.
    pub fn floor_for(mut self, pattern: Pattern) -> Entry {
        self.floor = Some(pattern);
        self
    }

    /// What it measures, in a few words.
    pub fn describe(mut self, what: &'static str) -> Entry {
        self.what = what;
        self
    }

    /// `name/wait`: the entry's key on the peer's command line and in
    /// filters.
    pub fn key(&self) -> String {
        format!("{}/{}", self.name, self.wait)
    }

    /// Whether the entry runs `pattern`.
    pub fn runs(&self, pattern: Pattern) -> bool {
        self.only_patterns.is_empty() || self.only_patterns.contains(&pattern)
    }
}

/// Every transport, in table order. **Open list**: add a line here for a new
/// transport (see the module docs); rows come out in this order.
pub fn registry() -> Vec<Entry> {
    use super::kernel::{Eventfd, Pipe, UnixDgram, UnixStream};
    use super::sem::{PosixSem, ShmkitSem};
    use super::shm::{RawFlag, RawRing, ShmkitEvent};
    use Pattern::{PingPong, Stream};
    vec![
        // The floors: raw shared memory, no library, copy in and out.
        Entry::of::<RawFlag>("raw-flag", "spin")
            .spinning()
            .floor_for(PingPong)
            .describe("one-slot handoff: two flags on their own cache lines, message copied through shared memory"),
        Entry::of::<RawRing>("raw-ring", "spin")
            .spinning()
            .floor_for(Stream)
            .describe("bare SPSC ring in shared memory, copy in and out, cached indices"),
        super::shm::memcpy_entry(),
        // The kernel.
        Entry::of::<Pipe>("pipe", "block").describe("two pipes, read/write, poll() when it would block"),
        Entry::of::<UnixStream>("unix-stream", "block").describe("socketpair(SOCK_STREAM)"),
        Entry::of::<UnixDgram>("unix-dgram", "block")
            .max_size(65536, "datagrams above 64 KiB exceed the socket buffer")
            .describe("socketpair(SOCK_DGRAM), one datagram per message"),
        Entry::of::<Eventfd>("eventfd", "block")
            .describe("ring in shared memory, data and space counted by eventfds (blocking)"),
        // shmkit.
        super::queue::entry("spin").spinning(),
        super::queue::entry("adaptive"),
        super::queue::entry("park"),
        super::fanin::entry(),
        Entry::of::<ShmkitEvent>("shmkit-event", "adaptive")
            .sizes(&[8])
            .patterns(&[PingPong])
            .describe("8-byte slot signalled by a shmkit Event (wake round trip)"),
        Entry::of::<ShmkitEvent>("shmkit-event", "park").sizes(&[8]).patterns(&[PingPong]),
        Entry::of::<ShmkitSem>("shmkit-semaphore", "adaptive")
            .sizes(&[8])
            .patterns(&[PingPong])
            .describe("8-byte slot signalled by a shmkit Semaphore (wake round trip)"),
        Entry::of::<ShmkitSem>("shmkit-semaphore", "park").sizes(&[8]).patterns(&[PingPong]),
        Entry::of::<PosixSem>("raw-sem_t", "block")
            .sizes(&[8])
            .patterns(&[PingPong])
            .describe("8-byte slot signalled by a process-shared POSIX sem_t (wake round trip)"),
        super::queue::spsc_entry("spin").spinning(),
        super::queue::spsc_entry("adaptive"),
        super::queue::spsc_batch_entry().spinning(),
        super::queue::spsc_in_place_entry().spinning(),
        super::queue::async_entry(),
        super::broadcast::entry("spin").spinning(),
        super::broadcast::entry("adaptive"),
        super::fanout::entry(),
        Entry::of::<super::bytes::Bytes<false>>("shmkit-bytequeue", "spin")
            .spinning()
            .describe("two ByteQueues (variable-size records), copy in and out"),
        Entry::of::<super::bytes::Bytes<false>>("shmkit-bytequeue", "adaptive"),
        Entry::of::<super::bytes::Bytes<false>>("shmkit-bytequeue", "park"),
        // The same channels with the peer written in C over the C ABI.
        super::c::spsc_entry("spin").spinning(),
        super::c::spsc_entry("adaptive"),
        super::c::spsc_batch_entry().spinning(),
        super::c::bytes_entry("spin").spinning(),
        super::c::bytes_entry("adaptive"),
        Entry::of::<super::bytes::Bytes<true>>("shmkit-grant", "spin")
            .spinning()
            .describe("two ByteQueues, zero-copy: reserve/commit and recv_ref, payload written and read in place"),
        Entry::of::<super::bytes::PipeT>("shmkit-pipe", "spin")
            .spinning()
            .describe("one shmkit Pipe, a Connection per side, copy in and out"),
        Entry::of::<super::bytes::PipeT>("shmkit-pipe", "adaptive"),
        // Peers built in with the `peers` feature.
        #[cfg(feature = "peers")]
        Entry::of::<super::iceoryx2::Iox>("iceoryx2", "spin")
            .spinning()
            .describe("iceoryx2 0.10 publish-subscribe, two services, loan + copy in, copy out, busy-polling"),
        #[cfg(feature = "peers")]
        Entry::of::<super::iceoryx2::Iox>("iceoryx2", "event")
            .describe("iceoryx2 publish-subscribe woken by an iceoryx2 event service (blocking)"),
    ]
}

/// Parent side of one measurement of transport `T`: creates the channel,
/// starts the peer, runs the pattern, and waits for the peer to exit.
pub fn measure<T: Transport>(s: &mut Session, entry: &Entry, ctx: &Ctx) -> io::Result<Outcome> {
    let (mut link, handoff) = T::create(ctx)?;
    let mut peer = s.spawn_peer(entry, ctx, handoff)?;
    let plan = s.plan(ctx.pattern, ctx.size);
    let outcome = match ctx.pattern {
        Pattern::PingPong => super::link::pingpong(&mut link, ctx.size, &plan).map(Outcome::PingPong),
        Pattern::Stream => super::link::stream(&mut link, ctx.size, &plan).map(Outcome::Stream),
    };
    let outcome = outcome.map_err(|e| peer.explain(e));
    let finished = peer.finish(outcome.is_ok());
    drop(link);
    let outcome = outcome?;
    finished?;
    Ok(outcome)
}

/// Peer side of one measurement of transport `T`.
pub fn serve_peer<T: Transport>(ctx: &Ctx, args: &[String], fds: Vec<OwnedFd>) -> io::Result<()> {
    let mut link = T::open(ctx, args, fds)?;
    super::peer_ready()?;
    super::link::serve(&mut link, ctx.size, ctx.pattern == Pattern::PingPong)
}
