//! [`Semaphore`] and [`BoundedSemaphore`]: counting semaphores shared by name
//! between processes, and the embeddable [`SemaphoreCell`].
//!
//! The shared state and its waking protocol are documented in `raw.rs`
//! (the state table of [`SemaphoreCell`] and the owned table).
//!
//! # When a process dies
//! A plain semaphore has no owners, as in Python: any process may release,
//! and a permit is just a number. The permits a process had acquired when
//! it died are therefore **lost**: the count stays lower for good unless
//! some process releases on its behalf.
//!
//! An *owned* semaphore ([`Semaphore::create_owned`]) records each acquired
//! permit against the acquiring handle's liveness token. A handle may only
//! release permits it holds, and the permits of a handle that is known dead
//! (or closed) are returned to the count by whichever acquirer notices: a
//! blocked acquirer checks before it sleeps and every few milliseconds
//! while it sleeps. Dropping an owned handle returns what it holds.

mod raw;

use raw::{MAX_OWNED_PERMITS, MAX_PERMITS};
pub use raw::{ReleaseError, SemaphoreCell};

use std::fmt;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::primitive::AtomicU32;
use crate::segment::header::{Fingerprint, ObjectKind};
use crate::segment::registry::MAX_SLOTS;
use crate::segment::{OpenOptions, RawSegment, Spec};
use crate::sync::raw_mutex::RawMutex;
use crate::wait::{Deadline, WaitStrategy};
use raw::{BOUNDED, OWNED, Owners};

/// Bytes of a semaphore segment's state: the cell, the owned-mode lock and
/// the owned table (a word for every possible registry slot).
const STATE_SIZE: usize = std::mem::size_of::<SemaphoreCell>()
    + std::mem::size_of::<RawMutex>()
    + MAX_SLOTS as usize * std::mem::size_of::<u32>();

/// A semaphore segment: the cell, then one owned-table word per registry
/// slot. The common core of [`Semaphore`] and [`BoundedSemaphore`].
struct Core {
    seg: RawSegment,
    cell: NonNull<SemaphoreCell>,
    owned: bool,
    strategy: WaitStrategy,
}

// SAFETY: the handle owns its mapping; the state it points into is made of
// atomics designed for concurrent access from any thread of any process.
unsafe impl Send for Core {}
// SAFETY: as above; the handle's own fields are not mutated through `&self`.
unsafe impl Sync for Core {}

impl Core {
    /// The owned table has a word for every possible registry slot, so the
    /// layout does not depend on the segment's slot count.
    fn spec(kind: ObjectKind) -> Spec {
        Spec::new(kind, Fingerprint::of::<SemaphoreCell>(1), STATE_SIZE, 64)
    }

    fn check_initial(initial: u32, owned: bool) -> Result<(), Error> {
        let max = if owned { MAX_OWNED_PERMITS } else { MAX_PERMITS };
        if initial > max {
            return Err(Error::InvalidArgument(format!(
                "{initial} permits; a semaphore of this kind holds at most {max}"
            )));
        }
        Ok(())
    }

    fn init(initial: u32, flags: u32) -> impl FnMut(*mut u8) {
        // Owned mode is bounded by its total (see the owned table docs).
        let flags = if flags & OWNED != 0 { flags | BOUNDED } else { flags };
        let bound = if flags & BOUNDED != 0 { initial } else { 0 };
        move |p| {
            // SAFETY: RawSegment::create hands us zeroed, writable memory of
            // the spec's size, 64-aligned, not yet visible to others. The
            // lock and table after the cell stay zero: unlocked, nobody
            // holds anything.
            unsafe { p.cast::<SemaphoreCell>().write(SemaphoreCell::with_flags(initial, flags, bound)) }
        }
    }

    fn wrap(seg: RawSegment) -> Result<Self, Error> {
        if seg.data_len() < STATE_SIZE {
            return Err(Error::Corrupt { name: seg.name().to_owned(), reason: "semaphore state too small".into() });
        }
        // SAFETY: data_ptr points into a live mapping, so it is not null.
        let cell = unsafe { NonNull::new_unchecked(seg.data_ptr().cast::<SemaphoreCell>()) };
        let mut core = Core { seg, cell, owned: false, strategy: WaitStrategy::Adaptive };
        core.owned = core.cell().flags() & OWNED != 0;
        Ok(core)
    }

