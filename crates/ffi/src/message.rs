//! Message queues: variable-size messages, any number of senders and
//! receivers.

use std::ffi::{c_char, c_void};

use shmkit::{MessageQueue, MessageReceiver, MessageSender, WaitStrategy};

use crate::bytes::{recv_into, send_fail};
use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::{Fail, How, Outcome, Wait, bytes_in, call, name_arg, need, options, put, shmkit_options};

/// A bounded queue of variable-size messages shared by name, for any
/// number of senders and receivers (Rust `shmkit::MessageQueue`): make ends
/// with `shmkit_message_queue_sender` and `shmkit_message_queue_receiver`.
pub struct shmkit_message_queue {
    _private: [u8; 0],
}

/// The sending end of a `shmkit_message_queue`. Thread-safe: threads may
/// share one.
pub struct shmkit_message_sender {
    _private: [u8; 0],
}

/// The receiving end of a `shmkit_message_queue`. Thread-safe: threads may
/// share one.
pub struct shmkit_message_receiver {
    _private: [u8; 0],
}

object! {
    shmkit_message_queue => (MessageQueue, WaitStrategy), 30;
    shmkit_message_sender => MessageSender, 31;
    shmkit_message_receiver => MessageReceiver, 32;
}

/// `flags` of `shmkit_message_queue_new`: track delivery (task_done/join).
pub const SHMKIT_JOINABLE: u32 = 1;

/// Creates, opens or open-or-creates (`how`) the message queue `name`,
/// holding up to `capacity` messages (rounded up to a power of two, at most
/// 2^30) of at most `max_message_len` bytes each (at most 2^30).
/// `flags` is 0 or `SHMKIT_JOINABLE` (used when it creates it; an open
/// learns capacity, length and flags from the segment). Ownership,
/// thread-safety and errors as `shmkit_value_new`. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_new(
    name: *const c_char,
    how: u32,
    capacity: usize,
    max_message_len: usize,
    flags: u32,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_message_queue,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, (opts, strategy)) = unsafe { (name_arg(name)?, options(opts)?) };
        if flags & !SHMKIT_JOINABLE != 0 {
            return Err(Fail::arg(format!("flags {flags:#x}: only SHMKIT_JOINABLE is known")));
        }
        let joinable = flags & SHMKIT_JOINABLE != 0;
        let create = || {
            if joinable {
                MessageQueue::create_joinable_with(name, capacity, max_message_len, &opts)
            } else {
                MessageQueue::create_with(name, capacity, max_message_len, &opts)
            }
        };
        let q = match crate::how(how)? {
            How::Create => create()?,
            How::Open => MessageQueue::open_with(name, &opts)?,
            How::OpenOrCreate if !joinable => {
                MessageQueue::open_or_create_with(name, capacity, max_message_len, &opts)?
            }
            How::OpenOrCreate => match create() {
                Err(shmkit::Error::AlreadyExists { .. }) => MessageQueue::open_with(name, &opts)?,
                other => other?,
            },
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, (q.with_wait_strategy(strategy), strategy)) }
    })
}

/// Writes one number about the queue through `f` to `*out`.
///
/// # Safety
/// As the functions that call it.
unsafe fn query(
    q: *const shmkit_message_queue,
    out: *mut usize,
    what: &str,
    f: impl FnOnce(&MessageQueue) -> usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let (q, _) = unsafe { handle::get(q)? };
        // SAFETY: writable or NULL (the caller's promise).
        unsafe { put(out, what, f(q))? };
        Ok(SHMKIT_OK)
    })
}

/// The queue's capacity in messages, written to `*capacity`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_capacity(
    q: *const shmkit_message_queue,
    capacity: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { query(q, capacity, "capacity", MessageQueue::capacity) }
}

/// The longest message the queue carries, in bytes, written to `*len`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_max_message_len(
    q: *const shmkit_message_queue,
    len: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { query(q, len, "len", MessageQueue::max_message_len) }
}

/// The number of messages in the queue now (a snapshot), written to
/// `*len`. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_len(q: *const shmkit_message_queue, len: *mut usize) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { query(q, len, "len", MessageQueue::len) }
}

/// Waits until every message sent on a joinable queue has been marked done
/// with `shmkit_message_receiver_task_done`. Returns at once on a queue
/// that is not joinable.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_join(q: *const shmkit_message_queue) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { join(q, Wait::Forever) }
}

/// `shmkit_message_queue_join` if every message is marked done now:
/// SHMKIT_TIMEOUT if some are left.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_try_join(q: *const shmkit_message_queue) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { join(q, Wait::Now) }
}

/// `shmkit_message_queue_join` waiting at most `timeout_ns`
/// (`SHMKIT_FOREVER`: no limit; 0: just look). SHMKIT_TIMEOUT if some are
/// left.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_join_timeout(
    q: *const shmkit_message_queue,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { join(q, Wait::timeout(timeout_ns)) }
}

/// `shmkit_message_queue_join` waiting until CLOCK_MONOTONIC `deadline_ns`
/// at most. SHMKIT_TIMEOUT if some are left.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_join_deadline(
    q: *const shmkit_message_queue,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { join(q, Wait::deadline(deadline_ns)) }
}

/// The four join forms.
///
/// # Safety
/// `q` is NULL or a live handle.
unsafe fn join(q: *const shmkit_message_queue, wait: Wait) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let (q, _) = unsafe { handle::get(q)? };
        let done = match wait {
            Wait::Forever => {
                q.join();
                true
            }
            Wait::Now => q.try_join(),
            Wait::Until(t) => q.join_deadline(t),
        };
        if done { Ok(SHMKIT_OK) } else { Err(Fail::new(SHMKIT_TIMEOUT, "timed out with messages not marked done")) }
    })
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_persist(q: *const shmkit_message_queue) -> shmkit_status {
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
pub unsafe extern "C" fn shmkit_message_queue_free(q: *mut shmkit_message_queue) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(q) }
}

