//! Readiness for event loops and async code: [`ReadyFd`], a file
//! descriptor that becomes readable when any object it watches is ready,
//! and [`ready`], a future that completes when one object is.
//!
//! Both are served by one background thread per process (started at the
//! first use, named `shmkit-ready`), parked in [`wait_any`](crate::wait_any)
//! on the futex words of everything watched — no spinning; it sleeps in
//! bounded naps (up to 16 ms) only to notice dead peers. The thread looks at
//! shared state only (a queue's indices and slots, an end's role word, a
//! subscriber's published cursor, an event's word, a semaphore's count), so
//! the objects stay the caller's: watch a receiver, then receive from it
//! with its `try_` calls when told it is ready.
//!
//! Neither survives `fork()`: the child has no background thread. Make them
//! after the fork.

#[cfg(feature = "async")]
use std::future::Future;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
#[cfg(feature = "async")]
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
#[cfg(feature = "async")]
use std::task::{Context, Poll};

use crate::error::Error;
use crate::primitive::{AtomicU32, Ordering, futex_wait, futex_wake};
use crate::select::sealed::{Park, Source};
use crate::select::{Selectable, wait_sources};
use crate::wait::{Deadline, WaitStrategy};

type Probe = Arc<dyn Source + Send + Sync>;

/// Who is told when a watched object is ready.
enum Target {
    /// A [`ReadyFd`]: signalled, then left alone until it is cleared.
    Fd(Arc<OwnedFd>),
    /// A [`Ready`] future: woken once, then forgotten.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    Waker(Waker),
}

struct Reg {
    id: u64,
    probe: Probe,
    /// What the probe's wait started from (an event's word).
    armed: u32,
    target: Target,
    /// Watched now (a fired fd waits for its `clear`).
    live: bool,
}

/// The background waiter's list, and the word it sleeps on for changes.
struct Registry {
    regs: Mutex<(u64, Vec<Reg>)>,
    /// Bumped on every change of the list.
    change: AtomicU32,
    /// The waiter, when it sleeps on `change`.
    sleepers: AtomicU32,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, (u64, Vec<Reg>)> {
        // A panic while holding the lock leaves a consistent list: go on.
        self.regs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tells the waiter the list changed. SeqCst on both sides (the RMW
    /// here and its count, its count and its load): either it sees the new
    /// value, or we see it counted.
    fn changed(&self) {
        self.change.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            futex_wake(&self.change, u32::MAX);
        }
    }

    fn add(&self, probe: Probe, armed: u32, target: Target) -> u64 {
        let id = {
            let mut regs = self.lock();
            regs.0 += 1;
            let id = regs.0;
            regs.1.push(Reg { id, probe, armed, target, live: true });
            id
        };
        self.changed();
        id
    }

    fn remove(&self, ids: &[u64]) {
        self.lock().1.retain(|r| !ids.contains(&r.id));
        self.changed();
    }

    /// Watches again what `ids` name (after a `ReadyFd::clear`).
    fn rearm(&self, ids: &[u64]) {
        for r in self.lock().1.iter_mut().filter(|r| ids.contains(&r.id)) {
            r.live = true;
        }
        self.changed();
    }

    /// Replaces the waker of `id`; `false` if it fired (and was dropped).
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    fn update_waker(&self, id: u64, waker: &Waker) -> bool {
        let mut regs = self.lock();
        match regs.1.iter_mut().find(|r| r.id == id) {
            Some(Reg { target: Target::Waker(w), .. }) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                true
            }
            _ => false,
        }
    }

    /// Tells the target of `id` that its object is ready.
    fn fire(&self, id: u64) {
        let mut regs = self.lock();
        let Some(at) = regs.1.iter().position(|r| r.id == id) else { return };
        match &regs.1[at].target {
            Target::Fd(fd) => {
                crate::sys::eventfd_signal(fd.as_fd());
                regs.1[at].live = false;
            }
            Target::Waker(_) => {
                if let Target::Waker(w) = regs.1.swap_remove(at).target {
                    drop(regs);
                    w.wake();
                }
            }
        }
    }

