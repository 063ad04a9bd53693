//! Typed shared-memory IPC for independent processes.
//!
//! shmkit puts typed primitives in named, memory-mapped segments. Any process
//! of the same user attaches to one by name — no parent/child relationship,
//! no serialization: plain data ([`bytemuck::Pod`] types) is read and written
//! in place.
//!
//! # A tour
//!
//! One process creates the objects; another opens them by name. (Here both
//! handles live in one process so the example runs as a doctest; the
//! `two_processes` example runs them in two.)
//!
//! ```
//! use shmkit::{Array, Mutex, Value};
//! # let id = std::process::id();
//! # let (vname, mname, aname) = (format!("tour-v-{id}"), format!("tour-m-{id}"), format!("tour-a-{id}"));
//!
//! // Process A: create. Creation is exclusive, the file is mode 0600, and
//! // the creating handle removes the name when dropped.
//! let counter = Value::create(&vname, 0u64)?;
//! let stats = Mutex::create(&mname, [0u32; 4])?;
//! let samples = Array::create_from(&aname, &[1.0f32, 2.0, 3.0])?;
//!
//! // Process B: open by name. The element type is checked: opening the
//! // Value as `Value<u32>` or as an `Array` is an error, never garbage.
//! let counter_b = Value::<u64>::open(&vname)?;
//! let stats_b = Mutex::<[u32; 4]>::open(&mname)?;
//! let samples_b = Array::<f32>::open(&aname)?;
//!
//! *counter_b.lock().unwrap() += 1;
//! stats_b.lock().unwrap()[2] = 7;
//! samples_b.set(0, 9.5).unwrap();
//!
//! assert_eq!(counter.load(), 1);
//! assert_eq!(stats.lock().unwrap()[2], 7);
//! assert_eq!(samples.to_vec(), [9.5, 2.0, 3.0]);
//! assert!(Value::<u32>::open(&vname).is_err());
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Your own types
//!
//! Objects hold [`ShmType`]s: numbers, arrays of them, and `#[repr(C)]`
//! structs that derive it. Identity is the layout (names, offsets and types
//! of the fields), not the Rust path of the type, so two programs built
//! separately share a struct they both define; a program whose definition
//! differs is refused with the first differing field. `docs/FORMAT.md`
//! specifies the encoding, so that C and Python compute the same
//! fingerprint.
//!
//! ```
//! # #[cfg(feature = "derive")] {
//! use shmkit::bytemuck::{Pod, Zeroable};
//! use shmkit::{Queue, ShmType};
//! # let name = format!("tour-q-{}", std::process::id());
//!
//! #[derive(Clone, Copy, Pod, Zeroable, ShmType)]
//! #[repr(C)]
//! struct Job {
//!     id: u64,
//!     weight: f32,
//!     flags: u32,
//! }
//!
//! let jobs = Queue::<Job>::create(&name, 64)?;
//! jobs.sender()?.send(Job { id: 1, weight: 0.5, flags: 0 }).unwrap();
//! assert_eq!(Queue::<Job>::open(&name)?.receiver()?.recv().unwrap().id, 1);
//! # }
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Robustness
//!
//! If a process dies holding a lock, the next locker gets the lock with
//! [`LockError::OwnerDied`] (within milliseconds) and repairs the data.
//! Liveness is tracked with open-file-description locks, which the kernel
//! drops when a process dies, so PID reuse cannot fool it. A handle used in
//! a `fork()`ed child registers the child as a party of its own before its
//! first operation: the child never acts under its parent's identity.
//! [`sigbus_guard`] makes the death of a process that touches a segment
//! another process truncated legible.
//!
//! # Layers
//!
//! `sys` (the OS calls) → `segment` (named files, header checks, liveness
//! registry) → objects ([`Value`], [`Array`], [`Atomic`], [`Mutex`],
//! [`RwLock`], [`Semaphore`], [`Event`], [`Condvar`], [`Barrier`],
//! [`Queue`], [`ByteQueue`], [`Pipe`], and [`SharedMemory`] for raw bytes).
//! The `shmkit` command-line tool (`ls`, `info`, `rm`, `gc`, `bench`) is the
//! workspace's `shmkit-cli` crate, built on this public API.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]
#![deny(missing_debug_implementations)]

// The derive's expansion names `::shmkit`, also inside this crate's tests.
extern crate self as shmkit;

mod array;
mod atomic;
pub(crate) mod copy;
pub mod dynamic;
mod error;
/// What the C ABI crate (`shmkit-ffi`) needs of the core that is not API:
/// the asymmetric barriers of the wake-up handshakes, for its check that
/// one thread at a time uses an end. Not for other users; no stability.
#[doc(hidden)]
pub mod __ffi {
    /// Registers this process for the asymmetric barriers (once; every
    /// end's claim does it already).
    pub fn asym_register() {
        crate::primitive::asym::register();
    }

