//! iceoryx2 publish-subscribe as a peer transport for the benchmark harness.
//!
//! # What is measured
//!
//! A link pair is two iceoryx2 publish-subscribe services, `<name>/p2c`
//! (parent to child) and `<name>/c2p` (child to parent), each with one
//! publisher and one subscriber and `[u8]` payloads of up to `max_size` bytes.
//! [`Link::send`] loans a chunk (`loan_slice_uninit`), copies the message into
//! it and publishes it; [`Link::recv`] polls the subscriber and copies the
//! payload out. Both copies are measured, as for a pipe: this is not
//! iceoryx2's zero-copy path, where the caller builds the message in the
//! loaned chunk.
//!
//! Services do not overflow: when the subscriber's buffer ([`DEPTH`] samples)
//! is full, the publisher retries inside iceoryx2 (it yields, then sleeps in
//! growing steps) until the subscriber takes one, for at most
//! [`WAIT_LIMIT`]. How a receiver waits is chosen with [`Wake`], the same on
//! both sides:
//! - [`Wake::Spin`]: it busy-polls with a `PAUSE`
//!   between polls and yields the CPU every [`POLLS_PER_YIELD`] empty polls,
//!   so a peer sharing the CPU still runs;
//! - [`Wake::Event`]: every send also notifies an iceoryx2 event service
//!   (`<name>/p2c` and `<name>/c2p` again, as event services), and a receiver
//!   that finds nothing sleeps on its listener: iceoryx2's blocking mode.
//!
//! A wait longer than [`WAIT_LIMIT`] is an [`io::ErrorKind::TimedOut`] error.
//!
//! The first [`Link::send`] of a side waits until the other side's subscriber
//! exists, so a message sent right after the peer was spawned is not lost.
//!
//! Handles use iceoryx2's single-threaded `ipc` service: an [`IoxLink`] is
//! neither `Send` nor `Sync`; create it on the thread that uses it.
//!
//! # Files
//!
//! iceoryx2 runs with its built-in configuration (no `iceoryx2.toml` is read,
//! so a machine's config file cannot change what is measured) and its files
//! carry the prefix `shmkit_iox2_`:
//! - `/dev/shm/shmkit_iox2_*`: the services' dynamic state, the publishers'
//!   data segments, the connections, and one node counter
//!   (`…_node.<version>.global_mgmt`);
//! - `/tmp/iceoryx2/services/shmkit_iox2_*`: the services' static
//!   descriptions;
//! - `/tmp/iceoryx2/nodes/shmkit_iox2_<node id>.node_monitor*` and
//!   `/tmp/iceoryx2/nodes/<node id>/`: each link's node (its liveness token and
//!   what it holds).
//!
//! All of them are removed when the links drop: a service goes with the last
//! port of it, a node with its handle, and the node counter with the last
//! link of the `shmkit_iox2_` domain (when no node of it is left). The
//! directories `/tmp/iceoryx2/services` and `/tmp/iceoryx2/nodes` stay (empty):
//! every iceoryx2 program on the machine shares them. Files of a process that
//! was killed are removed when the other side's link drops, or else by the
//! next link that is created (iceoryx2 removes the dead nodes of the domain
//! then).

use std::fmt::Debug;
use std::io;
use std::time::{Duration, Instant};

use ::iceoryx2::port::listener::Listener;
use ::iceoryx2::port::notifier::Notifier;
use ::iceoryx2::port::publisher::Publisher;
use ::iceoryx2::port::subscriber::Subscriber;
use ::iceoryx2::port::{BackpressureAction, LoanError, SendError};
use ::iceoryx2::prelude::*;
use ::iceoryx2::service::builder::event::{EventCreateError, EventOpenError};
use ::iceoryx2::service::builder::publish_subscribe::{PublishSubscribeCreateError, PublishSubscribeOpenError};
use ::iceoryx2::service::port_factory::event::PortFactory as EventService;
use ::iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSub;

use std::os::fd::OwnedFd;

use super::link::Link;
use super::transport::{Ctx, Handoff, Transport};

/// How long a send or receive waits for the peer before it fails.
pub(crate) const WAIT_LIMIT: Duration = Duration::from_secs(10);
/// Empty polls between two yields of a spinning receiver.
pub(crate) const POLLS_PER_YIELD: u32 = 1000;
/// Samples a subscriber buffers before the publisher has to wait. Measured
/// here, 8 to 256 gave the same streaming rate; 16 keeps the data segment of a
/// 64 KiB link near 1 MiB.
pub(crate) const DEPTH: usize = 16;
/// The file prefix, and so the iceoryx2 domain, of every link.
const DOMAIN: &str = "shmkit_iox2_";