    /// The background waiter.
    fn run(&self) {
        loop {
            let since = self.change.load(Ordering::SeqCst);
            let watched: Vec<(u64, Probe, u32)> =
                self.lock().1.iter().filter(|r| r.live).map(|r| (r.id, Arc::clone(&r.probe), r.armed)).collect();
            if watched.is_empty() {
                // Nothing to watch: sleep until the list changes.
                self.sleepers.fetch_add(1, Ordering::SeqCst);
                if self.change.load(Ordering::SeqCst) == since {
                    futex_wait(&self.change, since, None);
                }
                self.sleepers.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            let change = Changes { registry: self, since };
            let armed: Vec<Armed<'_>> = watched.iter().map(|(_, p, a)| Armed { probe: &**p, armed: *a }).collect();
            let mut sources: Vec<&dyn Source> = vec![&change];
            sources.extend(armed.iter().map(|a| a as &dyn Source));
            if let Some(i) = wait_sources(&sources, Deadline::Never, WaitStrategy::Adaptive).filter(|&i| i > 0) {
                self.fire(watched[i - 1].0);
            }
        }
    }
}

/// The list's change word as a source of the waiter's wait.
struct Changes<'a> {
    registry: &'a Registry,
    since: u32,
}

impl Source for Changes<'_> {
    fn ready(&self, _armed: u32, _thorough: bool) -> bool {
        self.registry.change.load(Ordering::SeqCst) != self.since
    }
    fn park(&self) -> Park<'_> {
        let r = self.registry;
        Park::Counted { word: &r.change, count: &r.sleepers, asym: false, wakes_one: false }
    }
    fn probe(&self) -> Result<Probe, Error> {
        Err(Error::InvalidArgument("the waiter's own word is not watched".into()))
    }
}

/// A probe with the state its wait started from.
struct Armed<'a> {
    probe: &'a (dyn Source + Send + Sync),
    armed: u32,
}

impl Source for Armed<'_> {
    fn arm(&self) -> u32 {
        self.armed
    }
    fn ready(&self, armed: u32, thorough: bool) -> bool {
        self.probe.ready(armed, thorough)
    }
    fn park(&self) -> Park<'_> {
        self.probe.park()
    }
    fn probe(&self) -> Result<Probe, Error> {
        self.probe.probe()
    }
}

/// The process's registry; its waiter thread is started with it.
fn registry() -> Result<&'static Registry, Error> {
    static REGISTRY: OnceLock<Result<&'static Registry, String>> = OnceLock::new();
    let made = REGISTRY.get_or_init(|| {
        let registry: &'static Registry = Box::leak(Box::new(Registry {
            regs: Mutex::new((0, Vec::new())),
            change: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }));
        std::thread::Builder::new()
            .name("shmkit-ready".into())
            .spawn(move || registry.run())
            .map(|_| registry)
            .map_err(|e| e.to_string())
    });
    made.as_ref().copied().map_err(|e| Error::InvalidArgument(format!("cannot start the readiness thread: {e}")))
}

/// A file descriptor that becomes readable when any object it watches is
/// ready (a message or end of stream to receive, a set event, a free
/// permit): hand it to epoll, `poll`, tokio's `AsyncFd`, Python's
/// `asyncio` `add_reader` or libuv.
///
/// It stays readable until [`clear`](ReadyFd::clear); clearing watches
/// again, and an object still ready makes it readable again at once, so
/// the loop is: wait for readable, `clear`, then receive with the `try_`
/// calls until they find nothing.
///
/// ```no_run
/// use shmkit::{Queue, ReadyFd};
/// use std::os::fd::AsRawFd;
///
/// let jobs = Queue::<u64>::open("jobs")?.receiver()?;
/// let ready = ReadyFd::new()?;
/// ready.watch(&jobs)?;
/// let mut pfd = libc::pollfd { fd: ready.as_raw_fd(), events: libc::POLLIN, revents: 0 };
/// loop {
///     // SAFETY: one valid pollfd.
///     unsafe { libc::poll(&mut pfd, 1, -1) };
///     ready.clear();
///     while let Ok(job) = jobs.try_recv() {
///         println!("job {job}");
///     }
/// }
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct ReadyFd {
    fd: Arc<OwnedFd>,
    ids: Mutex<Vec<u64>>,
}