/// Makes a sending end of the queue, owned by the caller
/// (`shmkit_message_sender_free`; when every sender is freed or its process
/// died, receivers get SHMKIT_DISCONNECTED once the queue is empty). Never
/// blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_sender(
    q: *const shmkit_message_queue,
    out: *mut *mut shmkit_message_sender,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: a live handle or NULL.
        let (q, strategy) = unsafe { handle::get(q)? };
        let s = q.sender()?.with_wait_strategy(*strategy);
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, s) }
    })
}

/// Makes a receiving end of the queue, owned by the caller
/// (`shmkit_message_receiver_free`; when every receiver is gone, senders
/// get SHMKIT_DISCONNECTED). Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_queue_receiver(
    q: *const shmkit_message_queue,
    out: *mut *mut shmkit_message_receiver,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: a live handle or NULL.
        let (q, strategy) = unsafe { handle::get(q)? };
        let r = q.receiver()?.with_wait_strategy(*strategy);
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, r) }
    })
}

/// Sends `len` bytes from `msg`, per `wait`.
///
/// # Safety
/// As the functions that call it.
unsafe fn send(s: *const shmkit_message_sender, msg: *const c_void, len: usize, wait: Wait) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL; `msg` holds `len` bytes (the
        // caller's promises).
        let (s, msg) = unsafe { (handle::get(s)?, bytes_in(msg, len, "msg")?) };
        match wait {
            Wait::Forever => s.send(msg),
            Wait::Now => s.try_send(msg),
            Wait::Until(t) => s.send_deadline(msg, t),
        }
        .map_err(send_fail)?;
        Ok(SHMKIT_OK)
    })
}

/// Sends a copy of the `len` bytes at `msg`, blocking while the queue is
/// full. SHMKIT_TOO_LARGE: longer than the queue's `max_message_len`;
/// SHMKIT_DISCONNECTED: every receiver has gone. Thread-safe.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_sender_send(
    s: *const shmkit_message_sender,
    msg: *const c_void,
    len: usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { send(s, msg, len, Wait::Forever) }
}

/// `shmkit_message_sender_send` if there is room now (SHMKIT_FULL if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_sender_try_send(
    s: *const shmkit_message_sender,
    msg: *const c_void,
    len: usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { send(s, msg, len, Wait::Now) }
}

/// `shmkit_message_sender_send` waiting at most `timeout_ns`
/// (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_sender_send_timeout(
    s: *const shmkit_message_sender,
    msg: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { send(s, msg, len, Wait::timeout(timeout_ns)) }
}

/// `shmkit_message_sender_send` waiting until CLOCK_MONOTONIC
/// `deadline_ns` at most.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_sender_send_deadline(
    s: *const shmkit_message_sender,
    msg: *const c_void,
    len: usize,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { send(s, msg, len, Wait::deadline(deadline_ns)) }
}

/// Frees the sending end (the last sender gone disconnects the receivers).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_sender_free(s: *mut shmkit_message_sender) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(s) }
}

/// Receives into `buf` (`cap` bytes) per `wait`; `*len` is the length.
///
/// # Safety
/// As the functions that call it.
unsafe fn recv(
    r: *const shmkit_message_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    wait: Wait,
) -> shmkit_status {
    call(|| -> Outcome {
        // SAFETY: a live handle or NULL.
        let r = unsafe { handle::get(r)? };
        // SAFETY: the caller's promises, passed on.
        unsafe {
            recv_into(buf, cap, len, |b| match wait {
                Wait::Forever => r.recv_into(b),
                Wait::Now => r.try_recv_into(b),
                Wait::Until(t) => r.recv_into_deadline(b, t),
            })
        }
    })
}

/// Receives the next message into `buf` (`cap` bytes), blocking while the
/// queue is empty; `*len` is its length. SHMKIT_BUFFER_TOO_SMALL: `*len` is
/// the length needed and the message stays in the queue.
/// SHMKIT_DISCONNECTED: empty and every sender has gone. Thread-safe.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_receiver_recv(
    r: *const shmkit_message_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { recv(r, buf, cap, len, Wait::Forever) }
}

/// `shmkit_message_receiver_recv` if a message is there now (SHMKIT_EMPTY).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_receiver_try_recv(
    r: *const shmkit_message_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { recv(r, buf, cap, len, Wait::Now) }
}

/// `shmkit_message_receiver_recv` waiting at most `timeout_ns`
/// (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_receiver_recv_timeout(
    r: *const shmkit_message_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { recv(r, buf, cap, len, Wait::timeout(timeout_ns)) }
}

/// `shmkit_message_receiver_recv` waiting until CLOCK_MONOTONIC
/// `deadline_ns` at most.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_receiver_recv_deadline(
    r: *const shmkit_message_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    unsafe { recv(r, buf, cap, len, Wait::deadline(deadline_ns)) }
}

/// Marks one received message as finished (joinable queues).
/// SHMKIT_INVALID_ARGUMENT: more than were sent, or the queue is not
/// joinable.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_receiver_task_done(r: *const shmkit_message_receiver) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(r)? }.task_done().map_err(Fail::arg)?;
        Ok(SHMKIT_OK)
    })
}

/// Frees the receiving end.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_message_receiver_free(r: *mut shmkit_message_receiver) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(r) }
}
