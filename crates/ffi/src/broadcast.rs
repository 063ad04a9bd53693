//! Publish–subscribe: one publisher, any number of subscribers in any
//! processes, each reading every message. Of byte messages (Rust
//! `shmkit::ByteBroadcast`), or of elements of a built-in or described type
//! (`shmkit::dynamic::DynBroadcast`: the segment of a Rust `Broadcast<T>`).

use std::ffi::{c_char, c_void};

use shmkit::dynamic::{DynBroadcast, DynPublisher, DynSubscriber};
use shmkit::{
    BroadcastRecvError, BroadcastSendError, ByteBroadcast, BytePublisher, ByteSubscriber, Policy, Selectable,
};

use crate::exclusive::Exclusive;
use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::{Fail, How, Outcome, Wait, bytes_in, bytes_out, call, name_arg, need, options, put, shmkit_options};

/// A broadcast shared by name: of byte messages (Rust
/// `shmkit::ByteBroadcast`, `shmkit_broadcast_new`), or of elements of one
/// type (Rust `shmkit::Broadcast<T>`, `shmkit_broadcast_new_typed`).
/// Thread-safe.
pub struct shmkit_broadcast {
    _private: [u8; 0],
}

/// The publishing end of a broadcast (one at a time per broadcast). Use
/// from one thread at a time (another thread's concurrent call is
/// SHMKIT_BUSY).
pub struct shmkit_publisher {
    _private: [u8; 0],
}

/// A subscriber of a broadcast: its own cursor over the messages. Use from
/// one thread at a time (another thread's concurrent call is SHMKIT_BUSY).
pub struct shmkit_subscriber {
    _private: [u8; 0],
}

/// A broadcast of either form.
pub(crate) enum AnyBroadcast {
    Bytes(ByteBroadcast),
    Typed(DynBroadcast),
}

/// A publisher of either form.
pub(crate) enum AnyPublisher {
    Bytes(BytePublisher),
    Typed(DynPublisher),
}

/// A subscriber of either form.
pub(crate) enum AnySubscriber {
    Bytes(ByteSubscriber),
    Typed(DynSubscriber),
}

impl AnySubscriber {
    /// The subscriber as something `wait_any` and `ReadyFd` wait on.
    pub(crate) fn selectable(&self) -> &dyn Selectable {
        match self {
            AnySubscriber::Bytes(s) => s,
            AnySubscriber::Typed(s) => s,
        }
    }
}

object! {
    shmkit_broadcast => AnyBroadcast, 40;
    shmkit_publisher => Exclusive<AnyPublisher>, 41;
    shmkit_subscriber => Exclusive<AnySubscriber>, 42;
}

/// `policy` of `shmkit_broadcast_new`: the publisher never waits; a
/// subscriber a whole ring behind gets SHMKIT_LAGGED.
pub const SHMKIT_LOSSY: u32 = 0;
/// `policy` of `shmkit_broadcast_new`: the publisher waits for the slowest
/// live subscriber (a dead one is dropped).
pub const SHMKIT_LOSSLESS: u32 = 1;

fn policy(p: u32) -> Result<Policy, Fail> {
    match p {
        SHMKIT_LOSSY => Ok(Policy::Lossy),
        SHMKIT_LOSSLESS => Ok(Policy::Lossless),
        other => Err(Fail::arg(format!("policy {other} is not SHMKIT_LOSSY or SHMKIT_LOSSLESS"))),
    }
}

fn send_fail(e: BroadcastSendError) -> Fail {
    match e {
        BroadcastSendError::Full => Fail::fixed(SHMKIT_FULL, c"publishing on a full lossless broadcast"),
        BroadcastSendError::Timeout => {
            Fail::fixed(SHMKIT_TIMEOUT, c"timed out publishing on a full lossless broadcast")
        }
        e @ BroadcastSendError::TooLarge { .. } => Fail::new(SHMKIT_TOO_LARGE, e),
        e => Fail::new(SHMKIT_INTERNAL, e),
    }
}

