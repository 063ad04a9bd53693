//! Queues of fixed-size elements, byte queues and pipes.

use std::ffi::{c_char, c_void};
use std::ptr::NonNull;
use std::sync::{Mutex as StdMutex, MutexGuard as StdGuard, TryLockError};

use shmkit::{
    ByteQueue, ByteReceiver, ByteRecvError, ByteSendError, ByteSender, Connection, Pipe, Queue, ReadGrant, Receiver,
    RecvTimeoutError, SendTimeoutError, Sender, Shape, TryRecvError, TrySendError, WaitStrategy, WriteGrant,
};

use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::types::{desc, shmkit_type};
use crate::{Fail, How, Outcome, Wait, bytes_in, bytes_out, call, name_arg, need, options, put, shmkit_options};

/// A bounded queue of fixed-size elements shared by name (Rust
/// `shmkit::Queue<T>`): make ends with `shmkit_queue_sender` and
/// `shmkit_queue_receiver`.
pub struct shmkit_queue {
    _private: [u8; 0],
}

/// The sending end of a `shmkit_queue`. Thread-safe (any number of senders
/// of an MPMC queue; one of a single-producer queue).
pub struct shmkit_sender {
    _private: [u8; 0],
}

/// The receiving end of a `shmkit_queue`. Thread-safe (any number of
/// receivers of an MPMC queue; one of a single-producer queue).
pub struct shmkit_receiver {
    _private: [u8; 0],
}

/// A queue of variable-size messages shared by name (Rust
/// `shmkit::ByteQueue`), one sender and one receiver at a time.
pub struct shmkit_byte_queue {
    _private: [u8; 0],
}

/// The sending end of a `shmkit_byte_queue`. One thread at a time (a
/// concurrent call returns SHMKIT_BUSY).
pub struct shmkit_byte_sender {
    _private: [u8; 0],
}

/// The receiving end of a `shmkit_byte_queue`. One thread at a time (a
/// concurrent call returns SHMKIT_BUSY).
pub struct shmkit_byte_receiver {
    _private: [u8; 0],
}

/// A duplex pipe of two byte queues shared by name (Rust `shmkit::Pipe`):
/// each of two processes takes an end with `shmkit_pipe_connect`.
pub struct shmkit_pipe {
    _private: [u8; 0],
}

/// One end of a `shmkit_pipe`. One thread at a time (a concurrent call
/// returns SHMKIT_BUSY).
pub struct shmkit_connection {
    _private: [u8; 0],
}

object! {
    shmkit_queue => QueueH, 10;
    shmkit_sender => AnySender, 11;
    shmkit_receiver => AnyReceiver, 12;
    shmkit_byte_queue => (ByteQueue, WaitStrategy), 13;
    shmkit_byte_sender => Exclusive<TxState>, 14;
    shmkit_byte_receiver => Exclusive<RxState>, 15;
    shmkit_pipe => (Pipe, WaitStrategy), 16;
    shmkit_connection => Exclusive<Connection>, 17;
}

/// `SHMKIT_MPMC`: any number of senders and receivers.
pub const SHMKIT_MPMC: u32 = 0;
/// `SHMKIT_SPSC`: one sender and one receiver at a time (faster: no CAS).
pub const SHMKIT_SPSC: u32 = 1;

// ------------------------------------------------------- typed queues

pub(crate) enum AnyQueue {
    U8(Queue<u8>),
    I8(Queue<i8>),
    U16(Queue<u16>),
    I16(Queue<i16>),
    U32(Queue<u32>),
    I32(Queue<i32>),
    U64(Queue<u64>),
    I64(Queue<i64>),
    F32(Queue<f32>),
    F64(Queue<f64>),
}

pub(crate) enum AnySender {
    U8(Sender<u8>),
    I8(Sender<i8>),
    U16(Sender<u16>),
    I16(Sender<i16>),
    U32(Sender<u32>),
    I32(Sender<i32>),
    U64(Sender<u64>),
    I64(Sender<i64>),
    F32(Sender<f32>),
    F64(Sender<f64>),
}

pub(crate) enum AnyReceiver {
    U8(Receiver<u8>),
    I8(Receiver<i8>),
    U16(Receiver<u16>),
    I16(Receiver<i16>),
    U32(Receiver<u32>),
    I32(Receiver<i32>),
    U64(Receiver<u64>),
    I64(Receiver<i64>),
    F32(Receiver<f32>),
    F64(Receiver<f64>),
}

/// Runs `$body` with `$x` bound to the inner end and `T` its element type.
macro_rules! dispatch {
    ($e:expr, $Enum:ident, $x:ident => $body:expr) => {
        match $e {
            $Enum::U8($x) => {
                #[allow(dead_code)]
                type T = u8;
                $body
            }
            $Enum::I8($x) => {
                #[allow(dead_code)]
                type T = i8;
                $body
            }
            $Enum::U16($x) => {
                #[allow(dead_code)]
                type T = u16;
                $body
            }
            $Enum::I16($x) => {
                #[allow(dead_code)]
                type T = i16;
                $body
            }
            $Enum::U32($x) => {
                #[allow(dead_code)]
                type T = u32;
                $body
            }
            $Enum::I32($x) => {
                #[allow(dead_code)]
                type T = i32;
                $body
            }
            $Enum::U64($x) => {
                #[allow(dead_code)]
                type T = u64;
                $body
            }
            $Enum::I64($x) => {
                #[allow(dead_code)]
                type T = i64;
                $body
            }
            $Enum::F32($x) => {
                #[allow(dead_code)]
                type T = f32;
                $body
            }
            $Enum::F64($x) => {
                #[allow(dead_code)]
                type T = f64;
                $body
            }
        }
    };
}

