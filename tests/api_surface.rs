//! The public surface every object shares, checked at compile time: each
//! row names the uniform constructor set and every blocking call with its
//! `try_`, `_timeout` and `_deadline` forms as function paths, so a missing
//! one fails to build.

use std::sync::atomic::AtomicU64;

use shmkit::dynamic::{DynQueue, DynReceiver, DynSender};
use shmkit::queue::{ByteReceiver, ByteSender, Receiver, Sender};
use shmkit::{
    Array, Atomic, Barrier, BarrierArrival, BoundedSemaphore, ByteQueue, Condvar, Connection, Event, MessageQueue,
    MessageReceiver, MessageSender, Mutex, MutexCell, Pipe, Queue, RwLock, Segment, Semaphore, SharedMemory, Value,
};
use shmkit::{Broadcast, ByteBroadcast, BytePublisher, ByteSubscriber, Publisher, Subscriber};

/// `create`, `create_with`, `open`, `open_with`, `open_or_create`,
/// `open_or_create_with`, `name` and `persist` of each type; with `waits`
/// also `with_wait_strategy`. Constructors that are generic (a closure
/// argument) are named with their generics.
macro_rules! constructors {
    ($($ty:ty $([$($g:ty),*])? $(, $waits:ident)?;)*) => {
        $(
            let _ = <$ty>::create;
            let _ = <$ty>::create_with;
            let _ = <$ty>::open;
            let _ = <$ty>::open_with;
            let _ = <$ty>::open_or_create $(::<$($g),*>)?;
            let _ = <$ty>::open_or_create_with $(::<$($g),*>)?;
            let _ = <$ty>::name;
            let _ = <$ty>::persist;
            $(constructors!(@$waits $ty);)?
        )*
    };
    (@waits $ty:ty) => {
        let _ = <$ty>::with_wait_strategy;
    };
}

/// Each blocking call as `call / try_call / call_timeout / call_deadline`;
/// `-` where a non-blocking form makes no sense (said in a comment).
macro_rules! blocking {
    ($($ty:ty: $($call:ident $(::<$($g:ty),*>)? / $try_:tt / $timeout:ident / $deadline:ident),+;)*) => {
        $($(
            let _ = <$ty>::$call $(::<$($g),*>)?;
            blocking!(@try $ty, $try_ $(, $($g),*)?);
            let _ = <$ty>::$timeout $(::<$($g),*>)?;
            let _ = <$ty>::$deadline $(::<$($g),*>)?;
        )+)*
    };
    (@try $ty:ty, - $(, $($g:ty),*)?) => {};
    (@try $ty:ty, $try_:ident $(, $($g:ty),*)?) => {
        let _ = <$ty>::$try_ $(::<$($g),*>)?;
    };
}

type Cond = fn(&mut u64) -> bool;

#[test]
fn every_object_has_the_same_constructors() {
    constructors! {
        Value<u64>, waits;
        Array<u64>, waits;
        Atomic<u64>;
        Mutex<u64>, waits;
        RwLock<u64>, waits;
        Semaphore, waits;
        BoundedSemaphore, waits;
        Event, waits;
        Condvar, waits;
        Barrier, waits;
        Segment<AtomicU64> [fn() -> AtomicU64];
        SharedMemory;
        Queue<u64>, waits;
        ByteQueue, waits;
        Pipe, waits;
        Broadcast<u64>, waits;
        ByteBroadcast, waits;
        MessageQueue, waits;
        DynQueue, waits;
    }
    // The other modes of a queue, each with its options form.
    let _ = Queue::<u64>::create_spsc;
    let _ = Queue::<u64>::create_spsc_with;
    let _ = Queue::<u64>::create_joinable;
    let _ = Queue::<u64>::create_joinable_with;
    let _ = Queue::<u64>::create_spsc_joinable;
    let _ = Queue::<u64>::create_spsc_joinable_with;
    let _ = MessageQueue::create_joinable;
    let _ = MessageQueue::create_joinable_with;
    let _ = DynQueue::create_spsc;
    let _ = DynQueue::create_spsc_with;
    let _ = DynQueue::create_joinable;
    let _ = DynQueue::create_joinable_with;
}

type Each = fn(&[u8]);
type Write = fn(&mut u64);
type Read = fn(&u64) -> u64;
type Len = fn(&[u8]) -> usize;
type With = fn(&[u8]) -> usize;