    fn create(kind: ObjectKind, name: &str, initial: u32, flags: u32, opts: &OpenOptions) -> Result<Self, Error> {
        Self::check_initial(initial, flags & OWNED != 0)?;
        RawSegment::create(name, &Self::spec(kind), opts, Self::init(initial, flags)).and_then(Self::wrap)
    }

    fn open(kind: ObjectKind, name: &str, opts: &OpenOptions) -> Result<Self, Error> {
        RawSegment::open(name, &Self::spec(kind), opts).and_then(Self::wrap)
    }

    fn open_or_create(kind: ObjectKind, name: &str, initial: u32, flags: u32) -> Result<Self, Error> {
        Self::check_initial(initial, flags & OWNED != 0)?;
        RawSegment::open_or_create(name, &Self::spec(kind), &OpenOptions::default(), Self::init(initial, flags))
            .and_then(Self::wrap)
    }

    fn cell(&self) -> &SemaphoreCell {
        // SAFETY: the cell lies at the start of the data region of our
        // mapping (checked size), which lives as long as `self`.
        unsafe { self.cell.as_ref() }
    }

    fn owners(&self) -> Owners<'_> {
        let base = self.cell.as_ptr().cast_const();
        // SAFETY: the lock word follows the 16-byte cell and MAX_SLOTS table
        // words follow it, all inside the data region (STATE_SIZE checked
        // in `wrap`), 4-aligned, only accessed atomically (any bit pattern
        // is a valid state of each), living as long as the mapping.
        unsafe {
            let lock = &*base.add(1).cast::<RawMutex>();
            let words = std::slice::from_raw_parts(
                base.add(1).cast::<RawMutex>().add(1).cast::<AtomicU32>(),
                MAX_SLOTS as usize,
            );
            Owners { lock, words }
        }
    }

    fn acquire_until(&self, deadline: Deadline) -> bool {
        if self.owned {
            self.owners().acquire(self.cell(), &self.seg, deadline, self.strategy)
        } else {
            self.cell().acquire_until(deadline, self.strategy)
        }
    }

    fn acquire(&self) {
        // Without a deadline the acquire only returns with a permit.
        while !self.acquire_until(Deadline::Never) {}
    }

    fn release_n(&self, n: u32) -> Result<(), ReleaseError> {
        if self.owned {
            self.owners().release(self.cell(), &self.seg, n, self.strategy)
        } else {
            self.cell().add(n, false)
        }
    }

    fn held(&self) -> u32 {
        if self.owned { self.owners().held_by(&self.seg) } else { 0 }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        if self.owned {
            self.owners().release_all(self.cell(), &self.seg);
        }
    }
}

macro_rules! common_api {
    ($ty:ident, $kind:expr) => {
        impl $ty {
            /// Opens the existing semaphore `name`.
            ///
            /// # Errors
            /// [`Error::NotFound`], [`Error::WrongKind`] if it holds
            /// something else, and the other open checks.
            pub fn open(name: &str) -> Result<Self, Error> {
                Self::open_with(name, &OpenOptions::default())
            }

            /// Opens with options.
            ///
            /// # Errors
            /// As `open`.
            pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, Error> {
                Core::open($kind, name, opts).map($ty)
            }

            /// Sets how this handle waits for a permit.
            pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
                self.0.strategy = strategy;
                self
            }

            /// The segment name.
            pub fn name(&self) -> &str {
                self.0.seg.name()
            }

            /// Keeps the name after this (creating) handle is dropped.
            pub fn persist(&self) {
                self.0.seg.persist();
            }

            /// Takes a permit, blocking until one is available.
            pub fn acquire(&self) {
                self.0.acquire();
            }

            /// Takes a permit if one is available now. In owned mode this
            /// first returns the permits of holders known dead.
            pub fn try_acquire(&self) -> bool {
                self.0.acquire_until(Deadline::Now)
            }

            /// Takes a permit, waiting at most `timeout`; `false` if none
            /// came in time.
            pub fn acquire_timeout(&self, timeout: Duration) -> bool {
                self.0.acquire_until(Deadline::after(timeout))
            }

            /// Takes a permit, waiting until `deadline` at most; `false` if
            /// none came in time.
            pub fn acquire_deadline(&self, deadline: Instant) -> bool {
                self.0.acquire_until(Deadline::At(deadline))
            }

            /// Returns one permit, waking one sleeper if any (no syscall
            /// when nobody sleeps).
            ///
            /// # Errors
            /// [`ReleaseError::Full`] past the bound; in owned mode
            /// [`ReleaseError::NotHeld`] if this handle holds no permit.
            /// The count is unchanged on error.
            pub fn release(&self) -> Result<(), ReleaseError> {
                self.0.release_n(1)
            }

            /// Returns `n` permits at once, waking at most `n` sleepers. All
            /// or nothing.
            ///
            /// # Errors
            /// As `release`.
            pub fn release_n(&self, n: u32) -> Result<(), ReleaseError> {
                self.0.release_n(n)
            }

            /// Permits available now (a snapshot).
            pub fn value(&self) -> u32 {
                self.0.cell().value()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("name", &self.name())
                    .field("value", &self.value())
                    .finish_non_exhaustive()
            }
        }
    };
}