#[allow(clippy::too_many_arguments)]
fn make_queue(
    elem: &str,
    name: &str,
    how: How,
    capacity: usize,
    flavor: u32,
    opts: &shmkit::OpenOptions,
    strategy: WaitStrategy,
) -> Result<AnyQueue, Fail> {
    Ok(match elem {
        "u8" => AnyQueue::U8(open_queue::<u8>(name, how, capacity, flavor, opts)?.with_wait_strategy(strategy)),
        "i8" => AnyQueue::I8(open_queue::<i8>(name, how, capacity, flavor, opts)?.with_wait_strategy(strategy)),
        "u16" => AnyQueue::U16(open_queue::<u16>(name, how, capacity, flavor, opts)?.with_wait_strategy(strategy)),
        "i16" => AnyQueue::I16(open_queue::<i16>(name, how, capacity, flavor, opts)?.with_wait_strategy(strategy)),
        "u32" => AnyQueue::U32(open_queue::<u32>(name, how, capacity, flavor, opts)?.with_wait_strategy(strategy)),
        "i32" => AnyQueue::I32(open_queue::<i32>(name, how, capacity, flavor, opts)?.with_wait_strategy(strategy)),
        "u64" => AnyQueue::U64(open_queue::<u64>(name, how, capacity, flavor, opts)?.with_wait_strategy(strategy)),
        "i64" => AnyQueue::I64(open_queue::<i64>(name, how, capacity, flavor, opts)?.with_wait_strategy(strategy)),
        "f32" => AnyQueue::F32(open_queue::<f32>(name, how, capacity, flavor, opts)?.with_wait_strategy(strategy)),
        "f64" => AnyQueue::F64(open_queue::<f64>(name, how, capacity, flavor, opts)?.with_wait_strategy(strategy)),
        other => {
            return Err(Fail::arg(format!(
                "queues of '{other}' are not supported by the C ABI yet: use a built-in type code"
            )));
        }
    })
}

pub(crate) struct QueueH {
    q: AnyQueue,
    strategy: WaitStrategy,
}

fn open_queue<T: shmkit::ShmType>(
    name: &str,
    how: How,
    capacity: usize,
    flavor: u32,
    opts: &shmkit::OpenOptions,
) -> Result<Queue<T>, Fail> {
    let spsc = match flavor {
        SHMKIT_MPMC => false,
        SHMKIT_SPSC => true,
        other => return Err(Fail::arg(format!("flavor {other} is not SHMKIT_MPMC or SHMKIT_SPSC"))),
    };
    let create =
        || if spsc { Queue::create_spsc_with(name, capacity, opts) } else { Queue::create_with(name, capacity, opts) };
    Ok(match how {
        How::Create => create()?,
        How::Open => Queue::open_with(name, opts)?,
        How::OpenOrCreate if !spsc => Queue::open_or_create_with(name, capacity, opts)?,
        How::OpenOrCreate => match create() {
            Err(shmkit::Error::AlreadyExists { .. }) => Queue::open_with(name, opts)?,
            other => other?,
        },
    })
}

/// Creates, opens or open-or-creates (`how`) the queue `name` of elements
/// of the built-in type `elem` (made by `shmkit_type_new_primitive`),
/// holding up to `capacity` elements (rounded up to a power of two, at most
/// 2^30), `flavor` `SHMKIT_MPMC` or `SHMKIT_SPSC` (used when it creates
/// it; an open learns both). Ownership, thread-safety and errors as
/// `shmkit_value_new`. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_queue_new(
    name: *const c_char,
    how: u32,
    elem: *const shmkit_type,
    capacity: usize,
    flavor: u32,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_queue,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, ty, (opts, strategy)) = unsafe { (name_arg(name)?, desc(elem)?, options(opts)?) };
        if !matches!(ty.shape, Shape::Primitive) {
            return Err(Fail::arg(format!(
                "queues of '{}' are not supported by the C ABI yet: use a built-in type code",
                ty.name
            )));
        }
        let q = make_queue(&ty.name, name, crate::how(how)?, capacity, flavor, &opts, strategy)?;
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, QueueH { q, strategy }) }
    })
}

/// Makes a sending end of the queue, owned by the caller
/// (`shmkit_sender_free`; when every sender of a queue is freed or its
/// process died, receivers get SHMKIT_DISCONNECTED once it is empty).
/// SHMKIT_BUSY: the single-producer queue's sender is held by a live
/// process. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_queue_sender(q: *const shmkit_queue, out: *mut *mut shmkit_sender) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: a live handle or NULL.
        let h = unsafe { handle::get(q)? };
        let s = dispatch!(&h.q, AnyQueue, q => AnySender::from(q.sender()?.with_wait_strategy(h.strategy)));
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, s) }
    })
}

/// Makes a receiving end of the queue, owned by the caller
/// (`shmkit_receiver_free`; when every receiver is gone, senders get
/// SHMKIT_DISCONNECTED). SHMKIT_BUSY as `shmkit_queue_sender`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_queue_receiver(
    q: *const shmkit_queue,
    out: *mut *mut shmkit_receiver,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: a live handle or NULL.
        let h = unsafe { handle::get(q)? };
        let r = dispatch!(&h.q, AnyQueue, q => AnyReceiver::from(q.receiver()?.with_wait_strategy(h.strategy)));
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, r) }
    })
}

/// The number of messages in the queue now (a snapshot), written to
/// `*len`. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_queue_len(q: *const shmkit_queue, len: *mut usize) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let h = unsafe { handle::get(q)? };
        let n = dispatch!(&h.q, AnyQueue, q => q.len());
        // SAFETY: writable or NULL (the caller's promise).
        unsafe { put(len, "len", n)? };
        Ok(SHMKIT_OK)
    })
}