impl ReadyFd {
    /// A descriptor watching nothing yet (an eventfd).
    ///
    /// # Errors
    /// If the eventfd or the background thread cannot be made.
    pub fn new() -> Result<ReadyFd, Error> {
        registry()?;
        let fd = crate::sys::eventfd().map_err(|source| Error::Io {
            op: "make the eventfd of",
            name: "ReadyFd".into(),
            source,
        })?;
        Ok(ReadyFd { fd: Arc::new(fd), ids: Mutex::new(Vec::new()) })
    }

    /// Watches `object` too, until this descriptor is dropped.
    ///
    /// # Errors
    /// An event or semaphore is opened again by name for the background
    /// thread: the errors of its `open` (it must still be linked).
    pub fn watch<S: Selectable + ?Sized>(&self, object: &S) -> Result<(), Error> {
        let probe = object.probe()?;
        let armed = probe.arm();
        let id = registry()?.add(probe, armed, Target::Fd(Arc::clone(&self.fd)));
        self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(id);
        Ok(())
    }

    /// Reads the descriptor's signal (it is no longer readable) and watches
    /// every object again; `true` if it was signalled.
    pub fn clear(&self) -> bool {
        let was = crate::sys::eventfd_drain(self.fd.as_fd());
        if let Ok(r) = registry() {
            r.rearm(&self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        }
        was
    }
}

impl AsFd for ReadyFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for ReadyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for ReadyFd {
    fn drop(&mut self) {
        if let Ok(r) = registry() {
            r.remove(&self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        }
    }
}

impl std::fmt::Debug for ReadyFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let watched = self.ids.lock().map_or(0, |ids| ids.len());
        f.debug_struct("ReadyFd").field("fd", &self.fd.as_raw_fd()).field("watched", &watched).finish()
    }
}

#[cfg(feature = "async")]
/// A future that completes when `object` is ready (see [`ReadyFd`] for
/// what ready means); it consumes nothing. Works with any executor: the
/// background thread wakes the task.
///
/// # Errors
/// An event or semaphore is opened again by name for the background
/// thread: the errors of its `open`.
pub fn ready<S: Selectable + ?Sized>(object: &S) -> Result<Ready, Error> {
    let probe = object.probe()?;
    let armed = probe.arm();
    Ok(Ready { probe, armed, reg: None, woken: false })
}

#[cfg(feature = "async")]
/// The future of [`ready`].
#[must_use = "a future does nothing unless awaited"]
pub struct Ready {
    probe: Probe,
    armed: u32,
    reg: Option<u64>,
    /// Woken once: look thoroughly (a dead peer counts as ready).
    woken: bool,
}

#[cfg(feature = "async")]
impl Ready {
    fn unregister(&mut self) {
        if let (Some(id), Ok(r)) = (self.reg.take(), registry()) {
            r.remove(&[id]);
        }
    }
}