#[test]
fn every_blocking_call_has_try_timeout_and_deadline_forms() {
    blocking! {
        Value<u64>: lock / try_lock / lock_timeout / lock_deadline;
        Array<u64>: lock / try_lock / lock_timeout / lock_deadline;
        Mutex<u64>: lock / try_lock / lock_timeout / lock_deadline;
        RwLock<u64>:
            read / try_read / read_timeout / read_deadline,
            write / try_write / write_timeout / write_deadline;
        Semaphore: acquire / try_acquire / acquire_timeout / acquire_deadline;
        BoundedSemaphore: acquire / try_acquire / acquire_timeout / acquire_deadline;
        Event: wait / try_wait / wait_timeout / wait_deadline;
        Barrier: wait / try_wait / wait_timeout / wait_deadline;
        // A pending arrival's bounded waits that keep it counted are
        // `poll(timeout)` and `poll_deadline`; `poll(Duration::ZERO)` looks.
        BarrierArrival<'static>: wait / - / wait_timeout / wait_deadline;
        // A condvar wait that may not block would only unlock and re-lock
        // the mutex (std has no such form either).
        Condvar:
            wait::<u64> / - / wait_timeout / wait_deadline,
            wait_while::<u64, Cond> / - / wait_timeout_while / wait_deadline_while;
        MutexCell<u64>: lock::<AtomicU64> / try_lock / lock_timeout / lock_deadline;
        Queue<u64>: join / try_join / join_timeout / join_deadline;
        Sender<u64>:
            send / try_send / send_timeout / send_deadline,
            send_with::<Write> / try_send_with / send_with_timeout / send_with_deadline,
            send_batch / try_send_batch / send_batch_timeout / send_batch_deadline;
        Receiver<u64>:
            recv / try_recv / recv_timeout / recv_deadline,
            recv_with::<u64, Read> / try_recv_with / recv_with_timeout / recv_with_deadline,
            recv_batch / try_recv_batch / recv_batch_timeout / recv_batch_deadline;
        ByteSender:
            send / try_send / send_timeout / send_deadline,
            send_value::<u64> / try_send_value / send_value_timeout / send_value_deadline,
            send_batch::<&[u8]> / try_send_batch / send_batch_timeout / send_batch_deadline,
            reserve / try_reserve / reserve_timeout / reserve_deadline;
        // `poll` takes its timeout, as Python's `Connection.poll` does.
        ByteReceiver:
            recv / try_recv / recv_timeout / recv_deadline,
            recv_into / try_recv_into / recv_into_timeout / recv_into_deadline,
            recv_value::<u64> / try_recv_value / recv_value_timeout / recv_value_deadline,
            recv_ref / try_recv_ref / recv_ref_timeout / recv_ref_deadline,
            recv_batch::<Each> / try_recv_batch / recv_batch_timeout / recv_batch_deadline,
            poll / try_poll / poll / poll_deadline;
        MessageQueue: join / try_join / join_timeout / join_deadline;
        MessageSender: send / try_send / send_timeout / send_deadline;
        MessageReceiver:
            recv / try_recv / recv_timeout / recv_deadline,
            recv_into / try_recv_into / recv_into_timeout / recv_into_deadline,
            recv_with::<usize, With> / try_recv_with / recv_with_timeout / recv_with_deadline;
        DynQueue: join / try_join / join_timeout / join_deadline;
        DynSender: send / try_send / send_timeout / send_deadline;
        DynReceiver: recv / try_recv / recv_timeout / recv_deadline;
        Connection:
            send / try_send / send_timeout / send_deadline,
            send_value::<u64> / try_send_value / send_value_timeout / send_value_deadline,
            reserve / try_reserve / reserve_timeout / reserve_deadline,
            recv / try_recv / recv_timeout / recv_deadline,
            recv_into / try_recv_into / recv_into_timeout / recv_into_deadline,
            recv_value::<u64> / try_recv_value / recv_value_timeout / recv_value_deadline,
            recv_ref / try_recv_ref / recv_ref_timeout / recv_ref_deadline,
            poll / try_poll / poll / poll_deadline;
        Publisher<u64>:
            send / try_send / send_timeout / send_deadline,
            send_batch / try_send_batch / send_batch_timeout / send_batch_deadline;
        Subscriber<u64>:
            recv / try_recv / recv_timeout / recv_deadline,
            recv_with::<u64, Read> / try_recv_with / recv_with_timeout / recv_with_deadline;
        BytePublisher:
            send / try_send / send_timeout / send_deadline,
            send_batch::<&[u8]> / try_send_batch / send_batch_timeout / send_batch_deadline;
        ByteSubscriber:
            recv / try_recv / recv_timeout / recv_deadline,
            recv_into / try_recv_into / recv_into_timeout / recv_into_deadline,
            recv_with::<usize, Len> / try_recv_with / recv_with_timeout / recv_with_deadline;
    }
}