/// The queue's capacity in elements, written to `*capacity`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_queue_capacity(q: *const shmkit_queue, capacity: *mut usize) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let h = unsafe { handle::get(q)? };
        let n = dispatch!(&h.q, AnyQueue, q => q.capacity());
        // SAFETY: writable or NULL (the caller's promise).
        unsafe { put(capacity, "capacity", n)? };
        Ok(SHMKIT_OK)
    })
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_queue_persist(q: *const shmkit_queue) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let h = unsafe { handle::get(q)? };
        dispatch!(&h.q, AnyQueue, q => q.persist());
        Ok(SHMKIT_OK)
    })
}

/// Frees the queue handle (its ends stay usable). As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_queue_free(q: *mut shmkit_queue) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(q) }
}

macro_rules! from_ends {
    ($($v:ident: $t:ty),*) => {$(
        impl From<Sender<$t>> for AnySender {
            fn from(s: Sender<$t>) -> Self {
                AnySender::$v(s)
            }
        }
        impl From<Receiver<$t>> for AnyReceiver {
            fn from(r: Receiver<$t>) -> Self {
                AnyReceiver::$v(r)
            }
        }
    )*};
}

from_ends!(U8: u8, I8: i8, U16: u16, I16: i16, U32: u32, I32: i32, U64: u64, I64: i64, F32: f32, F64: f64);

fn disconnected(e: impl std::fmt::Display) -> Fail {
    Fail::new(SHMKIT_DISCONNECTED, e)
}

impl AnySender {
    fn send(&self, elem: *const c_void, wait: Wait) -> Outcome {
        dispatch!(self, AnySender, s => {
            // SAFETY: `elem` holds one element (the caller's promise).
            let bytes = unsafe { bytes_in(elem, std::mem::size_of::<T>(), "elem")? };
            let v: T = bytemuck::pod_read_unaligned(bytes);
            match wait {
                Wait::Forever => s.send(v).map_err(disconnected)?,
                Wait::Now => s.try_send(v).map_err(|e| match e {
                    TrySendError::Full(_) => Fail::new(SHMKIT_FULL, e),
                    TrySendError::Disconnected(_) => disconnected(e),
                })?,
                Wait::Until(t) => s.send_deadline(v, t).map_err(|e| match e {
                    SendTimeoutError::Timeout(_) => Fail::new(SHMKIT_TIMEOUT, e),
                    SendTimeoutError::Disconnected(_) => disconnected(e),
                })?,
            }
            Ok(SHMKIT_OK)
        })
    }

    fn send_batch(&self, elems: *const c_void, count: usize, sent: *mut usize, wait: Wait) -> Outcome {
        need(sent, "sent")?;
        dispatch!(self, AnySender, s => {
            let len = count.checked_mul(std::mem::size_of::<T>()).ok_or_else(|| Fail::arg("count too large"))?;
            // SAFETY: `elems` holds `count` elements (the caller's promise).
            let bytes = unsafe { bytes_in(elems, len, "elems")? };
            let copied;
            let values: &[T] = match bytemuck::try_cast_slice(bytes) {
                Ok(v) => v,
                Err(_) => {
                    copied = bytes.chunks_exact(std::mem::size_of::<T>()).map(bytemuck::pod_read_unaligned).collect::<Vec<T>>();
                    &copied
                }
            };
            let n = match wait {
                Wait::Forever => s.send_batch(values).map(|()| count).map_err(disconnected),
                Wait::Now => s.try_send_batch(values).map_err(disconnected),
                Wait::Until(t) => s.send_batch_deadline(values, t).map_err(disconnected),
            };
            let n = match n {
                Ok(n) => n,
                Err(f) => {
                    // SAFETY: checked non-NULL above, writable.
                    unsafe { sent.write(0) };
                    return Err(f);
                }
            };
            // SAFETY: checked non-NULL above, writable (the caller's promise).
            unsafe { sent.write(n) };
            Ok(if n < count && wait == Wait::Now { SHMKIT_FULL } else if n < count { SHMKIT_TIMEOUT } else { SHMKIT_OK })
        })
    }
}

impl AnyReceiver {
    fn recv(&self, out: *mut c_void, wait: Wait) -> Outcome {
        dispatch!(self, AnyReceiver, r => {
            // SAFETY: `out` holds one element (the caller's promise).
            let out = unsafe { bytes_out(out, std::mem::size_of::<T>(), "out")? };
            let v: T = match wait {
                Wait::Forever => r.recv().map_err(disconnected)?,
                Wait::Now => r.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => Fail::new(SHMKIT_EMPTY, e),
                    TryRecvError::Disconnected => disconnected(e),
                })?,
                Wait::Until(t) => r.recv_deadline(t).map_err(|e| match e {
                    RecvTimeoutError::Timeout => Fail::new(SHMKIT_TIMEOUT, e),
                    RecvTimeoutError::Disconnected => disconnected(e),
                })?,
            };
            out.copy_from_slice(bytemuck::bytes_of(&v));
            Ok(SHMKIT_OK)
        })
    }

    fn recv_batch(&self, out: *mut c_void, max: usize, got: *mut usize, wait: Wait) -> Outcome {
        need(got, "got")?;
        dispatch!(self, AnyReceiver, r => {
            let len = max.checked_mul(std::mem::size_of::<T>()).ok_or_else(|| Fail::arg("max too large"))?;
            // SAFETY: `out` holds `max` elements (the caller's promise).
            let bytes = unsafe { bytes_out(out, len, "out")? };
            let buf: &mut [T] = bytemuck::try_cast_slice_mut(bytes)
                .map_err(|_| Fail::arg("out is not aligned for the element type"))?;
            let n = match wait {
                Wait::Forever => r.recv_batch(buf).map_err(disconnected)?,
                Wait::Now => r.try_recv_batch(buf).map_err(|e| match e {
                    TryRecvError::Empty => Fail::new(SHMKIT_EMPTY, e),
                    TryRecvError::Disconnected => disconnected(e),
                })?,
                Wait::Until(t) => r.recv_batch_deadline(buf, t).map_err(|e| match e {
                    RecvTimeoutError::Timeout => Fail::new(SHMKIT_TIMEOUT, e),
                    RecvTimeoutError::Disconnected => disconnected(e),
                })?,
            };
            // SAFETY: checked non-NULL above, writable (the caller's promise).
            unsafe { got.write(n) };
            Ok(SHMKIT_OK)
        })
    }
}

