//! The auto traits of every handle and guard, asserted at compile time (in
//! the manner of tokio's `async_send_sync.rs`): a change that makes a handle
//! lose `Send` or `Sync`, or a guard gain `Send`, fails to build.
//!
//! Handles own their mapping and may move to and be shared between threads.
//! Guards are `Sync` (they only give `&T` to a shared reference) but not
//! `Send`: a robust lock is held by a liveness token, and unlocking from
//! another thread than the one that locked is not part of the design (as
//! with `std::sync::MutexGuard`).
#![allow(dead_code)]

use std::sync::atomic::AtomicU64;

use shmkit::dynamic::{DynMutex, DynQueue, DynReceiver, DynRwLock, DynSender, DynValue};
use shmkit::queue::{ByteIter, ByteReceiver, ByteSender, ByteTryIter, Iter, Receiver, Sender, TryIter};
use shmkit::{
    Array, ArrayGuard, Atomic, Barrier, BarrierCell, BoundedSemaphore, ByteQueue, Condvar, CondvarCell, Connection,
    Event, EventCell, Mutex, MutexCell, MutexGuard, Pipe, Queue, ReadGrant, RwLock, RwLockCell, RwLockReadGuard,
    RwLockWriteGuard, Segment, Semaphore, SemaphoreCell, SharedMemory, Value, ValueGuard, WriteGrant,
};
use shmkit::{MessageQueue, MessageReceiver, MessageSender};

fn require_send<T: ?Sized + Send>() {}
fn require_sync<T: ?Sized + Sync>() {}

/// Implemented twice for `Send` types, so naming its method on one is
/// ambiguous and fails to build; once for the others.
trait AmbiguousIfSend<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

/// As [`AmbiguousIfSend`], for `Sync`.
trait AmbiguousIfSync<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}

macro_rules! assert_auto {
    ($ty:ty: Send & Sync) => {
        require_send::<$ty>();
        require_sync::<$ty>();
    };
    ($ty:ty: !Send & Sync) => {
        let _ = <$ty as AmbiguousIfSend<_>>::some_item;
        require_sync::<$ty>();
    };
    ($ty:ty: Send & !Sync) => {
        require_send::<$ty>();
        let _ = <$ty as AmbiguousIfSync<_>>::some_item;
    };
    ($ty:ty: !Send & !Sync) => {
        let _ = <$ty as AmbiguousIfSend<_>>::some_item;
        let _ = <$ty as AmbiguousIfSync<_>>::some_item;
    };
}

#[test]
fn handles_are_send_and_sync() {
    assert_auto!(Value<u64>: Send & Sync);
    assert_auto!(Array<u64>: Send & Sync);
    assert_auto!(Atomic<u64>: Send & Sync);
    assert_auto!(Mutex<u64>: Send & Sync);
    assert_auto!(RwLock<u64>: Send & Sync);
    assert_auto!(Semaphore: Send & Sync);
    assert_auto!(BoundedSemaphore: Send & Sync);
    assert_auto!(Event: Send & Sync);
    assert_auto!(Condvar: Send & Sync);
    assert_auto!(Barrier: Send & Sync);
    assert_auto!(Segment<AtomicU64>: Send & Sync);
    assert_auto!(SharedMemory: Send & Sync);
    assert_auto!(Queue<u64>: Send & Sync);
    assert_auto!(ByteQueue: Send & Sync);
    assert_auto!(Pipe: Send & Sync);
    assert_auto!(shmkit::Broadcast<u64>: Send & Sync);
    assert_auto!(shmkit::ByteBroadcast: Send & Sync);
    assert_auto!(MessageQueue: Send & Sync);
    assert_auto!(DynQueue: Send & Sync);
    assert_auto!(DynValue: Send & Sync);
    assert_auto!(DynMutex: Send & Sync);
    assert_auto!(DynRwLock: Send & Sync);
}

/// A message queue's ends take `&self` and keep no cursor: threads may
/// share one (a binding hands one end to many threads).
#[test]
fn message_queue_endpoints_are_send_and_sync() {
    assert_auto!(MessageSender: Send & Sync);
    assert_auto!(MessageReceiver: Send & Sync);
}

/// Queue endpoints move to another thread but are not shared: each is one
/// party (a sender clones for another thread, as with std's `mpsc`), and a
/// byte ring's end has one cursor.
#[test]
fn endpoints_are_send_and_not_sync() {
    assert_auto!(Sender<u64>: Send & !Sync);
    assert_auto!(Receiver<u64>: Send & !Sync);
    assert_auto!(ByteSender: Send & !Sync);
    assert_auto!(ByteReceiver: Send & !Sync);
    assert_auto!(Connection: Send & !Sync);
    assert_auto!(shmkit::Publisher<u64>: Send & Sync); // its calls take &mut self
    assert_auto!(shmkit::Subscriber<u64>: Send & Sync);
    assert_auto!(shmkit::BytePublisher: Send & Sync);
    assert_auto!(shmkit::ByteSubscriber: Send & Sync);
    assert_auto!(DynSender: Send & !Sync);
    assert_auto!(DynReceiver: Send & !Sync);
}

/// Grants and iterators borrow their endpoint's cursor: they stay on its
/// thread (an iterator over a byte receiver, which it borrows mutably, may
/// move with it).
#[test]
fn grants_and_iterators_stay_with_their_endpoint() {
    assert_auto!(WriteGrant<'static>: !Send & !Sync);
    assert_auto!(ReadGrant<'static>: !Send & !Sync);
    assert_auto!(Iter<'static, u64>: !Send & !Sync);
    assert_auto!(TryIter<'static, u64>: !Send & !Sync);
    assert_auto!(ByteIter<'static>: Send & !Sync);
    assert_auto!(ByteTryIter<'static>: Send & !Sync);
}

#[test]
fn guards_are_sync_and_not_send() {
    assert_auto!(MutexGuard<'static, u64>: !Send & Sync);
    assert_auto!(ValueGuard<'static, u64>: !Send & Sync);
    assert_auto!(ArrayGuard<'static, u64>: !Send & Sync);
    assert_auto!(RwLockReadGuard<'static, u64>: !Send & Sync);
    assert_auto!(RwLockWriteGuard<'static, u64>: !Send & Sync);
    assert_auto!(RwLockReadGuard<'static, [u8]>: !Send & Sync);
    assert_auto!(RwLockWriteGuard<'static, [u8]>: !Send & Sync);
}

#[test]
fn cells_are_send_and_sync() {
    assert_auto!(MutexCell<u64>: Send & Sync);
    assert_auto!(RwLockCell<u64>: Send & Sync);
    assert_auto!(SemaphoreCell: Send & Sync);
    assert_auto!(EventCell: Send & Sync);
    assert_auto!(CondvarCell: Send & Sync);
    assert_auto!(BarrierCell: Send & Sync);
}