/// A counting semaphore shared by name between processes (Python's
/// `multiprocessing.Semaphore`).
///
/// `acquire` takes a permit, waiting while there is none; `release` puts one
/// back. Uncontended, both are one atomic instruction; a release makes a
/// wake syscall only when someone sleeps, and wakes at most as many
/// sleepers as permits it makes. Blocked acquirers spin briefly, then sleep
/// on a futex in the segment ([`WaitStrategy`]).
///
/// # When a process dies
/// A plain semaphore (from [`Semaphore::create`]) has no owners, as in
/// Python: any process may release, and a permit is just a number. The
/// permits a process had acquired when it died are therefore **lost**: the
/// count stays lower for good, unless some process releases on its behalf.
///
/// An *owned* semaphore ([`Semaphore::create_owned`]) records each permit
/// against the handle that acquired it. Only that handle may release it
/// ([`ReleaseError::NotHeld`] otherwise), and the permits of a handle known
/// dead (killed, exited, or dropped) are returned to the count by whichever
/// acquirer notices: a blocked acquirer checks before it sleeps and every
/// 1–16 ms while it sleeps, and `try_acquire` checks too. A process killed
/// at any point of an acquire or release neither loses nor creates a
/// permit. The price: each owned acquire and release also takes a short
/// robust lock (uncontended, an owned acquire+release costs three to four
/// times a plain one: tens of nanoseconds, no syscall).
///
/// The handle is `Send` and `Sync`. In owned mode, threads sharing one
/// handle share its held permits.
///
/// ```
/// use shmkit::Semaphore;
/// use std::time::Duration;
/// # let name = format!("doc-sem-{}", std::process::id());
/// let sem = Semaphore::create(&name, 2)?;     // in one process
/// let other = Semaphore::open(&name)?;        // in another
/// other.acquire();
/// assert!(sem.try_acquire());
/// assert!(!sem.acquire_timeout(Duration::from_millis(1)));
/// other.release().unwrap();
/// assert_eq!(sem.value(), 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Semaphore(Core);

impl Semaphore {
    /// Most permits a semaphore may count (glibc's `SEM_VALUE_MAX`).
    pub const MAX_PERMITS: u32 = MAX_PERMITS;
    /// Most permits an owned semaphore may have (they must fit an entry of
    /// its owned table).
    pub const MAX_OWNED_PERMITS: u32 = MAX_OWNED_PERMITS;

    /// Creates the semaphore `name` with `initial` permits. Exclusive.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`],
    /// [`Error::InvalidArgument`] past [`Semaphore::MAX_PERMITS`], or an OS error.
    pub fn create(name: &str, initial: u32) -> Result<Self, Error> {
        Self::create_with(name, initial, &OpenOptions::default())
    }

    /// [`Semaphore::create`] with options.
    ///
    /// # Errors
    /// As [`Semaphore::create`].
    pub fn create_with(name: &str, initial: u32, opts: &OpenOptions) -> Result<Self, Error> {
        Core::create(ObjectKind::Semaphore, name, initial, 0, opts).map(Semaphore)
    }

