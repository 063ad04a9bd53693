//! Objects whose element type is described at run time: a [`TypeDesc`]
//! instead of a Rust type, the data reached as raw bytes.
//!
//! This is what other runtimes build on (the C ABI in `crates/ffi` does): a
//! C program describes its `struct` (field names, offsets, types) and
//! attaches to the same [`Value`](crate::Value), [`Mutex`](crate::Mutex),
//! [`Array`](crate::Array), [`RwLock`](crate::RwLock) ([`DynRwLock`]) or
//! [`Queue`](crate::Queue) ([`DynQueue`]) a Rust program made with
//! `#[derive(ShmType)]`.
//! The segment is the same, kind for kind and byte for byte; the element
//! type is checked the same way (its fingerprint; a mismatch names the
//! first differing field), so a description that differs from the creator's
//! is refused at open.
//!
//! ```
//! use shmkit::dynamic::DynValue;
//! use shmkit::{Field, ShmLayout, TypeDesc, Value};
//! # let name = format!("doc-dyn-{}", std::process::id());
//!
//! // What a C program describes for `struct Job { uint64_t id; float weight; uint32_t flags; }`.
//! let job = TypeDesc::structure("Job", 16, 8, vec![
//!     Field::new("id", 0, u64::type_desc()),
//!     Field::new("weight", 8, f32::type_desc()),
//!     Field::new("flags", 12, u32::type_desc()),
//! ]);
//! let v = DynValue::create(&name, &job, &[0; 16])?;
//! v.store(&[7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0])?;
//!
//! // A typed Rust view of the same bytes.
//! let words = Value::<[u32; 4]>::open(&name);
//! assert!(words.is_err(), "another element type is refused");
//! let mut out = [0u8; 16];
//! DynValue::open(&name, &job)?.load(&mut out)?;
//! assert_eq!(out[0], 7);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! The description must be truthful: [`check_type`] refuses what cannot be
//! a `#[repr(C)]` layout (an alignment that is not a power of two, a field
//! past the end or misaligned), and a wrong but well-formed description
//! only ever leads to a refused open or garbage values, never to undefined
//! behaviour: the bytes are only ever copied.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::error::Error;
use crate::handle::{Handle, SegmentState, StateLayout};
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::segment::{OpenOptions, ShmSafe};
use crate::shm_type::{Shape, TypeDesc};
use crate::sync::mutex::{LockResult, MutexGuard, Relock, TryLockResult, lock_forms, wrap_blocking, wrap_try};
use crate::sync::raw_mutex::RawMutex;
use crate::sync::rwlock::{RawRwLock, RwLockReadGuard, RwLockWriteGuard, blocking};
use crate::wait::{Deadline, WaitStrategy};

pub use crate::queue::broadcast::{DynBroadcast, DynPublisher, DynSubscriber};
pub use crate::queue::described::{DynQueue, DynReceiver, DynSender};

/// Largest alignment a described type may have.
const MAX_ALIGN: u64 = 4096;

/// Checks that `ty` can be a `#[repr(C)]` layout: alignments are powers of
/// two (at most 4096), sizes multiples of them, every field inside its
/// struct and aligned, every array `len` elements long.
///
/// # Errors
/// [`Error::InvalidArgument`] naming the first problem.
pub fn check_type(ty: &TypeDesc) -> Result<(), Error> {
    check_at(ty, &ty.name, 0)
}