/// Sends one element (the queue's element size, read from `elem`),
/// blocking while the queue is full. SHMKIT_DISCONNECTED: every receiver
/// has gone. Thread-safe.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_sender_send(s: *const shmkit_sender, elem: *const c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.send(elem, Wait::Forever))
}

/// `shmkit_sender_send` if there is room now (SHMKIT_FULL if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_sender_try_send(s: *const shmkit_sender, elem: *const c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.send(elem, Wait::Now))
}

/// `shmkit_sender_send` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_sender_send_timeout(
    s: *const shmkit_sender,
    elem: *const c_void,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.send(elem, Wait::timeout(timeout_ns)))
}

/// `shmkit_sender_send` waiting until CLOCK_MONOTONIC `deadline_ns` at most.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_sender_send_deadline(
    s: *const shmkit_sender,
    elem: *const c_void,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.send(elem, Wait::deadline(deadline_ns)))
}

/// Sends `count` elements from `elems` in order, blocking until all are
/// sent; `*sent` is the number sent (all, or 0 with SHMKIT_DISCONNECTED).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_sender_send_batch(
    s: *const shmkit_sender,
    elems: *const c_void,
    count: usize,
    sent: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.send_batch(elems, count, sent, Wait::Forever))
}

/// Sends as many of the `count` elements as fit now, in order; `*sent` is
/// how many (SHMKIT_FULL if not all).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_sender_try_send_batch(
    s: *const shmkit_sender,
    elems: *const c_void,
    count: usize,
    sent: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.send_batch(elems, count, sent, Wait::Now))
}

/// `shmkit_sender_send_batch` waiting at most `timeout_ns`; `*sent` is how
/// many were sent (SHMKIT_TIMEOUT if not all).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_sender_send_batch_timeout(
    s: *const shmkit_sender,
    elems: *const c_void,
    count: usize,
    sent: *mut usize,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.send_batch(elems, count, sent, Wait::timeout(timeout_ns)))
}

/// `shmkit_sender_send_batch` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_sender_send_batch_deadline(
    s: *const shmkit_sender,
    elems: *const c_void,
    count: usize,
    sent: *mut usize,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.send_batch(elems, count, sent, Wait::deadline(deadline_ns)))
}

/// Frees the sending end (the last sender gone disconnects the receivers).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_sender_free(s: *mut shmkit_sender) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(s) }
}

/// Receives one element into `out` (the queue's element size), blocking
/// while the queue is empty. SHMKIT_DISCONNECTED: empty and every sender
/// has gone (exited or died). Thread-safe.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_receiver_recv(r: *const shmkit_receiver, out: *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.recv(out, Wait::Forever))
}

/// `shmkit_receiver_recv` if a message is there now (SHMKIT_EMPTY if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_receiver_try_recv(r: *const shmkit_receiver, out: *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.recv(out, Wait::Now))
}

/// `shmkit_receiver_recv` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_receiver_recv_timeout(
    r: *const shmkit_receiver,
    out: *mut c_void,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.recv(out, Wait::timeout(timeout_ns)))
}

/// `shmkit_receiver_recv` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_receiver_recv_deadline(
    r: *const shmkit_receiver,
    out: *mut c_void,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.recv(out, Wait::deadline(deadline_ns)))
}

/// Receives up to `max` elements into `out` (aligned for the element
/// type), blocking until at least one is there; `*got` is how many.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_receiver_recv_batch(
    r: *const shmkit_receiver,
    out: *mut c_void,
    max: usize,
    got: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.recv_batch(out, max, got, Wait::Forever))
}

/// `shmkit_receiver_recv_batch` taking what is there now (SHMKIT_EMPTY if
/// nothing).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_receiver_try_recv_batch(
    r: *const shmkit_receiver,
    out: *mut c_void,
    max: usize,
    got: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.recv_batch(out, max, got, Wait::Now))
}

/// `shmkit_receiver_recv_batch` waiting at most `timeout_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_receiver_recv_batch_timeout(
    r: *const shmkit_receiver,
    out: *mut c_void,
    max: usize,
    got: *mut usize,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.recv_batch(out, max, got, Wait::timeout(timeout_ns)))
}

/// `shmkit_receiver_recv_batch` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_receiver_recv_batch_deadline(
    r: *const shmkit_receiver,
    out: *mut c_void,
    max: usize,
    got: *mut usize,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.recv_batch(out, max, got, Wait::deadline(deadline_ns)))
}

/// Frees the receiving end.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_receiver_free(r: *mut shmkit_receiver) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(r) }
}

// ---------------------------------------------------------- byte queues

/// An end used by one thread at a time: a second thread's concurrent call
/// is SHMKIT_BUSY rather than a data race.
pub(crate) struct Exclusive<T>(StdMutex<T>);