type Ipc = ipc::Service;

/// How a receiver waits for the next message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Busy-poll the subscriber, yielding now and then.
    Spin,
    /// Sleep on an iceoryx2 event listener that every send notifies.
    Event,
}

/// One side of an iceoryx2 link pair; see the module docs.
pub struct IoxLink {
    // Fields drop in declaration order: ports, then services, then the node,
    // then the domain clean-up, which needs the node gone.
    events: Option<Events>,
    publisher: Publisher<Ipc, [u8], ()>,
    subscriber: Subscriber<Ipc, [u8], ()>,
    tx_service: PubSub<Ipc, [u8], ()>,
    _rx_service: PubSub<Ipc, [u8], ()>,
    _node: Node<Ipc>,
    _domain: DomainCleanup,
    peer_seen: bool,
    wait_limit: Duration,
}

/// The event ports of a [`Wake::Event`] link.
struct Events {
    notifier: Notifier<Ipc>,
    listener: Listener<Ipc>,
    _tx_service: EventService<Ipc>,
    _rx_service: EventService<Ipc>,
}

/// Creates the parent side of a link pair, with a choice of how receivers wait; the child must open the
/// link with the same [`Wake`].
///
/// # Errors
///
/// As for [`create_with`].
pub(crate) fn create_with(name: &str, max_size: usize, wake: Wake) -> io::Result<IoxLink> {
    IoxLink::new(DOMAIN, name, max_size, Side::Parent, wake, WAIT_LIMIT)
}

/// [`open_with`] with a choice of how receivers wait: the [`Wake`] the parent used.
///
/// # Errors
///
/// As for [`open_with`]; `NotFound` also when the parent's link is
/// [`Wake::Spin`] and this one [`Wake::Event`].
pub(crate) fn open_with(name: &str, max_size: usize, wake: Wake) -> io::Result<IoxLink> {
    IoxLink::new(DOMAIN, name, max_size, Side::Child, wake, WAIT_LIMIT)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Parent,
    Child,
}

fn iox_error(kind: io::ErrorKind, what: &str, cause: impl Debug) -> io::Error {
    io::Error::new(kind, format!("iceoryx2: {what}: {cause:?}"))
}

fn other(what: &str, cause: impl Debug) -> io::Error {
    iox_error(io::ErrorKind::Other, what, cause)
}

fn domain_config(domain: &str) -> io::Result<Config> {
    let mut config = Config::default();
    config.global.prefix =
        FileName::new(domain.as_bytes()).map_err(|e| iox_error(io::ErrorKind::InvalidInput, "file prefix", e))?;
    Ok(config)
}