fn check_at(ty: &TypeDesc, path: &str, depth: usize) -> Result<(), Error> {
    let bad = |why: String| Err(Error::InvalidArgument(format!("type description of '{path}': {why}")));
    if depth > 32 {
        return bad("nested deeper than 32".into());
    }
    if !ty.align.is_power_of_two() || ty.align > MAX_ALIGN {
        return bad(format!("alignment {} is not a power of two up to {MAX_ALIGN}", ty.align));
    }
    if ty.size % ty.align != 0 {
        return bad(format!("size {} is not a multiple of its alignment {}", ty.size, ty.align));
    }
    match &ty.shape {
        Shape::Primitive => Ok(()),
        Shape::Array { elem, len } => {
            check_at(elem, &format!("{path}[]"), depth + 1)?;
            if elem.size.checked_mul(*len) != Some(ty.size) || elem.align != ty.align {
                return bad(format!(
                    "{len} elements of {} bytes aligned to {} are not {} bytes aligned to {}",
                    elem.size, elem.align, ty.size, ty.align
                ));
            }
            Ok(())
        }
        Shape::Struct(fields) => {
            for f in fields {
                let fpath = format!("{path}.{}", f.name);
                check_at(&f.ty, &fpath, depth + 1)?;
                if f.offset % f.ty.align != 0 || f.ty.align > ty.align {
                    return bad(format!("field '{}' at offset {} is misaligned for {}", f.name, f.offset, f.ty.name));
                }
                if f.offset.checked_add(f.ty.size).is_none_or(|end| end > ty.size) {
                    return bad(format!(
                        "field '{}' at offset {} runs past the end ({} bytes)",
                        f.name, f.offset, ty.size
                    ));
                }
            }
            Ok(())
        }
    }
}

/// The fingerprint of `capacity` elements of the described `ty`.
pub(crate) fn element(ty: &TypeDesc, capacity: u64) -> Result<Fingerprint, Error> {
    check_type(ty)?;
    Ok(Fingerprint {
        elem_size: ty.size,
        elem_align: ty.align,
        type_name: ty.name.clone(),
        encoding: ty.encode(),
        capacity,
    })
}

mod sealed {
    pub trait Sealed {}
}

/// Which object a [`Described`] is: [`ValueKind`], [`MutexKind`],
/// [`RwLockKind`] or [`ArrayKind`] (sealed).
pub trait Kind: sealed::Sealed + fmt::Debug + Send + Sync + 'static {
    /// The kind stored in the header.
    #[doc(hidden)]
    const KIND: ObjectKind;
    /// One value after the lock, laid out as `MutexCell<T>` or
    /// `RwLockCell<T>` (`true`), or `len` elements after it, as an
    /// `Array<T>` (`false`).
    #[doc(hidden)]
    const ONE: bool;
    /// The lock before the data: a mutex word, or a reader-writer lock's
    /// words.
    #[doc(hidden)]
    type Head: ShmSafe;
    /// The least alignment of the typed object's state (`RwLockCell<T>` is
    /// aligned to a cache line, whatever `T`).
    #[doc(hidden)]
    const STATE_ALIGN: usize;
}

/// A [`Kind`] of one element: [`ValueKind`], [`MutexKind`] or
/// [`RwLockKind`] (sealed).
pub trait Single: Kind {}

/// A [`Kind`] whose data is under one robust mutex: [`ValueKind`],
/// [`MutexKind`] or [`ArrayKind`] (sealed).
pub trait UnderMutex: Kind<Head = RawMutex> {}

macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident => $kind:ident, one: $one:expr, $head:ty, aligned like $typed:ty: $($marker:ident),*;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub enum $name {}
        impl sealed::Sealed for $name {}
        impl Kind for $name {
            const KIND: ObjectKind = ObjectKind::$kind;
            const ONE: bool = $one;
            type Head = $head;
            const STATE_ALIGN: usize = std::mem::align_of::<$typed>();
        }
        $(impl $marker for $name {})*
    )*};
}

kinds! {
    /// A [`Value`](crate::Value): one element with its lock.
    ValueKind => Value, one: true, RawMutex, aligned like crate::MutexCell<u8>: Single, UnderMutex;
    /// A [`Mutex`](crate::Mutex): one element under a robust lock.
    MutexKind => Mutex, one: true, RawMutex, aligned like crate::MutexCell<u8>: Single, UnderMutex;
    /// A [`RwLock`](crate::RwLock): one element under a robust
    /// reader-writer lock.
    RwLockKind => RwLock, one: true, RawRwLock, aligned like crate::RwLockCell<u8>: Single;
    /// An [`Array`](crate::Array): `len` elements under one lock.
    ArrayKind => Array, one: false, RawMutex, aligned like RawMutex: UnderMutex;
}

