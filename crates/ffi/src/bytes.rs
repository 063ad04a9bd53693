//! Byte queues: variable-size messages, copied or zero-copy.

use std::ffi::{c_char, c_void};
use std::ptr::NonNull;

use shmkit::{ByteQueue, ByteReceiver, ByteRecvError, ByteSendError, ByteSender, ReadGrant, WaitStrategy, WriteGrant};

use crate::exclusive::Exclusive;
use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::{Fail, How, Outcome, Wait, bytes_in, bytes_out, call, name_arg, need, options, put, shmkit_options};

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

object! {
    shmkit_byte_queue => (ByteQueue, WaitStrategy), 13;
    shmkit_byte_sender => Exclusive<TxState>, 14;
    shmkit_byte_receiver => Exclusive<RxState>, 15;
}

pub(crate) fn send_fail(e: ByteSendError) -> Fail {
    let status = match &e {
        ByteSendError::Full => SHMKIT_FULL,
        ByteSendError::Timeout => SHMKIT_TIMEOUT,
        ByteSendError::Disconnected => SHMKIT_DISCONNECTED,
        ByteSendError::TooLarge { .. } => SHMKIT_TOO_LARGE,
        ByteSendError::WrongSize { .. } => SHMKIT_INVALID_ARGUMENT,
        ByteSendError::Corrupt(_) => SHMKIT_CORRUPT,
        ByteSendError::Forked => SHMKIT_FORKED,
        _ => SHMKIT_INTERNAL,
    };
    match e {
        ByteSendError::Full => Fail::fixed(status, crate::texts::FULL),
        ByteSendError::Timeout => Fail::fixed(status, crate::texts::SEND_TIMEOUT),
        _ => Fail::new(status, e),
    }
}

pub(crate) fn recv_fail(e: ByteRecvError) -> Fail {
    let status = match &e {
        ByteRecvError::Empty => SHMKIT_EMPTY,
        ByteRecvError::Timeout => SHMKIT_TIMEOUT,
        ByteRecvError::Disconnected => SHMKIT_DISCONNECTED,
        ByteRecvError::BufferTooSmall { .. } => SHMKIT_BUFFER_TOO_SMALL,
        ByteRecvError::Corrupt(_) => SHMKIT_CORRUPT,
        ByteRecvError::Forked => SHMKIT_FORKED,
        _ => SHMKIT_INTERNAL,
    };
    match e {
        ByteRecvError::Empty => Fail::fixed(status, crate::texts::EMPTY),
        ByteRecvError::Timeout => Fail::fixed(status, crate::texts::RECV_TIMEOUT),
        _ => Fail::new(status, e),
    }
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
    /// The receiver (for `ReadyFd`), unless a grant borrows it.
    pub(crate) fn watched(&self) -> Result<&ByteReceiver, Fail> {
        if self.grant.is_some() {
            return Err(Fail::new(SHMKIT_BUSY, "a message is held by recv_ref: release it first"));
        }
        // SAFETY: `rx` points to the receiver this state owns (see `new`),
        // alive as long as the state, and no grant borrows it.
        Ok(unsafe { self.rx.as_ref() })
    }

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
pub(crate) unsafe fn recv_into(
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
        unsafe { handle::export(out, Exclusive::new(TxState::new(tx))) }
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
        unsafe { handle::export(out, Exclusive::new(RxState::new(rx))) }
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