impl IoxLink {
    fn new(
        domain: &str,
        name: &str,
        max_size: usize,
        side: Side,
        wake: Wake,
        wait_limit: Duration,
    ) -> io::Result<IoxLink> {
        let config = domain_config(domain)?;
        // Built first so that it is dropped last, whatever fails below.
        let domain_cleanup = DomainCleanup { config: config.clone() };
        let node = NodeBuilder::new()
            .config(&config)
            // The harness owns the process's signals.
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<Ipc>()
            .map_err(|e| other("create node", e))?;

        let service_name = |direction: &str| {
            ServiceName::new(&format!("{name}/{direction}"))
                .map_err(|e| iox_error(io::ErrorKind::InvalidInput, "service name", e))
        };
        let service = |direction: &str| -> io::Result<PubSub<Ipc, [u8], ()>> {
            let service_name = service_name(direction)?;
            let builder = node
                .service_builder(&service_name)
                .publish_subscribe::<[u8]>()
                .max_publishers(1)
                .max_subscribers(1)
                .history_size(0)
                .subscriber_max_buffer_size(DEPTH)
                .enable_safe_overflow(false);
            match side {
                Side::Parent => builder.create().map_err(|e| {
                    let exists = matches!(e, PublishSubscribeCreateError::AlreadyExists);
                    iox_error(
                        if exists { io::ErrorKind::AlreadyExists } else { io::ErrorKind::Other },
                        "create service",
                        e,
                    )
                }),
                Side::Child => builder.open().map_err(|e| {
                    let missing = matches!(e, PublishSubscribeOpenError::DoesNotExist);
                    iox_error(if missing { io::ErrorKind::NotFound } else { io::ErrorKind::Other }, "open service", e)
                }),
            }
        };
        let p2c = service("p2c")?;
        let c2p = service("c2p")?;
        let (tx_service, rx_service) = match side {
            Side::Parent => (p2c, c2p),
            Side::Child => (c2p, p2c),
        };

        let subscriber =
            rx_service.subscriber_builder().buffer_size(DEPTH).create().map_err(|e| other("create subscriber", e))?;
        let publisher = tx_service
            .publisher_builder()
            .initial_max_slice_len(max_size.max(1))
            .allocation_strategy(AllocationStrategy::Static)
            .max_loaned_samples(1)
            // Called while the subscriber's buffer is full: keep retrying (iceoryx2
            // yields and sleeps between tries), up to the wait limit.
            .set_backpressure_handler(move |info| {
                if info.elapsed_time < wait_limit {
                    BackpressureAction::Retry
                } else {
                    BackpressureAction::DiscardDataAndFail
                }
            })
            .create()
            .map_err(|e| other("create publisher", e))?;

        let events = match wake {
            Wake::Spin => None,
            Wake::Event => {
                let service = |direction: &str| -> io::Result<EventService<Ipc>> {
                    let builder =
                        node.service_builder(&service_name(direction)?).event().max_notifiers(1).max_listeners(1);
                    match side {
                        Side::Parent => builder.create().map_err(|e| {
                            let exists = matches!(e, EventCreateError::AlreadyExists);
                            iox_error(
                                if exists { io::ErrorKind::AlreadyExists } else { io::ErrorKind::Other },
                                "create event service",
                                e,
                            )
                        }),
                        Side::Child => builder.open().map_err(|e| {
                            let missing = matches!(e, EventOpenError::DoesNotExist);
                            iox_error(
                                if missing { io::ErrorKind::NotFound } else { io::ErrorKind::Other },
                                "open event service",
                                e,
                            )
                        }),
                    }
                };
                let p2c = service("p2c")?;
                let c2p = service("c2p")?;
                let (tx_service, rx_service) = match side {
                    Side::Parent => (p2c, c2p),
                    Side::Child => (c2p, p2c),
                };
                let listener = rx_service.listener_builder().create().map_err(|e| other("create listener", e))?;
                let notifier = tx_service.notifier_builder().create().map_err(|e| other("create notifier", e))?;
                Some(Events { notifier, listener, _tx_service: tx_service, _rx_service: rx_service })
            }
        };

        Ok(IoxLink {
            events,
            publisher,
            subscriber,
            tx_service,
            _rx_service: rx_service,
            _node: node,
            _domain: domain_cleanup,
            peer_seen: false,
            wait_limit,
        })
    }

    /// Waits until the other side's subscriber exists.
    fn wait_for_peer(&mut self) -> io::Result<()> {
        let start = Instant::now();
        while self.tx_service.dynamic_config().number_of_subscribers() == 0 {
            if start.elapsed() > self.wait_limit {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "iceoryx2: the peer never subscribed"));
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        self.peer_seen = true;
        Ok(())
    }
}

impl Link for IoxLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        if !self.peer_seen {
            self.wait_for_peer()?;
        }
        let sample = self.publisher.loan_slice_uninit(msg.len()).map_err(|e| {
            let too_big = matches!(e, LoanError::ExceedsMaxLoanSize);
            iox_error(if too_big { io::ErrorKind::InvalidInput } else { io::ErrorKind::Other }, "loan", e)
        })?;
        let delivered = sample.write_from_slice(msg).send().map_err(|e| {
            let timed_out = matches!(e, SendError::UnableToDeliver);
            iox_error(if timed_out { io::ErrorKind::TimedOut } else { io::ErrorKind::Other }, "send", e)
        })?;
        if delivered == 0 {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "iceoryx2: the peer's subscriber is gone"));
        }
        if let Some(events) = &self.events {
            events.notifier.notify().map_err(|e| other("notify", e))?;
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut polls = 0u32;
        // The clock is read only once the peer is slow: not on the fast path.
        let mut since: Option<Instant> = None;
        loop {
            if let Some(sample) = self.subscriber.receive().map_err(|e| other("receive", e))? {
                let payload = sample.payload();
                if payload.len() != buf.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("iceoryx2: received {} bytes, expected {}", payload.len(), buf.len()),
                    ));
                }
                buf.copy_from_slice(payload);
                return Ok(());
            }
            if let Some(events) = &self.events {
                // A message sent after the poll above has notified the listener
                // already, so this wait returns at once: no lost wake-up.
                let deadline = *since.get_or_insert_with(Instant::now) + self.wait_limit;
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "iceoryx2: no message from the peer"));
                }
                events.listener.timed_wait(|_| {}, left).map_err(|e| other("wait on the listener", e))?;
                continue;
            }
            polls += 1;
            if polls < POLLS_PER_YIELD {
                std::hint::spin_loop();
                continue;
            }
            polls = 0;
            std::thread::yield_now();
            if since.get_or_insert_with(Instant::now).elapsed() > self.wait_limit {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "iceoryx2: no message from the peer"));
            }
        }
    }
}