#[cfg(feature = "async")]
impl Future for Ready {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let thorough = std::mem::replace(&mut self.woken, true) && self.reg.is_some();
        if self.probe.ready(self.armed, thorough) {
            // Ready only by the thorough look: a peer found dead.
            if thorough && !self.probe.ready(self.armed, false) {
                crate::queue::note_death_seen();
            }
            self.unregister();
            return Poll::Ready(());
        }
        let Ok(registry) = registry() else {
            // No background thread can be started: say ready, and the
            // caller's `try_` call tells the truth.
            return Poll::Ready(());
        };
        let known = self.reg.is_some_and(|id| registry.update_waker(id, cx.waker()));
        if !known {
            let id = registry.add(Arc::clone(&self.probe), self.armed, Target::Waker(cx.waker().clone()));
            self.reg = Some(id);
        }
        // Ready between the look and the registration: the waiter may have
        // missed it (it looks only at what is registered).
        if self.probe.ready(self.armed, false) {
            self.unregister();
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[cfg(feature = "async")]
impl Drop for Ready {
    fn drop(&mut self) {
        self.unregister();
    }
}

#[cfg(feature = "async")]
impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready").field("registered", &self.reg.is_some()).finish_non_exhaustive()
    }
}

#[cfg(feature = "async")]
/// Waits, without blocking the thread, until `object` is ready. If no
/// probe can be made (an event, semaphore or mutex opened again by name
/// that is no longer linked), waits one poll interval instead, so that the
/// caller's `try_` call polls without spinning.
pub(crate) async fn until_ready<S: Source + ?Sized>(object: &S) {
    let probe = object.probe().unwrap_or_else(|_| Arc::new(Nap::new(crate::wait::POLL_MAX)));
    let armed = probe.arm();
    Ready { probe, armed, reg: None, woken: false }.await;
}

#[cfg(feature = "async")]
/// A source that becomes ready once a moment has passed: the background
/// waiter looks at it after each of its naps.
struct Nap {
    until: std::time::Instant,
    word: AtomicU32,
    sleepers: AtomicU32,
}

#[cfg(feature = "async")]
impl Nap {
    fn new(d: std::time::Duration) -> Nap {
        Nap { until: std::time::Instant::now() + d, word: AtomicU32::new(0), sleepers: AtomicU32::new(0) }
    }
}

#[cfg(feature = "async")]
impl Source for Nap {
    fn ready(&self, _armed: u32, _thorough: bool) -> bool {
        std::time::Instant::now() >= self.until
    }
    fn park(&self) -> Park<'_> {
        Park::Counted { word: &self.word, count: &self.sleepers, asym: false, wakes_one: false }
    }
    fn probe(&self) -> Result<Probe, Error> {
        Ok(Arc::new(Nap { until: self.until, word: AtomicU32::new(0), sleepers: AtomicU32::new(0) }))
    }
}

#[cfg(feature = "async")]
/// How long an async receive polls its `try_` call before it waits through
/// the background waiter. An answer that comes within it costs no thread
/// wake-up (about 5 µs otherwise); it is short because it holds the
/// executor's thread, and a wait that outlasts it spins no more.
const EAGER: std::time::Duration = std::time::Duration::from_micros(5);

#[cfg(feature = "async")]
/// The polling of an async call before it first waits: `again` says
/// whether to poll once more, for [`EAGER`] at most (never on one CPU,
/// where the peer could not run meanwhile).
struct Eager {
    started: Option<std::time::Instant>,
    calls: u32,
    spent: bool,
}

#[cfg(feature = "async")]
impl Eager {
    fn new() -> Eager {
        Eager { started: None, calls: 0, spent: !crate::wait::multi_cpu() }
    }

    #[inline]
    fn again(&mut self) -> bool {
        if self.spent {
            return false;
        }
        self.calls = self.calls.wrapping_add(1);
        if self.calls % 16 == 0 {
            let now = std::time::Instant::now();
            self.spent = now.duration_since(*self.started.get_or_insert(now)) >= EAGER;
        }
        std::hint::spin_loop();
        !self.spent
    }
}