/// A [`Value`](crate::Value) of a type described at run time.
pub type DynValue = Described<ValueKind>;
/// A [`Mutex`](crate::Mutex) of a type described at run time.
pub type DynMutex = Described<MutexKind>;
/// A [`RwLock`](crate::RwLock) of a type described at run time: see
/// [`Described::read`] and [`Described::write`].
///
/// ```
/// use shmkit::dynamic::DynRwLock;
/// use shmkit::{RwLock, ShmLayout};
/// # let name = format!("doc-dynrw-{}", std::process::id());
/// let typed = RwLock::create(&name, 5u64)?;
/// let dynamic = DynRwLock::open(&name, &u64::type_desc())?;
/// dynamic.write().unwrap().copy_from_slice(&7u64.to_ne_bytes());
/// assert_eq!(*typed.read().unwrap(), 7);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub type DynRwLock = Described<RwLockKind>;
/// An [`Array`](crate::Array) of a type described at run time.
pub type DynArray = Described<ArrayKind>;

/// The state of a described object: the lock, then (as its tail) the data
/// at [`data_layout`]'s offset.
#[repr(C)]
pub(crate) struct Cell<K: Kind> {
    head: K::Head,
    _kind: PhantomData<fn() -> K>,
}

// SAFETY: repr(C) of the lock (ShmSafe: any bit pattern is a valid, if
// possibly "dead holder", state); the data after it is plain bytes reached
// only through a guard, which requires holding the lock; no pointers, no
// drop glue.
unsafe impl<K: Kind> ShmSafe for Cell<K> {}

/// Where the data of `fp` lies in the state, as the typed objects lay it
/// out: `(offset, data bytes, state size, state alignment)`.
fn data_layout<K: Kind>(fp: &Fingerprint) -> Result<(usize, usize, usize, usize), Error> {
    let too_large =
        || Error::InvalidArgument(format!("{} elements of {} bytes are too large", fp.capacity, fp.elem_size));
    let align = usize::try_from(fp.elem_align).ok().filter(|a| a.is_power_of_two() && *a as u64 <= MAX_ALIGN);
    let align = align.ok_or_else(|| Error::InvalidArgument(format!("alignment {}", fp.elem_align)))?;
    let head = std::mem::size_of::<K::Head>();
    let offset = head.next_multiple_of(align);
    let state_align = align.max(K::STATE_ALIGN);
    let count = if K::ONE { 1 } else { fp.capacity };
    let bytes = usize::try_from(fp.elem_size)
        .ok()
        .zip(usize::try_from(count).ok())
        .and_then(|(s, n)| s.checked_mul(n))
        .ok_or_else(too_large)?;
    let end = offset.checked_add(bytes).filter(|&e| e <= isize::MAX as usize / 2).ok_or_else(too_large)?;
    // `MutexCell<T>` and `RwLockCell<T>` round their size up to their
    // alignment; an `Array<T>`'s elements end the state.
    let size = if K::ONE { end.next_multiple_of(state_align) } else { end };
    Ok((offset, bytes, size, state_align))
}

impl<K: Kind> SegmentState for Cell<K> {
    const KINDS: &'static [ObjectKind] = &[K::KIND];
    /// The element type and count; `None` only before an open learns it.
    type Params = Option<Fingerprint>;
    /// The initial bytes, or `None` for zeroes.
    type Init<'a> = Option<&'a [u8]>;

    fn fingerprint(fp: &Option<Fingerprint>) -> Fingerprint {
        fp.clone().unwrap_or_else(|| Fingerprint {
            elem_size: 0,
            elem_align: 1,
            type_name: "<described>".into(),
            encoding: "described".into(),
            capacity: 1,
        })
    }

    fn layout(fp: &Option<Fingerprint>, _slots: u32) -> Result<StateLayout, Error> {
        let fp = fp.as_ref().ok_or_else(|| Error::InvalidArgument("no element type described".into()))?;
        let (_, _, size, align) = data_layout::<K>(fp)?;
        Ok(StateLayout { size, align })
    }

    fn check_init(fp: &Option<Fingerprint>, init: &Option<&[u8]>) -> Result<(), Error> {
        let fp = fp.as_ref().ok_or_else(|| Error::InvalidArgument("no element type described".into()))?;
        let (_, bytes, _, _) = data_layout::<K>(fp)?;
        match init {
            Some(init) if init.len() != bytes => Err(Error::InvalidArgument(format!(
                "{} initial bytes for {} bytes of {}",
                init.len(),
                bytes,
                fp.type_name
            ))),
            _ => Ok(()),
        }
    }