impl<T> Exclusive<T> {
    fn take(&self) -> Result<StdGuard<'_, T>, Fail> {
        match self.0.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(Fail::new(
                SHMKIT_BUSY,
                "this end is in use by another thread: use an end from one thread at a time",
            )),
        }
    }
}

fn send_fail(e: ByteSendError) -> Fail {
    let status = match &e {
        ByteSendError::Full => SHMKIT_FULL,
        ByteSendError::Timeout => SHMKIT_TIMEOUT,
        ByteSendError::Disconnected => SHMKIT_DISCONNECTED,
        ByteSendError::TooLarge { .. } => SHMKIT_TOO_LARGE,
        ByteSendError::Corrupt(_) => SHMKIT_CORRUPT,
        _ => SHMKIT_INTERNAL,
    };
    Fail::new(status, e)
}

fn recv_fail(e: ByteRecvError) -> Fail {
    let status = match &e {
        ByteRecvError::Empty => SHMKIT_EMPTY,
        ByteRecvError::Timeout => SHMKIT_TIMEOUT,
        ByteRecvError::Disconnected => SHMKIT_DISCONNECTED,
        ByteRecvError::BufferTooSmall { .. } => SHMKIT_BUFFER_TOO_SMALL,
        ByteRecvError::Corrupt(_) => SHMKIT_CORRUPT,
        _ => SHMKIT_INTERNAL,
    };
    Fail::new(status, e)
}

/// The sender and the reservation C holds, if any.
pub(crate) struct TxState {
    /// Borrows `*tx`; dropped (rolled back) before it.
    grant: Option<WriteGrant<'static>>,
    tx: NonNull<ByteSender>,
}

// SAFETY: the sender is Send; the grant borrows only it, and both move
// together.
unsafe impl Send for TxState {}

impl TxState {
    fn new(tx: ByteSender) -> Self {
        TxState { grant: None, tx: NonNull::from(Box::leak(Box::new(tx))) }
    }

    fn sender(&mut self) -> Result<&mut ByteSender, Fail> {
        if self.grant.is_some() {
            return Err(Fail::new(SHMKIT_BUSY, "a reservation is outstanding: commit or abort it first"));
        }
        // SAFETY: `tx` is the box leaked in `new`, freed only in drop; no
        // grant borrows it (checked), and `&mut self` is unique.
        Ok(unsafe { self.tx.as_mut() })
    }

    fn send(&mut self, msg: &[u8], wait: Wait) -> Outcome {
        let tx = self.sender()?;
        match wait {
            Wait::Forever => tx.send(msg),
            Wait::Now => tx.try_send(msg),
            Wait::Until(t) => tx.send_deadline(msg, t),
        }
        .map_err(send_fail)?;
        Ok(SHMKIT_OK)
    }

    fn reserve(&mut self, len: usize, wait: Wait, buf: *mut *mut c_void) -> Outcome {
        need(buf, "buf")?;
        self.sender()?;
        // SAFETY: no grant is outstanding (checked just above); the new one
        // borrows the leaked box, which outlives it (drop order in `Drop`).
        let tx: &'static mut ByteSender = unsafe { &mut *self.tx.as_ptr() };
        let mut grant = match wait {
            Wait::Forever => tx.reserve(len),
            Wait::Now => tx.try_reserve(len),
            Wait::Until(t) => tx.reserve_deadline(len, t),
        }
        .map_err(send_fail)?;
        // SAFETY: non-NULL and writable (checked; the caller's promise).
        unsafe { buf.write(grant.as_mut_ptr().cast()) };
        self.grant = Some(grant);
        Ok(SHMKIT_OK)
    }

    fn commit(&mut self, len: usize) -> Outcome {
        let grant = self.grant.take().ok_or_else(|| Fail::arg("no reservation to commit"))?;
        if len > grant.len() {
            let reserved = grant.len();
            self.grant = Some(grant);
            return Err(Fail::arg(format!("committing {len} bytes of a reservation of {reserved}")));
        }
        if len == grant.len() {
            grant.commit()
        } else {
            grant.commit_len(len)
        }
        Ok(SHMKIT_OK)
    }
}

impl Drop for TxState {
    fn drop(&mut self) {
        // The grant (rolled back if not committed) goes before the sender.
        self.grant = None;
        // SAFETY: the box leaked in `new`, no longer borrowed.
        drop(unsafe { Box::from_raw(self.tx.as_ptr()) });
    }
}

/// The receiver and the message C reads in place, if any.
pub(crate) struct RxState {
    /// Borrows `*rx`; dropped (released) before it.
    grant: Option<ReadGrant<'static>>,
    rx: NonNull<ByteReceiver>,
}

// SAFETY: as for TxState.
unsafe impl Send for RxState {}

impl RxState {
    fn new(rx: ByteReceiver) -> Self {
        RxState { grant: None, rx: NonNull::from(Box::leak(Box::new(rx))) }
    }

    fn receiver(&mut self) -> Result<&mut ByteReceiver, Fail> {
        if self.grant.is_some() {
            return Err(Fail::new(SHMKIT_BUSY, "a message is held by recv_ref: release it first"));
        }
        // SAFETY: as in TxState::sender.
        Ok(unsafe { self.rx.as_mut() })
    }

    fn recv_ref(&mut self, wait: Wait, data: *mut *const c_void, len: *mut usize) -> Outcome {
        need(data, "data")?;
        need(len, "len")?;
        self.receiver()?;
        // SAFETY: as in TxState::reserve.
        let rx: &'static mut ByteReceiver = unsafe { &mut *self.rx.as_ptr() };
        let grant = match wait {
            Wait::Forever => rx.recv_ref(),
            Wait::Now => rx.try_recv_ref(),
            Wait::Until(t) => rx.recv_ref_deadline(t),
        }
        .map_err(recv_fail)?;
        // SAFETY: both non-NULL and writable (checked; the caller's promise).
        unsafe {
            data.write(grant.as_ptr().cast());
            len.write(grant.len());
        }
        self.grant = Some(grant);
        Ok(SHMKIT_OK)
    }
}

