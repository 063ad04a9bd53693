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
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::handle::{Handle, SegmentState, StateLayout, handle_api};
use crate::primitive::AtomicU32;
use crate::segment::header::{Fingerprint, ObjectKind};
use crate::segment::registry::MAX_SLOTS;
use crate::segment::{OpenOptions, ShmSafe};
use crate::sync::raw_mutex::RawMutex;
use crate::wait::Deadline;
use raw::{BOUNDED, OWNED, Owners};

/// A semaphore segment's state: the cell, then the owned-mode lock and the
/// owned table, a word for every possible registry slot (so that the layout
/// does not depend on the segment's slot count). `K` says which object kind
/// it is stored as.
#[repr(C)]
pub(crate) struct SemaphoreState<K> {
    cell: SemaphoreCell,
    lock: RawMutex,
    owners: [AtomicU32; MAX_SLOTS as usize],
    _kind: PhantomData<K>,
}

// The format: the cell, the lock word, the table, packed (loom's atomics
// are larger).
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<SemaphoreState<Plain>>() == 16 + 4 + 4 * MAX_SLOTS as usize);

// SAFETY: repr(C) of 32-bit atomics only (the cell, the lock word, the
// table): every bit pattern is a valid state (see raw.rs), no pointers, no
// drop glue.
unsafe impl<K: Flavor> ShmSafe for SemaphoreState<K> {}

/// Which semaphore object a state is stored as.
pub(crate) trait Flavor: Send + Sync + 'static {
    /// Its kind.
    const KIND: ObjectKind;
    /// The flags it is created with.
    const FLAGS: u32;
}

/// A [`Semaphore`] (plain or owned).
pub(crate) enum Plain {}
/// A [`BoundedSemaphore`].
pub(crate) enum Bounded {}

impl Flavor for Plain {
    const KIND: ObjectKind = ObjectKind::Semaphore;
    const FLAGS: u32 = 0;
}

impl Flavor for Bounded {
    const KIND: ObjectKind = ObjectKind::BoundedSemaphore;
    const FLAGS: u32 = BOUNDED;
}

impl<K: Flavor> SegmentState for SemaphoreState<K> {
    const KINDS: &'static [ObjectKind] = &[K::KIND];
    /// Owned mode (kept in the state's flags).
    type Params = bool;
    /// The initial permits.
    type Init<'a> = u32;

    fn fingerprint(_owned: &bool) -> Fingerprint {
        Fingerprint::of::<SemaphoreCell>(1)
    }

    fn layout(_owned: &bool, _slots: u32) -> Result<StateLayout, Error> {
        Ok(StateLayout { size: std::mem::size_of::<Self>(), align: 64 })
    }

    fn check_init(&owned: &bool, &initial: &u32) -> Result<(), Error> {
        let max = if owned { MAX_OWNED_PERMITS } else { MAX_PERMITS };
        if initial > max {
            return Err(Error::InvalidArgument(format!(
                "{initial} permits; a semaphore of this kind holds at most {max}"
            )));
        }
        Ok(())
    }

    /// The lock and table stay zero: unlocked, nobody holds anything.
    fn init(&mut self, _tail: &mut [u8], &owned: &bool, _slots: u32, initial: u32) {
        // Owned mode is bounded by its total (see the owned table docs).
        let flags = if owned { K::FLAGS | OWNED | BOUNDED } else { K::FLAGS };
        let bound = if flags & BOUNDED != 0 { initial } else { 0 };
        self.cell = SemaphoreCell::with_flags(initial, flags, bound);
    }

    fn check_opened(&self, _name: &str, owned: &mut bool) -> Result<(), Error> {
        *owned = self.cell.flags() & OWNED != 0;
        Ok(())
    }
}

impl<K: Flavor> Handle<SemaphoreState<K>> {
    #[inline]
    fn owned(&self) -> bool {
        *self.params()
    }