/// Removes the domain's node counter once no node of the domain is left.
///
/// iceoryx2 keeps one shared-memory counter per domain for node ids and never
/// removes it itself.
struct DomainCleanup {
    config: Config,
}

impl Drop for DomainCleanup {
    fn drop(&mut self) {
        let mut nodes = 0usize;
        let listed = Node::<Ipc>::list(&self.config, |_| {
            nodes += 1;
            CallbackProgression::Stop
        });
        if listed.is_ok() && nodes == 0 {
            // SAFETY: iceoryx2 requires that no process uses the domain. No node of it is
            // left, and the counter is only opened while a node is being created: a process
            // creating one right now keeps its mapping and finishes, and the next creation
            // makes a new counter (node ids also carry the pid and the time, so a counter
            // starting over does not make them collide).
            let _ = unsafe { ::iceoryx2::testing::remove_global_mgmt_segment::<Ipc>(&self.config) };
        }
    }
}

/// `iceoryx2` rows of the harness: publish-subscribe, spinning (`spin`) or
/// woken by an event service (`event`).
pub struct Iox;

fn wake_of(wait: &str) -> Wake {
    if wait == "event" { Wake::Event } else { Wake::Spin }
}

impl Transport for Iox {
    type Link = IoxLink;
    fn create(ctx: &Ctx) -> io::Result<(IoxLink, Handoff)> {
        let name = ctx.prefix.replace('.', "_");
        let link = create_with(&name, ctx.size, wake_of(ctx.wait))?;
        Ok((link, Handoff { args: vec![name], fds: Vec::new() }))
    }