    /// Creates an *owned* semaphore: each permit is recorded against the
    /// handle that acquired it, only that handle may release it, and the
    /// permits of a handle that died (or was dropped) return to the count.
    /// At most [`Semaphore::MAX_OWNED_PERMITS`] permits; one holder per registry slot
    /// of the segment ([`OpenOptions::registry_slots`]).
    ///
    /// ```
    /// use shmkit::{ReleaseError, Semaphore};
    /// # let name = format!("doc-owned-{}", std::process::id());
    /// let sem = Semaphore::create_owned(&name, 1)?;
    /// let other = Semaphore::open(&name)?;
    /// other.acquire();
    /// assert_eq!(sem.release(), Err(ReleaseError::NotHeld));
    /// drop(other); // its permit comes back
    /// assert_eq!(sem.value(), 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Semaphore::create`]; [`Error::InvalidArgument`] past
    /// [`Semaphore::MAX_OWNED_PERMITS`].
    pub fn create_owned(name: &str, initial: u32) -> Result<Self, Error> {
        Self::create_owned_with(name, initial, &OpenOptions::default())
    }

    /// [`Semaphore::create_owned`] with options.
    ///
    /// # Errors
    /// As [`Semaphore::create_owned`].
    pub fn create_owned_with(name: &str, initial: u32, opts: &OpenOptions) -> Result<Self, Error> {
        Core::create(ObjectKind::Semaphore, name, initial, OWNED, opts).map(Semaphore)
    }

    /// Opens `name`, or creates it (plain) with `initial` permits: safe when
    /// processes race. An existing owned semaphore opens as owned.
    ///
    /// # Errors
    /// As [`Semaphore::open`] and [`Semaphore::create`].
    pub fn open_or_create(name: &str, initial: u32) -> Result<Self, Error> {
        Core::open_or_create(ObjectKind::Semaphore, name, initial, 0).map(Semaphore)
    }

    /// Whether this is an owned semaphore.
    pub fn is_owned(&self) -> bool {
        self.0.owned
    }

    /// Owned mode: how many permits this handle holds (0 in plain mode).
    pub fn held(&self) -> u32 {
        self.0.held()
    }
}

common_api!(Semaphore, ObjectKind::Semaphore);

/// A semaphore whose count may not exceed its initial value (Python's
/// `multiprocessing.BoundedSemaphore`): a release past it is refused with
/// [`ReleaseError::Full`], atomically (one CAS, no check-then-post race),
/// and the count is left unchanged.
///
/// The permits of a process that dies holding them are lost, as for a
/// plain [`Semaphore`]. The handle is `Send` and `Sync`.
///
/// ```
/// use shmkit::{BoundedSemaphore, ReleaseError};
/// # let name = format!("doc-bsem-{}", std::process::id());
/// let sem = BoundedSemaphore::create(&name, 1)?;
/// assert_eq!(sem.release(), Err(ReleaseError::Full));
/// sem.acquire();
/// sem.release().unwrap();
/// assert_eq!(sem.value(), 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct BoundedSemaphore(Core);

impl BoundedSemaphore {
    /// Creates the semaphore `name` with `initial` permits, which is also
    /// its bound. Exclusive.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`],
    /// [`Error::InvalidArgument`] past [`Semaphore::MAX_PERMITS`], or an OS error.
    pub fn create(name: &str, initial: u32) -> Result<Self, Error> {
        Self::create_with(name, initial, &OpenOptions::default())
    }

    /// [`BoundedSemaphore::create`] with options.
    ///
    /// # Errors
    /// As [`BoundedSemaphore::create`].
    pub fn create_with(name: &str, initial: u32, opts: &OpenOptions) -> Result<Self, Error> {
        Core::create(ObjectKind::BoundedSemaphore, name, initial, BOUNDED, opts).map(BoundedSemaphore)
    }

    /// Opens `name`, or creates it with `initial` permits (and bound).
    ///
    /// # Errors
    /// As [`BoundedSemaphore::open`] and [`BoundedSemaphore::create`].
    pub fn open_or_create(name: &str, initial: u32) -> Result<Self, Error> {
        Core::open_or_create(ObjectKind::BoundedSemaphore, name, initial, BOUNDED).map(BoundedSemaphore)
    }

    /// Most permits a semaphore may count (glibc's `SEM_VALUE_MAX`).
    pub const MAX_PERMITS: u32 = MAX_PERMITS;

    /// The bound: the most permits the count may hold.
    pub fn bound(&self) -> u32 {
        self.0.cell().bound().unwrap_or(MAX_PERMITS)
    }
}

common_api!(BoundedSemaphore, ObjectKind::BoundedSemaphore);