    fn init(&mut self, tail: &mut [u8], fp: &Option<Fingerprint>, _slots: u32, init: Option<&[u8]>) {
        // check_init and layout passed for these parameters, so the data
        // lies inside the tail.
        let (Some(fp), Some(init)) = (fp, init) else { return };
        if let Ok((offset, bytes, _, _)) = data_layout::<K>(fp) {
            let start = offset - std::mem::size_of::<Self>();
            if let Some(dst) = tail.get_mut(start..start + bytes) {
                dst.copy_from_slice(init);
            }
        }
    }

    fn params_for_open(name: &str, header: &Header, template: Option<&Self::Params>) -> Result<Self::Params, Error> {
        let Some(Some(t)) = template else {
            return Err(Error::InvalidArgument(format!("opening '{name}' needs its element type described")));
        };
        // The element type is the opener's (the fingerprint check compares
        // it with the stored one next); an array's length is the segment's.
        let capacity = if K::ONE { 1 } else { header.capacity };
        Ok(Some(Fingerprint { capacity, ..t.clone() }))
    }
}

/// A [`Value`](crate::Value), [`Mutex`](crate::Mutex),
/// [`RwLock`](crate::RwLock) or [`Array`](crate::Array) whose element type
/// is a run-time [`TypeDesc`], its data reached as bytes: see the
/// [module docs](self).
///
/// The handle is `Send` and `Sync`, as the typed objects are.
pub struct Described<K: Kind> {
    handle: Handle<Cell<K>>,
    /// Offset of the data from the start of the state.
    offset: usize,
    /// Bytes of data (one element, or all of an array's).
    bytes: usize,
    /// Bytes of one element.
    elem_size: usize,
    /// Number of elements (1 but for an array).
    len: usize,
}

impl<K: Kind> Described<K> {
    fn wrap(handle: Handle<Cell<K>>) -> Result<Self, Error> {
        let fp = Cell::<K>::fingerprint(handle.params());
        let (offset, bytes, _, _) = data_layout::<K>(&fp)?;
        let len = if K::ONE { 1 } else { fp.capacity as usize };
        Ok(Described { handle, offset, bytes, elem_size: fp.elem_size as usize, len })
    }

    fn create_raw(name: &str, ty: &TypeDesc, len: u64, init: Option<&[u8]>, opts: &OpenOptions) -> Result<Self, Error> {
        let fp = element(ty, len)?;
        Self::wrap(Handle::create_with(name, Some(fp), init, opts)?)
    }

    fn open_or_create_raw(
        name: &str,
        ty: &TypeDesc,
        len: u64,
        init: Option<&[u8]>,
        opts: &OpenOptions,
    ) -> Result<Self, Error> {
        let fp = element(ty, len)?;
        Self::wrap(Handle::open_or_create_with(name, Some(fp), || init, opts)?)
    }

    /// Opens the existing object `name`, whose element type must be `ty`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::WrongKind`], [`Error::WrongType`]
    /// (naming the first differing field), [`Error::InvalidArgument`] for a
    /// description [`check_type`] refuses, and the other checks of an open.
    pub fn open(name: &str, ty: &TypeDesc) -> Result<Self, Error> {
        Self::open_with(name, ty, &OpenOptions::default())
    }

    /// [`Described::open`] with options.
    ///
    /// # Errors
    /// As [`Described::open`].
    pub fn open_with(name: &str, ty: &TypeDesc, opts: &OpenOptions) -> Result<Self, Error> {
        let fp = element(ty, 1)?;
        Self::wrap(Handle::open_template(name, &Some(fp), opts)?)
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.handle.name()
    }

    /// Keeps the name after this (creating) handle is dropped.
    pub fn persist(&self) {
        self.handle.persist();
    }