impl Drop for RxState {
    fn drop(&mut self) {
        self.grant = None;
        // SAFETY: the box leaked in `new`, no longer borrowed.
        drop(unsafe { Box::from_raw(self.rx.as_ptr()) });
    }
}

/// Receives into `buf` through `recv_into`-like `f`: `*len` is the message
/// length, also when the buffer is too small (SHMKIT_BUFFER_TOO_SMALL, the
/// message left in the queue).
///
/// # Safety
/// `buf` holds `cap` writable bytes; `len` is NULL or writable.
unsafe fn recv_into(
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    f: impl FnOnce(&mut [u8]) -> Result<usize, ByteRecvError>,
) -> Outcome {
    need(len, "len")?;
    // SAFETY: the caller's promise.
    let out = unsafe { bytes_out(buf, cap, "buf")? };
    match f(out) {
        Ok(n) => {
            // SAFETY: checked non-NULL, writable.
            unsafe { len.write(n) };
            Ok(SHMKIT_OK)
        }
        Err(e @ ByteRecvError::BufferTooSmall { len: need_len }) => {
            // SAFETY: checked non-NULL, writable.
            unsafe { len.write(need_len) };
            Err(recv_fail(e))
        }
        Err(e) => Err(recv_fail(e)),
    }
}

fn recv_wait(rx: &mut ByteReceiver, buf: &mut [u8], wait: Wait) -> Result<usize, ByteRecvError> {
    match wait {
        Wait::Forever => rx.recv_into(buf),
        Wait::Now => rx.try_recv_into(buf),
        Wait::Until(t) => rx.recv_into_deadline(buf, t),
    }
}

/// Creates, opens or open-or-creates (`how`) the byte queue `name` with a
/// ring of `capacity_bytes` (rounded up to a power of two, at least 64; a
/// message takes its length rounded up to 8, plus 8 bytes). Ownership,
/// thread-safety and errors as `shmkit_value_new`. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_queue_new(
    name: *const c_char,
    how: u32,
    capacity_bytes: usize,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_byte_queue,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, (opts, strategy)) = unsafe { (name_arg(name)?, options(opts)?) };
        let q = match crate::how(how)? {
            How::Create => ByteQueue::create_with(name, capacity_bytes, &opts)?,
            How::Open => ByteQueue::open_with(name, &opts)?,
            How::OpenOrCreate => ByteQueue::open_or_create_with(name, capacity_bytes, &opts)?,
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, (q.with_wait_strategy(strategy), strategy)) }
    })
}

/// Takes the sending end (SHMKIT_BUSY if a live process holds it; a dead
/// holder's end is taken over). Owned by the caller
/// (`shmkit_byte_sender_free`, which gives the end back). Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_queue_sender(
    q: *const shmkit_byte_queue,
    out: *mut *mut shmkit_byte_sender,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: a live handle or NULL.
        let (q, strategy) = unsafe { handle::get(q)? };
        let tx = q.sender()?.with_wait_strategy(*strategy);
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, Exclusive(StdMutex::new(TxState::new(tx)))) }
    })
}

/// Takes the receiving end. As `shmkit_byte_queue_sender`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_queue_receiver(
    q: *const shmkit_byte_queue,
    out: *mut *mut shmkit_byte_receiver,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: a live handle or NULL.
        let (q, strategy) = unsafe { handle::get(q)? };
        let rx = q.receiver()?.with_wait_strategy(*strategy);
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, Exclusive(StdMutex::new(RxState::new(rx)))) }
    })
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_queue_persist(q: *const shmkit_byte_queue) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(q)? }.0.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the queue handle (its ends stay usable). As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_queue_free(q: *mut shmkit_byte_queue) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(q) }
}

/// Sends the `len` bytes at `msg` as one message, blocking while there is
/// no room. SHMKIT_TOO_LARGE: longer than the queue ever carries;
/// SHMKIT_DISCONNECTED: the receiver has gone.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_send(
    s: *const shmkit_byte_sender,
    msg: *const c_void,
    len: usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, msg) = unsafe { (handle::get(s)?, bytes_in(msg, len, "msg")?) };
        s.take()?.send(msg, Wait::Forever)
    })
}

/// `shmkit_byte_sender_send` if there is room now (SHMKIT_FULL if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_try_send(
    s: *const shmkit_byte_sender,
    msg: *const c_void,
    len: usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, msg) = unsafe { (handle::get(s)?, bytes_in(msg, len, "msg")?) };
        s.take()?.send(msg, Wait::Now)
    })
}

/// `shmkit_byte_sender_send` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_send_timeout(
    s: *const shmkit_byte_sender,
    msg: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, msg) = unsafe { (handle::get(s)?, bytes_in(msg, len, "msg")?) };
        s.take()?.send(msg, Wait::timeout(timeout_ns))
    })
}

/// `shmkit_byte_sender_send` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_send_deadline(
    s: *const shmkit_byte_sender,
    msg: *const c_void,
    len: usize,
    deadline_ns: u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, msg) = unsafe { (handle::get(s)?, bytes_in(msg, len, "msg")?) };
        s.take()?.send(msg, Wait::deadline(deadline_ns))
    })
}