#[cfg(feature = "async")]
/// `recv_async` of a receiving end: its `try_` call until it gives anything
/// but `$empty`, polling eagerly for a moment and waiting for readiness in
/// between. Ends that receive into a caller's buffer name their calls and
/// the buffer.
macro_rules! recv_async {
    ($(impl[$($gen:tt)*] $ty:ty, $self_:ident: $recv:ty,
        $name:ident / $try_name:ident ($($arg:ident: $arg_ty:ty),*) -> $out:ty, $err:ty,
        $empty:pat => $map:expr;)*) => {$(
        impl<$($gen)*> $ty {
            /// Receives the next message as an async call: waits without
            /// blocking the thread (on any executor), as the blocking form
            /// waits. Dropping the future before it completes receives
            /// nothing.
            ///
            /// # Errors
            /// As the blocking form.
            pub async fn $name(self: $recv, $($arg: $arg_ty),*) -> Result<$out, $err> {
                let $self_ = self;
                let mut eager = Eager::new();
                loop {
                    match $self_.$try_name($(&mut *$arg),*) {
                        Err($empty) => {}
                        other => return other.map_err($map),
                    }
                    if !eager.again() {
                        until_ready(&*$self_).await;
                    }
                }
            }
        }
    )*};
}

#[cfg(feature = "async")]
recv_async! {
    impl[T: crate::ShmType] crate::Subscriber<T>, s: &mut Self, recv_async / try_recv () -> T,
        crate::BroadcastRecvError, crate::BroadcastRecvError::Empty => |e| e;
    impl[] crate::ByteSubscriber, s: &mut Self, recv_async / try_recv () -> Vec<u8>,
        crate::BroadcastRecvError, crate::BroadcastRecvError::Empty => |e| e;
    impl[] crate::dynamic::DynSubscriber, s: &mut Self, recv_into_async / try_recv_into (out: &mut [u8]) -> (),
        crate::BroadcastRecvError, crate::BroadcastRecvError::Empty => |e| e;
    impl[T: crate::ShmType] crate::Receiver<T>, s: &Self, recv_async / try_recv () -> T,
        crate::RecvError, crate::TryRecvError::Empty => |_| crate::RecvError;
    impl[] crate::dynamic::DynReceiver, s: &Self, recv_async / try_recv (buf: &mut [u8]) -> (),
        crate::ByteRecvError, crate::ByteRecvError::Empty => |e| e;
    impl[] crate::MessageReceiver, s: &Self, recv_async / try_recv () -> Vec<u8>,
        crate::ByteRecvError, crate::ByteRecvError::Empty => |e| e;
    impl[] crate::ByteReceiver, s: &mut Self, recv_async / try_recv () -> Vec<u8>,
        crate::ByteRecvError, crate::ByteRecvError::Empty => |e| e;
    impl[] crate::Connection, s: &mut Self, recv_async / try_recv () -> Vec<u8>,
        crate::ByteRecvError, crate::ByteRecvError::Empty => |e| e;
}

#[cfg(feature = "async")]
impl crate::Event {
    /// Waits until the event is set (or set and cleared again), as an
    /// async call: as [`wait`](crate::Event::wait), without blocking the
    /// thread.
    ///
    /// # Errors
    /// The event is opened again by name for the background thread: the
    /// errors of its `open`.
    pub async fn wait_async(&self) -> Result<(), Error> {
        ready(self)?.await;
        Ok(())
    }
}

#[cfg(feature = "async")]
impl crate::Barrier {
    /// Arrives and waits until the generation completes, as an async call:
    /// as [`wait`](crate::Barrier::wait), without blocking the thread.
    /// Dropping the future before the wait ended breaks the generation for
    /// the other parties, as dropping a pending
    /// [`BarrierArrival`](crate::BarrierArrival) does (a party cannot take
    /// its arrival back), and as Python's `threading.Barrier` does when a
    /// wait is interrupted.
    ///
    /// # Errors
    /// As [`wait`](crate::Barrier::wait).
    pub async fn wait_async(&self) -> Result<crate::BarrierWaitResult, crate::BarrierError> {
        let mut arrival = self.arrive()?;
        loop {
            if let Some(done) = arrival.poll(std::time::Duration::ZERO)? {
                return Ok(done);
            }
            let Some(round) = arrival.round() else { continue };
            until_ready(&crate::sync::barrier::RoundOf { barrier: self, round }).await;
        }
    }
}