    /// The hot side's barrier: between a store and a load, free (a
    /// compiler barrier) while the process is registered.
    #[inline]
    pub fn asym_hot() {
        crate::primitive::asym::hot();
    }

    /// The cold side's barrier, which makes up for the hot side's on every
    /// CPU; `false` if it could not, and the hot side's store may not be
    /// seen. (Unregistered, the hot side fences itself: `true`.)
    pub fn asym_cold() -> bool {
        crate::primitive::asym::cold() || !crate::primitive::asym::registered()
    }
}
/// What `shmkit bench` needs of the core that is not API: the byte rings'
/// copies in and out, so that its raw ring copies messages as the queues
/// do. Not for other users; no stability.
#[doc(hidden)]
pub mod __bench {
    /// Copies `len` bytes from `src` to `dst` as the byte rings copy
    /// messages into shared memory.
    ///
    /// # Safety
    /// As [`std::ptr::copy_nonoverlapping`]: `src` readable and `dst`
    /// writable for `len` bytes, not overlapping.
    #[inline]
    pub unsafe fn copy(src: *const u8, dst: *mut u8, len: usize) {
        // SAFETY: the caller's contract.
        unsafe { crate::copy::copy(src, dst, len) }
    }

    /// Copies as the byte rings copy messages out of shared memory.
    ///
    /// # Safety
    /// As [`copy`].
    #[inline]
    pub unsafe fn copy_out(src: *const u8, dst: *mut u8, len: usize) {
        // SAFETY: the caller's contract.
        unsafe { crate::copy::copy_out(src, dst, len) }
    }
}
#[cfg(feature = "failpoints")]
#[doc(hidden)]
pub mod failpoint;
#[cfg(not(feature = "failpoints"))]
mod failpoint;
mod handle;
#[cfg(all(test, loom))]
mod loom_support;
pub mod name;
mod notify;
mod pipe;
mod primitive;
pub mod queue;
mod segment;
mod select;
mod shared_memory;
mod shm_type;
mod sigbus;
mod sync;
mod sys;
mod value;
mod wait;

pub mod inspect;

/// The crate shmkit's element types build on ([`bytemuck::Pod`]), so that
/// users need not pin a version of it themselves.
pub use bytemuck;

pub use array::{Array, ArrayGuard, IndexOutOfBounds};
pub use atomic::{Atomic, AtomicInt};
pub use error::Error;
pub use notify::ReadyFd;
#[cfg(feature = "async")]
pub use notify::{Ready, ready};
pub use pipe::{Connection, DEFAULT_PIPE_CAPACITY, Pipe};
pub use queue::{
    Broadcast, BroadcastRecvError, BroadcastSendError, ByteBroadcast, BytePublisher, ByteSubscriber, Policy, Publisher,
    Subscriber,
};
pub use queue::{
    ByteQueue, ByteReceiver, ByteRecvError, ByteSendError, ByteSender, MessageQueue, MessageReceiver, MessageSender,
    Queue, ReadGrant, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TaskDoneError,
    TryRecvError, TrySendError, WriteGrant,
};
pub use segment::header::ObjectKind;
pub use segment::{OpenOptions, Segment, ShmSafe, unlink};
pub use select::{Selectable, futex_waitv_available, try_wait_any, wait_any, wait_any_deadline, wait_any_timeout};
pub use shared_memory::SharedMemory;
pub use shm_type::{Field, Shape, ShmLayout, ShmType, TypeDesc, fnv1a};
/// Derives [`ShmLayout`] (and so [`ShmType`] for a [`Pod`](bytemuck::Pod)
/// type) for a `#[repr(C)]` struct; `#[shm(name = "...")]` sets the name.
#[cfg(feature = "derive")]
pub use shmkit_derive::ShmType;
pub use sigbus::sigbus_guard;
pub use sync::barrier::{Barrier, BarrierArrival, BarrierCell, BarrierError, BarrierWaitResult, MAX_PARTIES};
pub use sync::condvar::{Condvar, CondvarCell, WaitTimeoutResult};
pub use sync::event::{Event, EventCell};
pub use sync::mutex::{LockError, LockResult, Mutex, MutexCell, MutexGuard, TryLockError, TryLockResult};
pub use sync::rwlock::{RwLock, RwLockCell, RwLockReadGuard, RwLockWriteGuard};
pub use sync::semaphore::{BoundedSemaphore, ReleaseError, Semaphore, SemaphoreCell};
pub use value::{Value, ValueGuard};
pub use wait::WaitStrategy;