/// Zero-copy send: reserves `len` bytes in the ring, blocking while there
/// is no room, and writes their address to `*buf` (8-byte aligned). Write
/// the message there, then `shmkit_byte_sender_commit` (or `_abort`). Until
/// then the sender does nothing else (SHMKIT_BUSY).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_reserve(
    s: *const shmkit_byte_sender,
    len: usize,
    buf: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.take()?.reserve(len, Wait::Forever, buf))
}

/// `shmkit_byte_sender_reserve` if there is room now (SHMKIT_FULL if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_try_reserve(
    s: *const shmkit_byte_sender,
    len: usize,
    buf: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.take()?.reserve(len, Wait::Now, buf))
}

/// `shmkit_byte_sender_reserve` waiting at most `timeout_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_reserve_timeout(
    s: *const shmkit_byte_sender,
    len: usize,
    buf: *mut *mut c_void,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.take()?.reserve(len, Wait::timeout(timeout_ns), buf))
}

/// `shmkit_byte_sender_reserve` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_reserve_deadline(
    s: *const shmkit_byte_sender,
    len: usize,
    buf: *mut *mut c_void,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.take()?.reserve(len, Wait::deadline(deadline_ns), buf))
}

/// Publishes the first `len` bytes (at most the reserved length) of the
/// reservation as one message. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_commit(s: *const shmkit_byte_sender, len: usize) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(s)? }.take()?.commit(len))
}

/// Drops the reservation: nothing is sent. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_abort(s: *const shmkit_byte_sender) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut st = unsafe { handle::get(s)? }.take()?;
        st.grant.take().ok_or_else(|| Fail::arg("no reservation to abort"))?;
        Ok(SHMKIT_OK)
    })
}

/// The longest message the queue carries, written to `*max`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_max_message_len(
    s: *const shmkit_byte_sender,
    max: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut st = unsafe { handle::get(s)? }.take()?;
        let n = st.sender()?.max_message_len();
        // SAFETY: NULL or writable (the caller's promise).
        unsafe { put(max, "max", n)? };
        Ok(SHMKIT_OK)
    })
}

/// Frees the sending end (an outstanding reservation is dropped); the
/// receiver sees SHMKIT_DISCONNECTED once it has read what is left.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_sender_free(s: *mut shmkit_byte_sender) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(s) }
}

/// Receives the next message into `buf` (`cap` bytes), blocking while the
/// queue is empty; `*len` is its length. SHMKIT_BUFFER_TOO_SMALL: `*len`
/// is the length needed and the message stays in the queue.
/// SHMKIT_DISCONNECTED: empty and the sender has gone.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_receiver_recv(
    r: *const shmkit_byte_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut st = unsafe { handle::get(r)? }.take()?;
        let rx = st.receiver()?;
        // SAFETY: as above.
        unsafe { recv_into(buf, cap, len, |b| recv_wait(rx, b, Wait::Forever)) }
    })
}

/// `shmkit_byte_receiver_recv` if a message is there now (SHMKIT_EMPTY).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_receiver_try_recv(
    r: *const shmkit_byte_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut st = unsafe { handle::get(r)? }.take()?;
        let rx = st.receiver()?;
        // SAFETY: as above.
        unsafe { recv_into(buf, cap, len, |b| recv_wait(rx, b, Wait::Now)) }
    })
}

/// `shmkit_byte_receiver_recv` waiting at most `timeout_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_receiver_recv_timeout(
    r: *const shmkit_byte_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut st = unsafe { handle::get(r)? }.take()?;
        let rx = st.receiver()?;
        // SAFETY: as above.
        unsafe { recv_into(buf, cap, len, |b| recv_wait(rx, b, Wait::timeout(timeout_ns))) }
    })
}

/// `shmkit_byte_receiver_recv` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_receiver_recv_deadline(
    r: *const shmkit_byte_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    deadline_ns: u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut st = unsafe { handle::get(r)? }.take()?;
        let rx = st.receiver()?;
        // SAFETY: as above.
        unsafe { recv_into(buf, cap, len, |b| recv_wait(rx, b, Wait::deadline(deadline_ns))) }
    })
}

/// Zero-copy receive: waits for the next message and writes its address
/// (8-byte aligned) and length to `*data` and `*len`. Read it in place,
/// then `shmkit_byte_receiver_release`; until then the receiver does
/// nothing else (SHMKIT_BUSY).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_receiver_recv_ref(
    r: *const shmkit_byte_receiver,
    data: *mut *const c_void,
    len: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.take()?.recv_ref(Wait::Forever, data, len))
}

/// `shmkit_byte_receiver_recv_ref` if a message is there now.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_receiver_try_recv_ref(
    r: *const shmkit_byte_receiver,
    data: *mut *const c_void,
    len: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.take()?.recv_ref(Wait::Now, data, len))
}

/// `shmkit_byte_receiver_recv_ref` waiting at most `timeout_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_receiver_recv_ref_timeout(
    r: *const shmkit_byte_receiver,
    data: *mut *const c_void,
    len: *mut usize,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.take()?.recv_ref(Wait::timeout(timeout_ns), data, len))
}

/// `shmkit_byte_receiver_recv_ref` waiting until CLOCK_MONOTONIC
/// `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_receiver_recv_ref_deadline(
    r: *const shmkit_byte_receiver,
    data: *mut *const c_void,
    len: *mut usize,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.take()?.recv_ref(Wait::deadline(deadline_ns), data, len))
}

/// Frees the message held by `recv_ref` (its pointer is then invalid).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_receiver_release(r: *const shmkit_byte_receiver) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut st = unsafe { handle::get(r)? }.take()?;
        st.grant.take().ok_or_else(|| Fail::arg("no message held by recv_ref to release"))?;
        Ok(SHMKIT_OK)
    })
}