#[cfg(feature = "async")]
/// `acquire_async` of a semaphore.
macro_rules! acquire_async {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// Takes a permit as an async call: waits without blocking the
            /// thread, as `acquire` waits.
            ///
            /// # Errors
            /// The semaphore is opened again by name for the background
            /// thread: the errors of its `open`.
            pub async fn acquire_async(&self) -> Result<(), Error> {
                loop {
                    if self.try_acquire() {
                        return Ok(());
                    }
                    ready(self)?.await;
                }
            }
        }
    )*};
}

#[cfg(feature = "async")]
acquire_async!(crate::Semaphore, crate::BoundedSemaphore);

#[cfg(feature = "async")]
impl<T: crate::ShmType> crate::Sender<T> {
    /// Sends `value` as an async call: waits for room without blocking the
    /// thread, as `send` waits. Dropping the future before it completes
    /// sends nothing.
    ///
    /// # Errors
    /// [`SendError::Disconnected`](crate::SendError) with the value if every
    /// receiver is gone.
    pub async fn send_async(&self, value: T) -> Result<(), crate::SendError<T>> {
        loop {
            match self.try_send(value) {
                Ok(()) => return Ok(()),
                Err(crate::TrySendError::Disconnected(v)) => return Err(crate::SendError::Disconnected(v)),
                Err(crate::TrySendError::Full(_)) => until_ready(self).await,
            }
        }
    }
}

#[cfg(feature = "async")]
/// `send_async` of a sender of copied bytes whose readiness is its own.
macro_rules! copy_send_async {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// Sends a copy of `msg` as an async call: waits for room
            /// without blocking the thread, as `send` waits. Dropping the
            /// future before it completes sends nothing.
            ///
            /// # Errors
            /// As `send`.
            pub async fn send_async(&self, msg: &[u8]) -> Result<(), crate::ByteSendError> {
                loop {
                    match self.try_send(msg) {
                        Err(crate::ByteSendError::Full) => until_ready(self).await,
                        other => return other,
                    }
                }
            }
        }
    )*};
}

#[cfg(feature = "async")]
copy_send_async!(crate::MessageSender, crate::dynamic::DynSender);

#[cfg(feature = "async")]
/// `send_async` of an end that writes a byte ring: its `try_send` until it
/// gives anything but `Full`, waiting for room in between.
macro_rules! byte_send_async {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// Sends a copy of `msg` as an async call: waits for room
            /// without blocking the thread, as `send` waits. Dropping the
            /// future before it completes sends nothing.
            ///
            /// # Errors
            /// As `send`.
            pub async fn send_async(&mut self, msg: &[u8]) -> Result<(), crate::ByteSendError> {
                loop {
                    match self.try_send(msg) {
                        Err(crate::ByteSendError::Full) => {
                            until_ready(&crate::queue::ready::RoomProbe::new(self.send_ring_parts(), msg.len())).await
                        }
                        other => return other,
                    }
                }
            }
        }
    )*};
}

#[cfg(feature = "async")]
byte_send_async!(crate::ByteSender, crate::Connection);

#[cfg(feature = "async")]
impl<T: crate::ShmType> crate::Mutex<T> {
    /// Locks as an async call: waits without blocking the thread, as `lock`
    /// waits (a dead holder's lock is taken over, with `OwnerDied`).
    /// Dropping the future before it completes leaves the lock as it was.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`](crate::LockError) with the guard, as `lock`.
    pub async fn lock_async(&self) -> crate::LockResult<crate::MutexGuard<'_, T>> {
        loop {
            match self.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(crate::TryLockError::OwnerDied(guard)) => return Err(crate::LockError::OwnerDied(guard)),
                Err(_) => until_ready(self).await,
            }
        }
    }
}
