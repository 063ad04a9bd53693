//! [`Segment<T>`]: a named segment holding a user's own `#[repr(C)]` state.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic;

use super::RawSegment;
use crate::handle::{Handle, handle_api, simple_state};
use crate::shm_type::ShmLayout;

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
/// To place it with [`Segment`], describe its layout too:
/// `#[derive(ShmType)]` implements [`ShmLayout`] for it.
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
/// `T` is [`ShmSafe`] (safe to share) and [`ShmLayout`] (its layout is
/// described, so that an opener with another layout is refused, naming the
/// first field that differs): `#[repr(C)]` with `#[derive(ShmType)]`, and
/// `ShmSafe` implemented for it (an `unsafe` trait: see its contract).
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
pub struct Segment<T: ShmSafe + ShmLayout>(Handle<Raw<T>>);

/// The state of a [`Segment<T>`]: the user's `T`, as an object of its own
/// kind.
#[repr(transparent)]
pub(crate) struct Raw<T>(T);

// SAFETY: a transparent wrapper of a ShmSafe T.
unsafe impl<T: ShmSafe> ShmSafe for Raw<T> {}

simple_state!(impl[T: ShmSafe + ShmLayout] Raw<T>: Raw, of T, init |state, init: T| {
    const { assert!(!std::mem::needs_drop::<T>(), "ShmSafe types must not need Drop") };
    state.0 = init;
});

handle_api! {
    impl[T: ShmSafe + ShmLayout] Segment<T>, "segment", " holding `init`"; create(init: T) => ((), init);
    open_or_create[F: Fn() -> T](init: F) => ((), init());
}

impl<T: ShmSafe + ShmLayout> Segment<T> {
    /// The mapped segment: liveness registry and header.
    pub(crate) fn raw(&self) -> &RawSegment {
        self.0.segment()
    }
}

impl<T: ShmSafe + ShmLayout> Deref for Segment<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0.state().0
    }
}

impl<T: ShmSafe + ShmLayout> fmt::Debug for Segment<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment").field("name", &self.name()).finish_non_exhaustive()
    }
}
