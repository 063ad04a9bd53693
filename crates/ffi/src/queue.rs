//! Queues of fixed-size elements of a built-in type.

use std::ffi::{c_char, c_void};

use shmkit::dynamic::{DynQueue, DynReceiver, DynSender};
use shmkit::{
    Queue, Receiver, RecvTimeoutError, SendTimeoutError, Sender, Shape, TryRecvError, TrySendError, WaitStrategy,
};

use crate::bytes::{recv_fail, send_fail};
use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::types::{desc, shmkit_type};
use crate::{Fail, How, Outcome, Wait, bytes_in, bytes_out, call, name_arg, need, options, put, shmkit_options};

/// A bounded queue of fixed-size elements shared by name (Rust
/// `shmkit::Queue<T>`, or `shmkit::dynamic::DynQueue` for a described
/// struct or array): make ends with `shmkit_queue_sender` and
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

object! {
    shmkit_queue => QueueH, 10;
    shmkit_sender => AnySender, 11;
    shmkit_receiver => AnyReceiver, 12;
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
    /// A struct or array type, described at run time.
    Described(DynQueue),
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
    Described(DynSender),
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
    Described(DynReceiver),
}

/// Runs `$body` with `$x` bound to the inner end and `T` its element type,
/// or `$dbody` with `$d` bound to a described one.
macro_rules! dispatch {
    ($e:expr, $Enum:ident, $x:ident => $body:expr; $d:ident => $dbody:expr) => {
        match $e {
            $Enum::Described($d) => $dbody,
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

/// A queue of a struct or array type, described at run time: the segment
/// of a Rust `Queue<T>` of that layout.
fn open_described(
    ty: &shmkit::TypeDesc,
    name: &str,
    how: How,
    capacity: usize,
    flavor: u32,
    opts: &shmkit::OpenOptions,
) -> Result<DynQueue, Fail> {
    let spsc = match flavor {
        SHMKIT_MPMC => false,
        SHMKIT_SPSC => true,
        other => return Err(Fail::arg(format!("flavor {other} is not SHMKIT_MPMC or SHMKIT_SPSC"))),
    };
    let create = || {
        if spsc {
            DynQueue::create_spsc_with(name, ty, capacity, opts)
        } else {
            DynQueue::create_with(name, ty, capacity, opts)
        }
    };
    Ok(match how {
        How::Create => create()?,
        How::Open => DynQueue::open_with(name, ty, opts)?,
        How::OpenOrCreate if !spsc => DynQueue::open_or_create_with(name, ty, capacity, opts)?,
        How::OpenOrCreate => match create() {
            Err(shmkit::Error::AlreadyExists { .. }) => DynQueue::open_with(name, ty, opts)?,
            other => other?,
        },
    })
}

/// Creates, opens or open-or-creates (`how`) the queue `name` of elements
/// of the type `elem`: a built-in type (`shmkit_type_new_primitive`), or a
/// struct or array described with the `shmkit_type_*` calls (the queue is
/// then the one a Rust `Queue<T>` of the same layout makes and opens),
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
        let how = crate::how(how)?;
        let q = if matches!(ty.shape, Shape::Primitive) {
            make_queue(&ty.name, name, how, capacity, flavor, &opts, strategy)?
        } else {
            AnyQueue::Described(open_described(&ty, name, how, capacity, flavor, &opts)?.with_wait_strategy(strategy))
        };
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
        let s = dispatch!(&h.q, AnyQueue, q => AnySender::from(q.sender()?.with_wait_strategy(h.strategy));
            d => AnySender::Described(d.sender()?.with_wait_strategy(h.strategy)));
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
        let r = dispatch!(&h.q, AnyQueue, q => AnyReceiver::from(q.receiver()?.with_wait_strategy(h.strategy));
            d => AnyReceiver::Described(d.receiver()?.with_wait_strategy(h.strategy)));
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
        let n = dispatch!(&h.q, AnyQueue, q => q.len(); d => d.len());
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
        let n = dispatch!(&h.q, AnyQueue, q => q.capacity(); d => d.capacity());
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
        dispatch!(&h.q, AnyQueue, q => q.persist(); d => d.persist());
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

fn send_described(d: &DynSender, elem: *const c_void, wait: Wait) -> Outcome {
    // SAFETY: `elem` holds one element (the caller's promise).
    let bytes = unsafe { bytes_in(elem, d.elem_size(), "elem")? };
    match wait {
        Wait::Forever => d.send(bytes),
        Wait::Now => d.try_send(bytes),
        Wait::Until(t) => d.send_deadline(bytes, t),
    }
    .map_err(send_fail)?;
    Ok(SHMKIT_OK)
}

fn send_batch_described(d: &DynSender, elems: *const c_void, count: usize, sent: *mut usize, wait: Wait) -> Outcome {
    let size = d.elem_size();
    let len = count.checked_mul(size).ok_or_else(|| Fail::arg("count too large"))?;
    // SAFETY: `elems` holds `count` elements (the caller's promise).
    let bytes = unsafe { bytes_in(elems, len, "elems")? };
    let mut n = 0;
    let outcome = (|| {
        for elem in bytes.chunks_exact(size.max(1)).take(count) {
            match wait {
                Wait::Forever => d.send(elem),
                Wait::Now => d.try_send(elem),
                Wait::Until(t) => d.send_deadline(elem, t),
            }
            .map_err(send_fail)?;
            n += 1;
        }
        Ok(SHMKIT_OK)
    })();
    // A full or late batch reports how many went, as the typed one does;
    // a disconnected one reports none.
    let outcome = match outcome {
        Err(Fail(SHMKIT_FULL, _)) if n > 0 => Ok(SHMKIT_FULL),
        Err(Fail(SHMKIT_TIMEOUT, _)) if n > 0 => Ok(SHMKIT_TIMEOUT),
        Err(f) if f.0 == SHMKIT_DISCONNECTED => {
            n = 0;
            Err(f)
        }
        other => other,
    };
    // SAFETY: checked non-NULL by the caller, writable (the caller's promise).
    unsafe { sent.write(n) };
    outcome
}

fn recv_described(d: &DynReceiver, out: *mut c_void, wait: Wait) -> Outcome {
    // SAFETY: `out` holds one element (the caller's promise).
    let out = unsafe { bytes_out(out, d.elem_size(), "out")? };
    match wait {
        Wait::Forever => d.recv(out),
        Wait::Now => d.try_recv(out),
        Wait::Until(t) => d.recv_deadline(out, t),
    }
    .map_err(recv_fail)?;
    Ok(SHMKIT_OK)
}

fn recv_batch_described(d: &DynReceiver, out: *mut c_void, max: usize, got: *mut usize, wait: Wait) -> Outcome {
    let size = d.elem_size();
    let len = max.checked_mul(size).ok_or_else(|| Fail::arg("max too large"))?;
    // SAFETY: `out` holds `max` elements (the caller's promise).
    let bytes = unsafe { bytes_out(out, len, "out")? };
    let mut n = 0;
    for elem in bytes.chunks_exact_mut(size.max(1)).take(max) {
        // The first waits per `wait`; the rest take what is there now.
        let r = if n == 0 {
            match wait {
                Wait::Forever => d.recv(elem),
                Wait::Now => d.try_recv(elem),
                Wait::Until(t) => d.recv_deadline(elem, t),
            }
        } else {
            d.try_recv(elem)
        };
        match r {
            Ok(()) => n += 1,
            Err(e) if n == 0 => return Err(recv_fail(e)),
            Err(_) => break,
        }
    }
    // SAFETY: checked non-NULL by the caller, writable (the caller's promise).
    unsafe { got.write(n) };
    Ok(SHMKIT_OK)
}

impl AnySender {
    /// The sender as something to wait on.
    pub(crate) fn selectable(&self) -> &dyn shmkit::Selectable {
        dispatch!(self, AnySender, s => s; d => d)
    }

    #[inline(always)]
    fn send(&self, elem: *const c_void, wait: Wait) -> Outcome {
        dispatch!(self, AnySender, s => {
            // SAFETY: `elem` holds one element (the caller's promise).
            let bytes = unsafe { bytes_in(elem, std::mem::size_of::<T>(), "elem")? };
            let v: T = bytemuck::pod_read_unaligned(bytes);
            match wait {
                Wait::Forever => s.send(v).map_err(disconnected)?,
                Wait::Now => s.try_send(v).map_err(|e| match e {
                    TrySendError::Full(_) => Fail::fixed(SHMKIT_FULL, crate::texts::FULL),
                    TrySendError::Disconnected(_) => disconnected(e),
                })?,
                Wait::Until(t) => s.send_deadline(v, t).map_err(|e| match e {
                    SendTimeoutError::Timeout(_) => Fail::fixed(SHMKIT_TIMEOUT, crate::texts::SEND_TIMEOUT),
                    SendTimeoutError::Disconnected(_) => disconnected(e),
                })?,
            }
            Ok(SHMKIT_OK)
        }; d => send_described(d, elem, wait))
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
        }; d => send_batch_described(d, elems, count, sent, wait))
    }
}

impl AnyReceiver {
    /// The receiver as something to wait on.
    pub(crate) fn selectable(&self) -> &dyn shmkit::Selectable {
        dispatch!(self, AnyReceiver, r => r; d => d)
    }

    #[inline(always)]
    fn recv(&self, out: *mut c_void, wait: Wait) -> Outcome {
        dispatch!(self, AnyReceiver, r => {
            // SAFETY: `out` holds one element (the caller's promise).
            let out = unsafe { bytes_out(out, std::mem::size_of::<T>(), "out")? };
            let v: T = match wait {
                Wait::Forever => r.recv().map_err(disconnected)?,
                Wait::Now => r.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => Fail::fixed(SHMKIT_EMPTY, crate::texts::EMPTY),
                    TryRecvError::Disconnected => disconnected(e),
                })?,
                Wait::Until(t) => r.recv_deadline(t).map_err(|e| match e {
                    RecvTimeoutError::Timeout => Fail::fixed(SHMKIT_TIMEOUT, crate::texts::RECV_TIMEOUT),
                    RecvTimeoutError::Disconnected => disconnected(e),
                })?,
            };
            out.copy_from_slice(bytemuck::bytes_of(&v));
            Ok(SHMKIT_OK)
        }; d => recv_described(d, out, wait))
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
                    TryRecvError::Empty => Fail::fixed(SHMKIT_EMPTY, crate::texts::EMPTY),
                    TryRecvError::Disconnected => disconnected(e),
                })?,
                Wait::Until(t) => r.recv_batch_deadline(buf, t).map_err(|e| match e {
                    RecvTimeoutError::Timeout => Fail::fixed(SHMKIT_TIMEOUT, crate::texts::RECV_TIMEOUT),
                    RecvTimeoutError::Disconnected => disconnected(e),
                })?,
            };
            // SAFETY: checked non-NULL above, writable (the caller's promise).
            unsafe { got.write(n) };
            Ok(SHMKIT_OK)
        }; d => recv_batch_described(d, out, max, got, wait))
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
