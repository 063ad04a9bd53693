//! [`Atomic<T>`]: a lock-free integer shared by name.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic;

use crate::error::Error;
use crate::segment::header::{Fingerprint, ObjectKind};
use crate::segment::{OpenOptions, RawSegment, ShmSafe, Spec};

mod sealed {
    pub trait Sealed {}
}

/// Integers that have a lock-free atomic form usable in shared memory.
pub trait AtomicInt: sealed::Sealed + Copy + 'static {
    /// The std atomic type (`AtomicU64` for `u64`, …).
    type Atomic: ShmSafe;
    /// A new atomic holding `v`.
    fn new_atomic(v: Self) -> Self::Atomic;
}

macro_rules! atomic_int {
    ($($t:ty => $a:ty),* $(,)?) => { $(
        impl sealed::Sealed for $t {}
        impl AtomicInt for $t {
            type Atomic = $a;
            fn new_atomic(v: Self) -> $a {
                <$a>::new(v)
            }
        }
    )* };
}

atomic_int!(
    u32 => atomic::AtomicU32,
    i32 => atomic::AtomicI32,
    u64 => atomic::AtomicU64,
    i64 => atomic::AtomicI64,
);

/// An integer shared by name between processes and updated lock-free.
///
/// It derefs to the std atomic (`AtomicU64` for `Atomic<u64>`), so the whole
/// std API is there: `load`, `store`, `fetch_add`, `compare_exchange`, ….
/// The operations are the CPU's own atomic instructions on the shared word,
/// with no lock and no syscall.
///
/// ```
/// use shmkit::Atomic;
/// use std::sync::atomic::Ordering;
/// # let name = format!("doc-atomic-{}", std::process::id());
/// let hits = Atomic::<u64>::create(&name, 0)?;
/// let other = Atomic::<u64>::open(&name)?;
/// other.fetch_add(3, Ordering::Relaxed);
/// assert_eq!(hits.compare_exchange(3, 10, Ordering::AcqRel, Ordering::Acquire), Ok(3));
/// assert_eq!(other.load(Ordering::Acquire), 10);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Atomic<T: AtomicInt> {
    seg: RawSegment,
    _marker: PhantomData<T>,
}

impl<T: AtomicInt> Atomic<T> {
    fn spec() -> Spec {
        Spec::new(
            ObjectKind::Atomic,
            Fingerprint::of::<T>(1),
            std::mem::size_of::<T::Atomic>(),
            std::mem::align_of::<T::Atomic>(),
        )
    }

    fn init(value: T) -> impl FnMut(*mut u8) {
        move |p| {
            // SAFETY: RawSegment::create hands us writable memory sized and
            // aligned for T::Atomic, seen by nobody else yet.
            unsafe { p.cast::<T::Atomic>().write(T::new_atomic(value)) }
        }
    }

    fn wrap(seg: RawSegment) -> Self {
        Atomic { seg, _marker: PhantomData }
    }

    /// Creates the atomic `name` holding `init`. Exclusive.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`], or an OS error.
    pub fn create(name: &str, init: T) -> Result<Self, Error> {
        Self::create_with(name, init, &OpenOptions::default())
    }

    /// [`Atomic::create`] with options.
    ///
    /// # Errors
    /// As [`Atomic::create`].
    pub fn create_with(name: &str, init: T, opts: &OpenOptions) -> Result<Self, Error> {
        RawSegment::create(name, &Self::spec(), opts, Self::init(init)).map(Self::wrap)
    }

    /// Opens the existing atomic `name`, which must hold a `T`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::WrongKind`], [`Error::WrongType`], and
    /// the other open checks.
    pub fn open(name: &str) -> Result<Self, Error> {
        Self::open_with(name, &OpenOptions::default())
    }

    /// [`Atomic::open`] with options.
    ///
    /// # Errors
    /// As [`Atomic::open`].
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, Error> {
        RawSegment::open(name, &Self::spec(), opts).map(Self::wrap)
    }

    /// Opens `name`, or creates it holding `init`: safe when processes race.
    ///
    /// # Errors
    /// As [`Atomic::open`] and [`Atomic::create`].
    pub fn open_or_create(name: &str, init: T) -> Result<Self, Error> {
        RawSegment::open_or_create(name, &Self::spec(), &OpenOptions::default(), Self::init(init)).map(Self::wrap)
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.seg.name()
    }

    /// Keeps the name after this (creating) handle is dropped.
    pub fn persist(&self) {
        self.seg.persist();
    }
}

impl<T: AtomicInt> Deref for Atomic<T> {
    type Target = T::Atomic;
    fn deref(&self) -> &T::Atomic {
        // SAFETY: the data region holds a T::Atomic (kind, fingerprint and
        // size checked at open; written at create), suitably aligned, living
        // as long as the mapping; atomics are made for shared `&` access.
        unsafe { &*self.seg.data_ptr().cast::<T::Atomic>() }
    }
}

impl<T: AtomicInt> fmt::Debug for Atomic<T>
where
    T::Atomic: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Atomic").field("name", &self.name()).field("value", &**self).finish()
    }
}