    fn open(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<IoxLink> {
        let name = args.first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing service name"))?;
        open_with(name, ctx.size, wake_of(ctx.wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Runs `f` on a thread and fails the test if it does not finish in time.
    fn watchdog<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        let worker = std::thread::spawn(move || {
            let r = f();
            let _ = tx.send(());
            r
        });
        match rx.recv_timeout(limit) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the iceoryx2 test did not finish within {limit:?}"),
        }
    }

    /// Files of `domain` in /dev/shm and /tmp/iceoryx2.
    fn files_of(domain: &str) -> Vec<String> {
        fn walk(dir: &std::path::Path, domain: &str, found: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.file_name().is_some_and(|n| n.to_string_lossy().contains(domain)) {
                    found.push(path.display().to_string());
                }
                if path.is_dir() {
                    walk(&path, domain, found);
                }
            }
        }
        let mut found = Vec::new();
        walk(std::path::Path::new("/dev/shm"), domain, &mut found);
        walk(std::path::Path::new("/tmp/iceoryx2"), domain, &mut found);
        found
    }

    const SIZES: [usize; 4] = [8, 64, 1024, 65536];
    const ROUND_TRIPS: usize = 200;
    const STREAMED: usize = 1000;

    fn child(domain: &str, name: &str, wake: Wake) -> io::Result<()> {
        let mut link = IoxLink::new(domain, name, 65536, Side::Child, wake, WAIT_LIMIT)?;
        for size in SIZES {
            let mut buf = vec![0u8; size];
            for _ in 0..ROUND_TRIPS {
                link.recv(&mut buf)?;
                buf.iter_mut().for_each(|b| *b = b.wrapping_add(1));
                link.send(&buf)?;
            }
            let mut sum = 0u64;
            for _ in 0..STREAMED {
                link.recv(&mut buf)?;
                sum += u64::from(buf[0]) + u64::from(buf[size - 1]);
            }
            link.send(&sum.to_le_bytes())?;
        }
        Ok(())
    }

    /// Ping-pong, then streaming with an acknowledgement, at every size, between
    /// two threads; checks that the links leave no file behind.
    fn ping_pong_and_stream(wake: Wake) {
        let domain = format!("shmkit_iox2_test{wake:?}{}_", std::process::id());
        let name = "ping-pong";
        let check = domain.clone();
        watchdog(Duration::from_secs(120), move || {
            let mut parent =
                IoxLink::new(&domain, name, 65536, Side::Parent, wake, WAIT_LIMIT).expect("create the parent side");
            let child = {
                let domain = domain.clone();
                std::thread::spawn(move || child(&domain, name, wake))
            };
            for size in SIZES {
                let mut msg = vec![0u8; size];
                let mut back = vec![0u8; size];
                for i in 0..ROUND_TRIPS {
                    msg.iter_mut().enumerate().for_each(|(j, b)| *b = (i + j) as u8);
                    parent.send(&msg).expect("send a ping");
                    parent.recv(&mut back).expect("receive a pong");
                    assert!(back.iter().zip(&msg).all(|(b, m)| *b == m.wrapping_add(1)), "size {size}, round {i}");
                }
                let mut expected = 0u64;
                for i in 0..STREAMED {
                    msg[0] = i as u8;
                    msg[size - 1] = (i * 7) as u8;
                    expected += u64::from(msg[0]) + u64::from(msg[size - 1]);
                    parent.send(&msg).expect("stream a message");
                }
                let mut ack = [0u8; 8];
                parent.recv(&mut ack).expect("receive the ack");
                assert_eq!(u64::from_le_bytes(ack), expected, "size {size}: streamed messages lost or changed");
            }
            let too_big = parent.send(&vec![0u8; 65537]).expect_err("a message over max_size");
            assert_eq!(too_big.kind(), io::ErrorKind::InvalidInput);
            child.join().expect("the child thread panicked").expect("the child side failed");
            assert!(!files_of(&domain).is_empty(), "a live link has files under its prefix");
            drop(parent);
        });
        let left = files_of(&check);
        assert!(left.is_empty(), "files left behind: {left:?}");
    }

    #[test]
    fn ping_pong_and_stream_spinning() {
        ping_pong_and_stream(Wake::Spin);
    }

    #[test]
    fn ping_pong_and_stream_on_events() {
        ping_pong_and_stream(Wake::Event);
    }

    #[test]
    fn errors_instead_of_hangs() {
        let domain = format!("shmkit_iox2_errs{}_", std::process::id());
        let check = domain.clone();
        watchdog(Duration::from_secs(60), move || {
            let short_wait = Duration::from_millis(50);
            let missing = IoxLink::new(&domain, "nobody", 8, Side::Child, Wake::Spin, short_wait)
                .err()
                .expect("open without a creator");
            assert_eq!(missing.kind(), io::ErrorKind::NotFound);

            let mut parent = IoxLink::new(&domain, "quiet", 8, Side::Parent, Wake::Spin, short_wait).expect("create");
            let dup =
                IoxLink::new(&domain, "quiet", 8, Side::Parent, Wake::Spin, short_wait).err().expect("create twice");
            assert_eq!(dup.kind(), io::ErrorKind::AlreadyExists);
            let mismatch = IoxLink::new(&domain, "quiet", 8, Side::Child, Wake::Event, short_wait)
                .err()
                .expect("open a spinning link with events");
            assert_eq!(mismatch.kind(), io::ErrorKind::NotFound);
            let mut child = IoxLink::new(&domain, "quiet", 8, Side::Child, Wake::Spin, short_wait).expect("open");

            // Nobody sends: receiving times out.
            let timed_out = child.recv(&mut [0u8; 8]).expect_err("recv with nothing sent");
            assert_eq!(timed_out.kind(), io::ErrorKind::TimedOut);

            // Nobody receives: sending succeeds until the buffer is full, then times out.
            let mut sent = 0;
            let full = loop {
                match parent.send(&[1u8; 8]) {
                    Ok(()) => sent += 1,
                    Err(e) => break e,
                }
                assert!(sent <= DEPTH, "more than {DEPTH} messages buffered");
            };
            assert_eq!(full.kind(), io::ErrorKind::TimedOut);
            assert_eq!(sent, DEPTH);

            // A message of the wrong size is an error, not a short read.
            let mut short = [0u8; 4];
            assert_eq!(child.recv(&mut short).expect_err("size mismatch").kind(), io::ErrorKind::InvalidData);

            // The peer's side dropped: sends fail instead of waiting.
            drop(child);
            let gone = parent.send(&[2u8; 8]).expect_err("send after the peer dropped");
            assert_eq!(gone.kind(), io::ErrorKind::BrokenPipe, "{gone}");

            // A receiver asleep on its listener also gives up.
            let mut parent = IoxLink::new(&domain, "asleep", 8, Side::Parent, Wake::Event, short_wait).expect("create");
            let timed_out = parent.recv(&mut [0u8; 8]).expect_err("recv on events with nothing sent");
            assert_eq!(timed_out.kind(), io::ErrorKind::TimedOut);
        });
        let left = files_of(&check);
        assert!(left.is_empty(), "files left behind: {left:?}");
    }
}
