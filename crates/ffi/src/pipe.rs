//! Pipes: duplex connections of two byte queues.

use std::ffi::{c_char, c_void};

use shmkit::{ByteRecvError, Connection, Pipe, WaitStrategy};

use crate::bytes::{recv_into, send_fail};
use crate::exclusive::Exclusive;
use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::{How, Outcome, Wait, bytes_in, call, name_arg, need, options, shmkit_options};

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
    shmkit_pipe => (Pipe, WaitStrategy), 16;
    shmkit_connection => Exclusive<Connection>, 17;
}

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
        unsafe { handle::export(out, Exclusive::new(c)) }
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