/// Creates, opens or open-or-creates (`how`) the broadcast `name`: a ring
/// of `capacity` messages (rounded up to a power of two) of up to
/// `max_message_len` bytes (rounded up to a multiple of 8), and `policy`
/// (SHMKIT_LOSSY or SHMKIT_LOSSLESS). At most `opts->registry_slots`
/// subscribers at a time. Ownership, thread-safety and errors as
/// `shmkit_value_new`; an existing broadcast of another policy or bound is
/// SHMKIT_INVALID_ARGUMENT for SHMKIT_OPEN_OR_CREATE.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_broadcast_new(
    name: *const c_char,
    how: u32,
    capacity: usize,
    max_message_len: usize,
    policy_: u32,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_broadcast,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, (opts, strategy)) = unsafe { (name_arg(name)?, options(opts)?) };
        let p = policy(policy_)?;
        let b = match crate::how(how)? {
            How::Create => ByteBroadcast::create_with(name, capacity, max_message_len, p, &opts)?,
            How::Open => ByteBroadcast::open_with(name, &opts)?,
            How::OpenOrCreate => ByteBroadcast::open_or_create_with(name, capacity, max_message_len, p, &opts)?,
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, AnyBroadcast::Bytes(b.with_wait_strategy(strategy))) }
    })
}

/// Creates, opens or open-or-creates (`how`) the broadcast `name` of
/// elements of the built-in or described type `elem` (the segment of a
/// Rust `Broadcast<T>` of that layout: a C and a Rust process share it;
/// another element type is SHMKIT_WRONG_TYPE, naming the first differing
/// field): a ring of `capacity` messages (rounded up to a power of two)
/// and `policy`. Each message is exactly the type's size: publish that
/// many bytes, receive into a buffer at least that long (`*len` is the
/// size). At most `opts->registry_slots` subscribers at a time. Ownership,
/// thread-safety and errors as `shmkit_value_new`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_broadcast_new_typed(
    name: *const c_char,
    how: u32,
    elem: *const crate::types::shmkit_type,
    capacity: usize,
    policy_: u32,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_broadcast,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, (opts, strategy), ty) = unsafe { (name_arg(name)?, options(opts)?, crate::types::desc(elem)?) };
        let p = policy(policy_)?;
        let b = match crate::how(how)? {
            How::Create => DynBroadcast::create_with(name, &ty, capacity, p, &opts)?,
            How::Open => DynBroadcast::open_with(name, &ty, &opts)?,
            How::OpenOrCreate => DynBroadcast::open_or_create_with(name, &ty, capacity, p, &opts)?,
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, AnyBroadcast::Typed(b.with_wait_strategy(strategy))) }
    })
}

/// Writes the ring's capacity (messages) and the longest message (bytes;
/// a typed broadcast's: its element's size). Either pointer may be NULL.
/// Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_broadcast_info(
    b: *const shmkit_broadcast,
    capacity: *mut usize,
    max_message_len: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL; the out-pointers writable or NULL.
        let (cap, max) = match unsafe { handle::get(b)? } {
            AnyBroadcast::Bytes(b) => (b.capacity(), b.max_message_len()),
            AnyBroadcast::Typed(b) => (b.capacity(), b.elem_size()),
        };
        if !capacity.is_null() {
            // SAFETY: as above.
            unsafe { put(capacity, "capacity", cap)? };
        }
        if !max_message_len.is_null() {
            // SAFETY: as above.
            unsafe { put(max_message_len, "max_message_len", max)? };
        }
        Ok(SHMKIT_OK)
    })
}

