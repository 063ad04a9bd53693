//! [`Segment<T>`]: a named segment holding a user's own `#[repr(C)]` state.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic;

use super::header::{Fingerprint, ObjectKind};
use super::{OpenOptions, RawSegment, Spec};
use crate::error::Error;

/// Types that may be placed in a segment and used through `&T` by many
/// processes at once.
///
/// # Safety
/// Implement it only for a `#[repr(C)]` (or `#[repr(transparent)]`) type
/// such that:
/// - every bit pattern is a valid value: another process, or a corrupted
///   file, may have written anything;
/// - it holds no pointers, references or file descriptors: addresses and
///   descriptors mean nothing in another process;
/// - every change made through `&T` goes through atomics or shmkit's raw
///   states (such as [`MutexCell`](crate::MutexCell));
/// - it has no `Drop` glue (state outlives every process).
///
/// A struct whose fields are all `ShmSafe` meets this if it is `#[repr(C)]`.
pub unsafe trait ShmSafe: Sync + 'static {}

macro_rules! shm_safe {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: plain integers, floats and their atomics accept every bit
        // pattern, hold no pointers and have no drop glue.
        unsafe impl ShmSafe for $t {}
    )* };
}

shm_safe!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);
shm_safe!(
    atomic::AtomicU8,
    atomic::AtomicU16,
    atomic::AtomicU32,
    atomic::AtomicU64,
    atomic::AtomicI8,
    atomic::AtomicI16,
    atomic::AtomicI32,
    atomic::AtomicI64,
);
// SAFETY: an array of ShmSafe elements has no padding between them and meets
// every requirement its elements meet.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}

/// A named segment holding one `T` of the user's own layout, shared by
/// processes that attach to it by name.
///
/// Read it through `Deref` (`&T`); change it through the atomics and shmkit
/// raw states inside `T`, such as [`MutexCell`](crate::MutexCell), whose
/// lock methods take this segment for their liveness checks.
///
/// ```
/// use shmkit::Segment;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// # let name = format!("doc-seg-{}", std::process::id());
/// let seg = Segment::create(&name, [AtomicU64::new(0), AtomicU64::new(7)])?;
/// let other = Segment::<[AtomicU64; 2]>::open(&name)?;
/// other[0].fetch_add(1, Ordering::Relaxed);
/// assert_eq!(seg[0].load(Ordering::Relaxed), 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Segment<T: ShmSafe> {
    raw: RawSegment,
    _marker: PhantomData<T>,
}

impl<T: ShmSafe> Segment<T> {
    fn spec() -> Spec {
        Self::spec_of(ObjectKind::Raw)
    }

    fn spec_of(kind: ObjectKind) -> Spec {
        Spec::new(kind, Fingerprint::of::<T>(1), std::mem::size_of::<T>(), std::mem::align_of::<T>())
    }

    /// Creates `name` holding `init` as an object of `kind`: the handle core
    /// of the objects whose whole state is one `T` (Event, Condvar, …).
    pub(crate) fn create_kind(kind: ObjectKind, name: &str, init: T, opts: &OpenOptions) -> Result<Self, Error> {
        RawSegment::create(name, &Self::spec_of(kind), opts, Self::writer(init)).map(Self::wrap)
    }

    /// Opens `name`, which must hold a `T` as an object of `kind`.
    pub(crate) fn open_kind(kind: ObjectKind, name: &str, opts: &OpenOptions) -> Result<Self, Error> {
        RawSegment::open(name, &Self::spec_of(kind), opts).map(Self::wrap)
    }

    /// Opens `name` as an object of `kind`, or creates it with `init()`.
    pub(crate) fn open_or_create_kind(
        kind: ObjectKind,
        name: &str,
        init: impl Fn() -> T,
        opts: &OpenOptions,
    ) -> Result<Self, Error> {
        RawSegment::open_or_create(name, &Self::spec_of(kind), opts, |p| Self::writer(init())(p)).map(Self::wrap)
    }

    fn writer(init: T) -> impl FnOnce(*mut u8) {
        const { assert!(!std::mem::needs_drop::<T>(), "ShmSafe types must not need Drop") };
        move |p| {
            // SAFETY: RawSegment::create hands us writable memory of
            // size_of::<T>() bytes aligned for T, seen by nobody else yet.
            unsafe { p.cast::<T>().write(init) }
        }
    }

    fn wrap(raw: RawSegment) -> Self {
        Segment { raw, _marker: PhantomData }
    }

    /// Creates the segment `name` holding `init`. Exclusive: fails if the
    /// name exists.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`], or an OS error.
    pub fn create(name: &str, init: T) -> Result<Self, Error> {
        Self::create_with(name, init, &OpenOptions::default())
    }

    /// [`Segment::create`] with options.
    ///
    /// # Errors
    /// As [`Segment::create`].
    pub fn create_with(name: &str, init: T, opts: &OpenOptions) -> Result<Self, Error> {
        RawSegment::create(name, &Self::spec(), opts, Self::writer(init)).map(Self::wrap)
    }

    /// Opens the existing segment `name`, which must hold a `T`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::WrongKind`], [`Error::WrongType`], and
    /// the other open checks.
    pub fn open(name: &str) -> Result<Self, Error> {
        Self::open_with(name, &OpenOptions::default())
    }

    /// [`Segment::open`] with options.
    ///
    /// # Errors
    /// As [`Segment::open`].
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, Error> {
        RawSegment::open(name, &Self::spec(), opts).map(Self::wrap)
    }

    /// Opens `name`, or creates it with `init()`: safe when processes race.
    /// `init` may run in a process that then loses the race (its copy is
    /// discarded), so it should only build the value.
    ///
    /// # Errors
    /// As [`Segment::open`] and [`Segment::create`].
    pub fn open_or_create(name: &str, init: impl Fn() -> T) -> Result<Self, Error> {
        let spec = Self::spec();
        RawSegment::open_or_create(name, &spec, &OpenOptions::default(), |p| Self::writer(init())(p)).map(Self::wrap)
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.raw.name()
    }

    /// Keeps the name after this (creating) handle is dropped.
    pub fn persist(&self) {
        self.raw.persist();
    }

    pub(crate) fn raw(&self) -> &RawSegment {
        &self.raw
    }
}

impl<T: ShmSafe> Deref for Segment<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the data region holds a T (checked kind, fingerprint and
        // size at open; written at create), aligned as T needs, and lives as
        // long as the mapping; T: ShmSafe makes shared `&T` access sound.
        unsafe { &*self.raw.data_ptr().cast::<T>() }
    }
}

impl<T: ShmSafe> fmt::Debug for Segment<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment").field("name", &self.name()).finish_non_exhaustive()
    }
}