    /// Sets how this handle waits when it must block.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.handle.set_wait_strategy(strategy);
    }

    /// Bytes of one element.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Bytes of all the data: one element, or all of an array's.
    pub fn data_len(&self) -> usize {
        self.bytes
    }

    fn check_len(&self, len: usize, want: usize) -> Result<(), Error> {
        if len != want {
            return Err(Error::InvalidArgument(format!(
                "a buffer of {len} bytes for {want} bytes of '{}'",
                self.name()
            )));
        }
        Ok(())
    }

    /// The data: `bytes` bytes at `offset` in the state.
    fn data(&self) -> NonNull<[u8]> {
        // SAFETY: `bytes` bytes of data lie at `offset` in the state (the
        // layout, checked against the header at open or written at create),
        // inside the mapping the handle keeps, so the pointer is not null.
        unsafe {
            let first = self.handle.data_ptr().add(self.offset);
            NonNull::new_unchecked(std::ptr::slice_from_raw_parts_mut(first, self.bytes))
        }
    }
}

impl<K: Single> Described<K> {
    /// Creates the object `name` (a value, mutex or reader-writer lock) of
    /// the described type `ty` holding `init` (`ty.size` bytes). Exclusive.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`],
    /// [`Error::InvalidArgument`] for a refused description or an `init` of
    /// another length, or an OS error.
    pub fn create(name: &str, ty: &TypeDesc, init: &[u8]) -> Result<Self, Error> {
        Self::create_with(name, ty, init, &OpenOptions::default())
    }

    /// `create` with options.
    ///
    /// # Errors
    /// As `create`.
    pub fn create_with(name: &str, ty: &TypeDesc, init: &[u8], opts: &OpenOptions) -> Result<Self, Error> {
        Self::create_raw(name, ty, 1, Some(init), opts)
    }

    /// Opens `name`, or creates it holding `init`: safe when processes race.
    ///
    /// # Errors
    /// As [`Described::open`] and `create`.
    pub fn open_or_create_with(name: &str, ty: &TypeDesc, init: &[u8], opts: &OpenOptions) -> Result<Self, Error> {
        Self::open_or_create_raw(name, ty, 1, Some(init), opts)
    }
}

/// The objects under one robust mutex: values, mutexes and arrays.
impl<K: UnderMutex> Described<K> {
    /// Whether some handle holds the lock now (a snapshot, for diagnostics).
    pub fn is_locked(&self) -> bool {
        self.handle.state().head.is_locked()
    }

    fn guard(&self) -> MutexGuard<'_, [u8]> {
        // SAFETY: the data lives as long as the mapping the handle keeps;
        // called only while holding the lock, which guards it.
        unsafe {
            MutexGuard::new(
                &self.handle.state().head,
                self.data(),
                Relock { seg: self.handle.segment(), strategy: self.handle.strategy() },
            )
        }
    }

    #[inline]
    fn lock_forever(&self) -> LockResult<MutexGuard<'_, [u8]>> {
        let lock = &self.handle.state().head;
        wrap_blocking(lock.lock_forever(self.handle.segment(), self.handle.strategy()), || self.guard())
    }

    #[inline]
    fn lock_until(&self, deadline: Deadline) -> TryLockResult<MutexGuard<'_, [u8]>> {
        let lock = &self.handle.state().head;
        wrap_try(lock.lock(self.handle.segment(), deadline, self.handle.strategy()), || self.guard())
    }

    lock_forms!("the lock", MutexGuard<'_, [u8]>; lock / try_lock / lock_timeout / lock_deadline => lock_forever / lock_until);

    /// Runs `f` on the locked bytes without consuming a dead-holder report.
    fn peek<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        match self.lock() {
            Ok(mut guard) => f(&mut guard),
            Err(died) => {
                let mut guard = died.into_inner();
                let r = f(&mut guard);
                MutexGuard::leave_dirty(guard);
                r
            }
        }
    }

    /// Copies all the data (one element, or all of an array's) into `out`,
    /// under the lock; a dead holder's report is left for the next `lock`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `out` is not [`Described::data_len`]
    /// bytes long.
    pub fn load(&self, out: &mut [u8]) -> Result<(), Error> {
        self.check_len(out.len(), self.bytes)?;
        self.peek(|data| out.copy_from_slice(data));
        Ok(())
    }

    /// Replaces all the data under the lock (which repairs what a dead
    /// holder left).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `bytes` is not [`Described::data_len`]
    /// bytes long.
    pub fn store(&self, bytes: &[u8]) -> Result<(), Error> {
        self.check_len(bytes.len(), self.bytes)?;
        self.lock().unwrap_or_else(|died| died.into_inner()).copy_from_slice(bytes);
        Ok(())
    }
}