/// Takes the publishing end into `*out` (SHMKIT_BUSY while a live
/// publisher holds it). Free it with `shmkit_publisher_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_broadcast_publisher(
    b: *const shmkit_broadcast,
    out: *mut *mut shmkit_publisher,
) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let p = match unsafe { handle::get(b)? } {
            AnyBroadcast::Bytes(b) => AnyPublisher::Bytes(b.publisher()?),
            AnyBroadcast::Typed(b) => AnyPublisher::Typed(b.publisher()?),
        };
        // SAFETY: `out` is NULL (checked by export) or writable.
        unsafe { handle::export(out, Exclusive::new(p)) }
    })
}

/// A new subscriber into `*out`, which first receives the last `last`
/// messages still in the ring (0: only what is published from now on).
/// SHMKIT_REGISTRY_FULL when every subscriber entry is held. Free it with
/// `shmkit_subscriber_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_broadcast_subscribe(
    b: *const shmkit_broadcast,
    last: usize,
    out: *mut *mut shmkit_subscriber,
) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let s = match unsafe { handle::get(b)? } {
            AnyBroadcast::Bytes(b) => AnySubscriber::Bytes(b.subscribe_from_last(last)?),
            AnyBroadcast::Typed(b) => AnySubscriber::Typed(b.subscribe_from_last(last)?),
        };
        // SAFETY: `out` is NULL (checked by export) or writable.
        unsafe { handle::export(out, Exclusive::new(s)) }
    })
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_broadcast_persist(b: *const shmkit_broadcast) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        match unsafe { handle::get(b)? } {
            AnyBroadcast::Bytes(b) => b.persist(),
            AnyBroadcast::Typed(b) => b.persist(),
        }
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle (publishers and subscribers made from it stay valid).
/// As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_broadcast_free(b: *mut shmkit_broadcast) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(b) }
}

fn publish(p: &Exclusive<AnyPublisher>, msg: *const c_void, len: usize, wait: Wait) -> Outcome {
    // SAFETY: `msg` holds `len` bytes (the caller's promise).
    let bytes = unsafe { bytes_in(msg, len, "msg")? };
    match &mut *p.take()? {
        AnyPublisher::Bytes(p) => match wait {
            Wait::Forever => p.send(bytes),
            Wait::Now => p.try_send(bytes),
            Wait::Until(t) => p.send_deadline(bytes, t),
        },
        AnyPublisher::Typed(p) => {
            if len != p.elem_size() {
                return Err(Fail::arg(format!("a message of {len} bytes for elements of {}", p.elem_size())));
            }
            match wait {
                Wait::Forever => p.send(bytes),
                Wait::Now => p.try_send(bytes),
                Wait::Until(t) => p.send_deadline(bytes, t),
            }
        }
    }
    .map_err(send_fail)?;
    Ok(SHMKIT_OK)
}

/// Publishes a copy of the `len` bytes at `msg` to every subscriber. A
/// lossy broadcast never waits; a lossless one blocks while a live
/// subscriber has not read the message this one replaces. SHMKIT_TOO_LARGE
/// past the bound.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_send(
    p: *const shmkit_publisher,
    msg: *const c_void,
    len: usize,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| publish(unsafe { handle::get(p)? }, msg, len, Wait::Forever))
}

/// `shmkit_publisher_send` without waiting (SHMKIT_FULL, lossless only).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_try_send(
    p: *const shmkit_publisher,
    msg: *const c_void,
    len: usize,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| publish(unsafe { handle::get(p)? }, msg, len, Wait::Now))
}

/// `shmkit_publisher_send` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_send_timeout(
    p: *const shmkit_publisher,
    msg: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| publish(unsafe { handle::get(p)? }, msg, len, Wait::timeout(timeout_ns)))
}

/// `shmkit_publisher_send` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_send_deadline(
    p: *const shmkit_publisher,
    msg: *const c_void,
    len: usize,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| publish(unsafe { handle::get(p)? }, msg, len, Wait::deadline(deadline_ns)))
}

/// Frees the publishing end (subscribers that have read everything then
/// get SHMKIT_DISCONNECTED). As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_free(p: *mut shmkit_publisher) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(p) }
}