    fn owners(&self) -> Owners<'_> {
        let state = self.state();
        Owners { lock: &state.lock, words: &state.owners }
    }

    /// Plain mode inlines into the caller; owned mode, with its table, is
    /// a call of its own, so that the plain path stays small.
    #[inline]
    fn acquire_until(&self, deadline: Deadline) -> bool {
        if self.owned() {
            self.acquire_owned(deadline)
        } else {
            self.state().cell.acquire_until(deadline, self.strategy())
        }
    }

    #[inline(never)]
    fn acquire_owned(&self, deadline: Deadline) -> bool {
        self.owners().acquire(&self.state().cell, self.segment(), deadline, self.strategy())
    }

    /// As [`Handle::acquire_until`]: the owned mode is a call of its own.
    #[inline]
    fn release_n(&self, n: u32) -> Result<(), ReleaseError> {
        if self.owned() { self.release_owned(n) } else { self.state().cell.add(n, false) }
    }

    #[inline(never)]
    fn release_owned(&self, n: u32) -> Result<(), ReleaseError> {
        self.owners().release(&self.state().cell, self.segment(), n, self.strategy())
    }

    fn held(&self) -> u32 {
        if self.owned() { self.owners().held_by(self.segment()) } else { 0 }
    }

    /// Returns what this handle holds in owned mode. A forked child that
    /// cannot register holds nothing (its parent's permits are its
    /// parent's), and does not wait to find that out.
    fn close(&self) {
        if self.owned() && self.segment().try_registration().is_ok() {
            self.owners().release_all(&self.state().cell, self.segment());
        }
    }
}

macro_rules! common_api {
    ($ty:ident, $what:literal) => {
        handle_api! {
            impl[] $ty, "semaphore", $what;
            create(initial: u32) => (false, initial);
            open_or_create(initial: u32) => (false, initial);
            waits;
        }

        impl $ty {
            /// Takes a permit, blocking until one is available.
            #[inline]
            pub fn acquire(&self) {
                // Without a deadline the acquire only returns with a permit.
                while !self.0.acquire_until(Deadline::Never) {}
            }

            /// Takes a permit if one is available now. In owned mode this
            /// first returns the permits of holders known dead.
            #[inline]
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
            #[inline]
            pub fn release(&self) -> Result<(), ReleaseError> {
                self.0.release_n(1)
            }

            /// Returns `n` permits at once, waking at most `n` sleepers. All
            /// or nothing.
            ///
            /// # Errors
            /// As `release`.
            #[inline]
            pub fn release_n(&self, n: u32) -> Result<(), ReleaseError> {
                self.0.release_n(n)
            }

            /// Permits available now (a snapshot).
            pub fn value(&self) -> u32 {
                self.0.state().cell.value()
            }
        }

        impl Drop for $ty {
            fn drop(&mut self) {
                self.0.close();
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
/// on a futex in the segment ([`WaitStrategy`](crate::WaitStrategy)).
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
pub struct Semaphore(Handle<SemaphoreState<Plain>>);

impl Semaphore {
    /// Most permits a semaphore may count (glibc's `SEM_VALUE_MAX`).
    pub const MAX_PERMITS: u32 = MAX_PERMITS;
    /// Most permits an owned semaphore may have (they must fit an entry of
    /// its owned table).
    pub const MAX_OWNED_PERMITS: u32 = MAX_OWNED_PERMITS;

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
        Handle::create_with(name, true, initial, opts).map(Semaphore)
    }

    /// Whether this is an owned semaphore.
    pub fn is_owned(&self) -> bool {
        self.0.owned()
    }

    /// Owned mode: how many permits this handle holds (0 in plain mode).
    pub fn held(&self) -> u32 {
        self.0.held()
    }
}

common_api!(Semaphore, " with `initial` permits");

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
pub struct BoundedSemaphore(Handle<SemaphoreState<Bounded>>);

impl BoundedSemaphore {
    /// Most permits a semaphore may count (glibc's `SEM_VALUE_MAX`).
    pub const MAX_PERMITS: u32 = MAX_PERMITS;

    /// The bound: the most permits the count may hold.
    pub fn bound(&self) -> u32 {
        self.0.state().cell.bound().unwrap_or(MAX_PERMITS)
    }
}

common_api!(BoundedSemaphore, " with `initial` permits, which is also its bound");

/// A free permit makes a semaphore ready (an owned semaphore's permits of
/// dead holders come back only through an acquire).
macro_rules! select_semaphore {
    ($($ty:ty),*) => {$(
        impl crate::select::sealed::Source for $ty {
            fn ready(&self, _armed: u32, _thorough: bool) -> bool {
                self.0.state().cell.select_parts().0
            }
            fn park(&self) -> crate::select::sealed::Park<'_> {
                self.0.state().cell.select_parts().1
            }
            /// The semaphore opened again by name.
            fn probe(&self) -> Result<std::sync::Arc<dyn crate::select::sealed::Source + Send + Sync>, Error> {
                Ok(std::sync::Arc::new(<$ty>::open(self.name())?))
            }
        }
    )*};
}
select_semaphore!(Semaphore, BoundedSemaphore);
