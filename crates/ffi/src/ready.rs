//! The readiness descriptor (Rust `shmkit::ReadyFd`): a file descriptor
//! that is readable while a watched object is ready, for `poll`, `epoll`,
//! `select`, libuv and any event loop.

use std::os::fd::AsRawFd;

use shmkit::ReadyFd;

use crate::broadcast::shmkit_subscriber;
use crate::bytes::shmkit_byte_receiver;
use crate::handle::{self, object};
use crate::message::shmkit_message_receiver;
use crate::pipe::shmkit_connection;
use crate::queue::shmkit_receiver;
use crate::select::*;
use crate::shmkit_status::{self, *};
use crate::sync::{shmkit_event, shmkit_semaphore};
use crate::{call, need, put};

/// A readiness descriptor. Thread-safe.
pub struct shmkit_ready_fd {
    _private: [u8; 0],
}

object! { shmkit_ready_fd => ReadyFd, 50; }

/// A new readiness descriptor watching nothing yet, into `*out` (an
/// eventfd, served by one background thread per process). Free it with
/// `shmkit_ready_fd_free`. Not usable across `fork()`: make it after.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_new(out: *mut *mut shmkit_ready_fd) -> shmkit_status {
    call(|| {
        let fd = ReadyFd::new()?;
        // SAFETY: `out` is NULL (checked by export) or writable.
        unsafe { handle::export(out, fd) }
    })
}

/// Writes the descriptor to poll for reading into `*fd`. It belongs to the
/// handle: do not close it. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_fd(r: *const shmkit_ready_fd, fd: *mut i32) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL; `fd` writable or NULL.
        unsafe { put(fd, "fd", handle::get(r)?.as_raw_fd())? };
        Ok(SHMKIT_OK)
    })
}

/// Reads the descriptor's signal (it is no longer readable) and watches
/// every object again; `*was` (may be NULL) says whether it was signalled.
/// An object still ready makes it readable again at once: after this, take
/// what is there with the `try_` calls. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_clear(r: *const shmkit_ready_fd, was: *mut bool) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let signalled = unsafe { handle::get(r)? }.clear();
        if !was.is_null() {
            // SAFETY: non-NULL and writable (the caller's promise).
            unsafe { was.write(signalled) };
        }
        Ok(SHMKIT_OK)
    })
}

/// Frees the descriptor (and stops watching). As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_free(r: *mut shmkit_ready_fd) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(r) }
}

/// Watches a queue receiver: the descriptor is readable while a message
/// (or the end of the stream) is there to receive. The background thread
/// keeps a readiness check of its own: the receiver stays the caller's.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_watch_receiver(
    r: *const shmkit_ready_fd,
    x: *const shmkit_receiver,
) -> shmkit_status {
    // SAFETY: live handles or NULL (the caller's promise).
    call(|| watch(unsafe { handle::get(r)? }, unsafe { hold(SHMKIT_WAITABLE_RECEIVER, x.cast()) }))
}

/// Watches a byte queue receiver, as `shmkit_ready_fd_watch_receiver`
/// (SHMKIT_BUSY while it holds a message from `recv_ref`).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_watch_byte_receiver(
    r: *const shmkit_ready_fd,
    x: *const shmkit_byte_receiver,
) -> shmkit_status {
    // SAFETY: live handles or NULL (the caller's promise).
    call(|| watch(unsafe { handle::get(r)? }, unsafe { hold(SHMKIT_WAITABLE_BYTE_RECEIVER, x.cast()) }))
}

/// Watches a message queue receiver, as `shmkit_ready_fd_watch_receiver`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_watch_message_receiver(
    r: *const shmkit_ready_fd,
    x: *const shmkit_message_receiver,
) -> shmkit_status {
    // SAFETY: live handles or NULL (the caller's promise).
    call(|| watch(unsafe { handle::get(r)? }, unsafe { hold(SHMKIT_WAITABLE_MESSAGE_RECEIVER, x.cast()) }))
}

/// Watches a pipe connection's receiving side, as
/// `shmkit_ready_fd_watch_receiver`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_watch_connection(
    r: *const shmkit_ready_fd,
    x: *const shmkit_connection,
) -> shmkit_status {
    // SAFETY: live handles or NULL (the caller's promise).
    call(|| watch(unsafe { handle::get(r)? }, unsafe { hold(SHMKIT_WAITABLE_CONNECTION, x.cast()) }))
}

/// Watches a broadcast subscriber: readable while a message, a lag or the
/// end of the stream is there to receive.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_watch_subscriber(
    r: *const shmkit_ready_fd,
    x: *const shmkit_subscriber,
) -> shmkit_status {
    // SAFETY: live handles or NULL (the caller's promise).
    call(|| watch(unsafe { handle::get(r)? }, unsafe { hold(SHMKIT_WAITABLE_SUBSCRIBER, x.cast()) }))
}

/// Watches an event: readable while it is set. The event is opened again
/// by name for the background thread (it must still be linked).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_watch_event(
    r: *const shmkit_ready_fd,
    x: *const shmkit_event,
) -> shmkit_status {
    // SAFETY: live handles or NULL (the caller's promise).
    call(|| watch(unsafe { handle::get(r)? }, unsafe { hold(SHMKIT_WAITABLE_EVENT, x.cast()) }))
}

/// Watches a semaphore: readable while a permit is free. Opened again by
/// name for the background thread (it must still be linked).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_watch_semaphore(
    r: *const shmkit_ready_fd,
    x: *const shmkit_semaphore,
) -> shmkit_status {
    // SAFETY: live handles or NULL (the caller's promise).
    call(|| watch(unsafe { handle::get(r)? }, unsafe { hold(SHMKIT_WAITABLE_SEMAPHORE, x.cast()) }))
}

/// Watches any object `shmkit_wait_any` can wait on (`*object`: its kind
/// and handle), ready as that call says: also queue and message senders
/// (readable while a send would not wait) and mutexes (while a lock would
/// not wait; opened again by name, which must still be linked). Errors as
/// `shmkit_wait_any`'s for one object.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_ready_fd_watch(
    r: *const shmkit_ready_fd,
    object: *const shmkit_waitable,
) -> shmkit_status {
    call(|| {
        need(object, "object")?;
        // SAFETY: `object` is non-NULL and readable, its handle and `r` live
        // handles or NULL (the caller's promises).
        unsafe {
            let object = object.read();
            watch(handle::get(r)?, hold(object.kind, object.handle))
        }
    })
}