/// Ready for [`wait_any`](crate::wait_any) when a lock would not wait: the
/// lock is free, or its holder died (the lock then takes it over, with
/// `OwnerDied`).
impl<K: UnderMutex> crate::select::sealed::Source for Described<K> {
    fn ready(&self, _armed: u32, thorough: bool) -> bool {
        self.handle.state().head.select_parts(self.handle.segment(), thorough).0
    }
    fn park(&self) -> crate::select::sealed::Park<'_> {
        self.handle.state().head.select_parts(self.handle.segment(), false).1
    }
    /// The object opened again by name, with the same description.
    fn probe(&self) -> Result<std::sync::Arc<dyn crate::select::sealed::Source + Send + Sync>, Error> {
        let opened = Handle::open_template(self.name(), self.handle.params(), &OpenOptions::default())?;
        Ok(std::sync::Arc::new(Self::wrap(opened)?))
    }
}

impl Described<RwLockKind> {
    fn read_until(&self, deadline: Deadline) -> TryLockResult<RwLockReadGuard<'_, [u8]>> {
        let lock = &self.handle.state().head;
        // SAFETY: the data lives as long as the mapping the handle keeps and
        // is reached only through the guards of this lock.
        unsafe { lock.read_in(self.handle.segment(), deadline, self.handle.strategy(), self.data()) }
    }

    fn write_until(&self, deadline: Deadline) -> TryLockResult<RwLockWriteGuard<'_, [u8]>> {
        let lock = &self.handle.state().head;
        // SAFETY: as in `read_until`.
        unsafe { lock.write_in(self.handle.segment(), deadline, self.handle.strategy(), self.data()) }
    }

    fn read_forever(&self) -> LockResult<RwLockReadGuard<'_, [u8]>> {
        blocking(|| self.read_until(Deadline::Never))
    }

    fn write_forever(&self) -> LockResult<RwLockWriteGuard<'_, [u8]>> {
        blocking(|| self.write_until(Deadline::Never))
    }

    // As `RwLock<T>`'s: a reader waits while a writer holds or waits for
    // the lock, and one told `OwnerDied` cannot repair the data; a writer
    // drops dead readers' holds.
    lock_forms!("a read lock", RwLockReadGuard<'_, [u8]>; read / try_read / read_timeout / read_deadline => read_forever / read_until);
    lock_forms!("the write lock", RwLockWriteGuard<'_, [u8]>; write / try_write / write_timeout / write_deadline => write_forever / write_until);

    /// Whether a writer holds or waits for the lock now (a snapshot).
    pub fn is_write_locked(&self) -> bool {
        self.handle.state().head.is_write_locked()
    }
}

impl Described<ArrayKind> {
    /// Creates the array `name` of `len` zeroed elements of the described
    /// type `ty`, or holding `init` (`len * ty.size` bytes). Exclusive.
    ///
    /// # Errors
    /// As `create`.
    pub fn create_with(
        name: &str,
        ty: &TypeDesc,
        len: usize,
        init: Option<&[u8]>,
        opts: &OpenOptions,
    ) -> Result<Self, Error> {
        Self::create_raw(name, ty, len as u64, init, opts)
    }

    /// Opens `name`, or creates it with `len` zeroed elements: safe when
    /// processes race. An existing array must have `len` elements.
    ///
    /// # Errors
    /// As [`Described::open`] and `create_with`.
    pub fn open_or_create_with(name: &str, ty: &TypeDesc, len: usize, opts: &OpenOptions) -> Result<Self, Error> {
        Self::open_or_create_raw(name, ty, len as u64, None, opts)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn element_range(&self, index: usize, len: usize) -> Result<std::ops::Range<usize>, Error> {
        if index >= self.len {
            return Err(Error::InvalidArgument(format!(
                "index {index} is out of bounds for an array of length {}",
                self.len
            )));
        }
        self.check_len(len, self.elem_size)?;
        let start = index * self.elem_size;
        Ok(start..start + self.elem_size)
    }

    /// Copies element `index` into `out` ([`Described::elem_size`] bytes).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an index past the end or a buffer of
    /// another length.
    pub fn get(&self, index: usize, out: &mut [u8]) -> Result<(), Error> {
        let range = self.element_range(index, out.len())?;
        self.peek(|data| out.copy_from_slice(&data[range]));
        Ok(())
    }

    /// Sets element `index` to `bytes` ([`Described::elem_size`] bytes).
    ///
    /// # Errors
    /// As `get`.
    pub fn set(&self, index: usize, bytes: &[u8]) -> Result<(), Error> {
        let range = self.element_range(index, bytes.len())?;
        // One element is not a repair of the whole array: peek leaves a dead
        // holder's report in place.
        self.peek(|data| data[range].copy_from_slice(bytes));
        Ok(())
    }
}

impl<K: Kind> fmt::Debug for Described<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Described")
            .field("kind", &K::KIND)
            .field("name", &self.name())
            .field("elem_size", &self.elem_size)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{Field, ShmLayout};

    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct Job {
        id: u64,
        weight: f32,
        flags: u32,
    }

    impl ShmLayout for Job {
        fn type_desc() -> TypeDesc {
            TypeDesc::structure(
                "Job",
                16,
                8,
                vec![
                    Field::new("id", 0, u64::type_desc()),
                    Field::new("weight", 8, f32::type_desc()),
                    Field::new("flags", 12, u32::type_desc()),
                ],
            )
        }
    }

    fn name(tag: &str) -> String {
        format!("unit-dyn-{tag}-{}", std::process::id())
    }

    #[test]
    fn a_described_value_is_the_typed_one() {
        let n = name("value");
        let typed = crate::Value::create(&n, Job { id: 1, weight: 0.5, flags: 2 }).unwrap();
        let dynamic = DynValue::open(&n, &Job::type_desc()).unwrap();
        let mut out = [0u8; 16];
        dynamic.load(&mut out).unwrap();
        assert_eq!(bytemuck::pod_read_unaligned::<Job>(&out), typed.load());
        dynamic.store(bytemuck::bytes_of(&Job { id: 9, weight: 1.5, flags: 3 })).unwrap();
        assert_eq!(typed.load().id, 9);

        let mut other = Job::type_desc();
        let Shape::Struct(fields) = &mut other.shape else { unreachable!() };
        fields[1].ty = u32::type_desc();
        let err = DynValue::open(&n, &other).unwrap_err();
        assert!(err.to_string().contains("field 'weight'"), "{err}");
        assert!(matches!(DynMutex::open(&n, &Job::type_desc()), Err(Error::WrongKind { .. })));
    }

    #[test]
    fn described_mutex_and_array_match_the_typed_layouts() {
        let n = name("mutex");
        let dynamic = DynMutex::create(&n, &u8::type_desc(), &[5]).unwrap();
        let typed = crate::Mutex::<u8>::open(&n).unwrap();
        *typed.lock().unwrap() += 1;
        assert_eq!(&*dynamic.lock().unwrap(), &[6]);

        let n = name("array");
        let items = [1u16, 2, 3];
        let dynamic =
            DynArray::create_with(&n, &u16::type_desc(), 3, Some(bytemuck::cast_slice(&items)), &OpenOptions::new())
                .unwrap();
        let typed = crate::Array::<u16>::open(&n).unwrap();
        typed.set(1, 7).unwrap();
        let mut out = [0u8; 2];
        dynamic.get(1, &mut out).unwrap();
        assert_eq!(u16::from_ne_bytes(out), 7);
        assert_eq!(DynArray::open(&n, &u16::type_desc()).unwrap().len(), 3);
        assert!(dynamic.get(3, &mut out).is_err());
        assert!(dynamic.set(0, &[1]).is_err());
    }

    #[test]
    fn impossible_descriptions_are_refused() {
        let bad = [
            TypeDesc::primitive("x", 3, 3),
            TypeDesc::primitive("x", 6, 4),
            TypeDesc::structure("S", 8, 8, vec![Field::new("a", 4, u64::type_desc())]),
            TypeDesc::structure("S", 4, 4, vec![Field::new("a", 0, u64::type_desc())]),
        ];
        for ty in bad {
            assert!(matches!(check_type(&ty), Err(Error::InvalidArgument(_))), "{ty:?}");
        }
        assert!(check_type(&Job::type_desc()).is_ok());
        assert!(check_type(&<[Job; 3]>::type_desc()).is_ok());
    }
}