/// Frees the receiving end (a held message is released).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_byte_receiver_free(r: *mut shmkit_byte_receiver) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(r) }
}

// ---------------------------------------------------------------- pipes

/// Creates, opens or open-or-creates (`how`) the pipe `name`, holding
/// `capacity_bytes` each way (0 for the default). Ownership, thread-safety
/// and errors as `shmkit_value_new`. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_pipe_new(
    name: *const c_char,
    how: u32,
    capacity_bytes: usize,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_pipe,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, (opts, strategy)) = unsafe { (name_arg(name)?, options(opts)?) };
        let cap = if capacity_bytes == 0 { shmkit::DEFAULT_PIPE_CAPACITY } else { capacity_bytes };
        let p = match crate::how(how)? {
            How::Create => Pipe::create_with(name, cap, &opts)?,
            How::Open => Pipe::open_with(name, &opts)?,
            How::OpenOrCreate => Pipe::open_or_create_with(name, cap, &opts)?,
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, (p.with_wait_strategy(strategy), strategy)) }
    })
}

/// Takes a free end of the pipe (SHMKIT_BUSY if live processes hold both).
/// Owned by the caller (`shmkit_connection_free`). Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_pipe_connect(p: *const shmkit_pipe, out: *mut *mut shmkit_connection) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: a live handle or NULL.
        let (p, strategy) = unsafe { handle::get(p)? };
        let c = p.connect()?.with_wait_strategy(*strategy);
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, Exclusive(StdMutex::new(c))) }
    })
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_pipe_persist(p: *const shmkit_pipe) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(p)? }.0.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the pipe handle (connections stay usable).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_pipe_free(p: *mut shmkit_pipe) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(p) }
}

fn conn_send(c: &Exclusive<Connection>, msg: &[u8], wait: Wait) -> Outcome {
    let mut c = c.take()?;
    match wait {
        Wait::Forever => c.send(msg),
        Wait::Now => c.try_send(msg),
        Wait::Until(t) => c.send_deadline(msg, t),
    }
    .map_err(send_fail)?;
    Ok(SHMKIT_OK)
}

fn conn_recv(c: &mut Connection, buf: &mut [u8], wait: Wait) -> Result<usize, ByteRecvError> {
    match wait {
        Wait::Forever => c.recv_into(buf),
        Wait::Now => c.try_recv_into(buf),
        Wait::Until(t) => c.recv_into_deadline(buf, t),
    }
}

/// Sends `len` bytes to the other end, blocking while there is no room.
/// SHMKIT_DISCONNECTED: the other end closed or died.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_connection_send(
    c: *const shmkit_connection,
    msg: *const c_void,
    len: usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, msg) = unsafe { (handle::get(c)?, bytes_in(msg, len, "msg")?) };
        conn_send(c, msg, Wait::Forever)
    })
}

/// `shmkit_connection_send` if there is room now (SHMKIT_FULL if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_connection_try_send(
    c: *const shmkit_connection,
    msg: *const c_void,
    len: usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, msg) = unsafe { (handle::get(c)?, bytes_in(msg, len, "msg")?) };
        conn_send(c, msg, Wait::Now)
    })
}

/// `shmkit_connection_send` waiting at most `timeout_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_connection_send_timeout(
    c: *const shmkit_connection,
    msg: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, msg) = unsafe { (handle::get(c)?, bytes_in(msg, len, "msg")?) };
        conn_send(c, msg, Wait::timeout(timeout_ns))
    })
}

/// `shmkit_connection_send` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_connection_send_deadline(
    c: *const shmkit_connection,
    msg: *const c_void,
    len: usize,
    deadline_ns: u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, msg) = unsafe { (handle::get(c)?, bytes_in(msg, len, "msg")?) };
        conn_send(c, msg, Wait::deadline(deadline_ns))
    })
}

/// Receives the next message from the other end into `buf` (`cap` bytes);
/// as `shmkit_byte_receiver_recv` (SHMKIT_BUFFER_TOO_SMALL with the needed
/// length in `*len`; SHMKIT_DISCONNECTED once the other end has gone and
/// nothing is left).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_connection_recv(
    c: *const shmkit_connection,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut c = unsafe { handle::get(c)? }.take()?;
        // SAFETY: as above.
        unsafe { recv_into(buf, cap, len, |b| conn_recv(&mut c, b, Wait::Forever)) }
    })
}

/// `shmkit_connection_recv` if a message is there now (SHMKIT_EMPTY).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_connection_try_recv(
    c: *const shmkit_connection,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut c = unsafe { handle::get(c)? }.take()?;
        // SAFETY: as above.
        unsafe { recv_into(buf, cap, len, |b| conn_recv(&mut c, b, Wait::Now)) }
    })
}

/// `shmkit_connection_recv` waiting at most `timeout_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_connection_recv_timeout(
    c: *const shmkit_connection,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut c = unsafe { handle::get(c)? }.take()?;
        // SAFETY: as above.
        unsafe { recv_into(buf, cap, len, |b| conn_recv(&mut c, b, Wait::timeout(timeout_ns))) }
    })
}

/// `shmkit_connection_recv` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_connection_recv_deadline(
    c: *const shmkit_connection,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    deadline_ns: u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let mut c = unsafe { handle::get(c)? }.take()?;
        // SAFETY: as above.
        unsafe { recv_into(buf, cap, len, |b| conn_recv(&mut c, b, Wait::deadline(deadline_ns))) }
    })
}

/// Closes this end (the other end gets SHMKIT_DISCONNECTED once it has read
/// what is left).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_connection_free(c: *mut shmkit_connection) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(c) }
}