fn receive(s: &Exclusive<AnySubscriber>, buf: *mut c_void, size: usize, len: *mut usize, wait: Wait) -> Outcome {
    need(len, "len")?;
    // SAFETY: `buf` holds `size` writable bytes (the caller's promise).
    let out = unsafe { bytes_out(buf, size, "buf")? };
    let got = match &mut *s.take()? {
        AnySubscriber::Bytes(s) => match wait {
            Wait::Forever => s.recv_into(out),
            Wait::Now => s.try_recv_into(out),
            Wait::Until(t) => s.recv_into_deadline(out, t),
        },
        AnySubscriber::Typed(s) => {
            let size = s.elem_size();
            match wait {
                Wait::Forever => s.recv_into(out),
                Wait::Now => s.try_recv_into(out),
                Wait::Until(t) => s.recv_into_deadline(out, t),
            }
            .map(|()| size)
        }
    };
    // What `*len` says: the length received, the count missed, or the
    // length needed.
    let (n, outcome) = match got {
        Ok(n) => (n, Ok(SHMKIT_OK)),
        Err(e @ BroadcastRecvError::Lagged(missed)) => (missed as usize, Err(Fail::new(SHMKIT_LAGGED, e))),
        Err(e @ BroadcastRecvError::BufferTooSmall { len }) => (len, Err(Fail::new(SHMKIT_BUFFER_TOO_SMALL, e))),
        Err(BroadcastRecvError::Empty) => (0, Err(Fail::fixed(SHMKIT_EMPTY, c"no new message"))),
        Err(BroadcastRecvError::Timeout) => {
            (0, Err(Fail::fixed(SHMKIT_TIMEOUT, c"timed out waiting for a new message")))
        }
        Err(e @ BroadcastRecvError::Disconnected) => (0, Err(Fail::new(SHMKIT_DISCONNECTED, e))),
        Err(e @ BroadcastRecvError::Corrupt(_)) => (0, Err(Fail::new(SHMKIT_CORRUPT, e))),
        Err(e) => (0, Err(Fail::new(SHMKIT_INTERNAL, e))),
    };
    // SAFETY: checked non-NULL, writable (the caller's promise).
    unsafe { len.write(n) };
    outcome
}

/// Receives the next message into the `size` bytes at `buf`, its length in
/// `*len`, blocking until one is published. SHMKIT_LAGGED: messages were
/// overwritten before this subscriber read them, `*len` is how many (the
/// next call gives the oldest one left); SHMKIT_BUFFER_TOO_SMALL: the next
/// message is longer than `size` (`*len`), and stays unread;
/// SHMKIT_DISCONNECTED: nothing new and the publisher is gone.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_recv(
    s: *const shmkit_subscriber,
    buf: *mut c_void,
    size: usize,
    len: *mut usize,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| receive(unsafe { handle::get(s)? }, buf, size, len, Wait::Forever))
}

/// `shmkit_subscriber_recv` if a message is there now (SHMKIT_EMPTY).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_try_recv(
    s: *const shmkit_subscriber,
    buf: *mut c_void,
    size: usize,
    len: *mut usize,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| receive(unsafe { handle::get(s)? }, buf, size, len, Wait::Now))
}

/// `shmkit_subscriber_recv` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_recv_timeout(
    s: *const shmkit_subscriber,
    buf: *mut c_void,
    size: usize,
    len: *mut usize,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| receive(unsafe { handle::get(s)? }, buf, size, len, Wait::timeout(timeout_ns)))
}

/// `shmkit_subscriber_recv` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_recv_deadline(
    s: *const shmkit_subscriber,
    buf: *mut c_void,
    size: usize,
    len: *mut usize,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| receive(unsafe { handle::get(s)? }, buf, size, len, Wait::deadline(deadline_ns)))
}

/// Frees the subscriber (its entry is given back). As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_free(s: *mut shmkit_subscriber) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(s) }
}
