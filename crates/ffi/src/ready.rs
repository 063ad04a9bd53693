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
use crate::shmkit_status::{self, *};
use crate::sync::{Sem, shmkit_event, shmkit_semaphore};
use crate::{Outcome, call, put};

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

fn watch(r: &ReadyFd, object: &dyn shmkit::Selectable) -> Outcome {
    r.watch(object)?;
    Ok(SHMKIT_OK)
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
    call(|| {
        // SAFETY: live handles or NULL.
        let (r, x) = unsafe { (handle::get(r)?, handle::get(x)?) };
        x.watch_with(|o| watch(r, o))
    })
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
    call(|| {
        // SAFETY: live handles or NULL.
        let (r, x) = unsafe { (handle::get(r)?, handle::get(x)?) };
        watch(r, x.take()?.watched()?)
    })
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
    call(|| {
        // SAFETY: live handles or NULL.
        let (r, x) = unsafe { (handle::get(r)?, handle::get(x)?) };
        watch(r, x)
    })
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
    call(|| {
        // SAFETY: live handles or NULL.
        let (r, x) = unsafe { (handle::get(r)?, handle::get(x)?) };
        watch(r, &*x.take()?)
    })
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
    call(|| {
        // SAFETY: live handles or NULL.
        let (r, x) = unsafe { (handle::get(r)?, handle::get(x)?) };
        watch(r, &*x.take()?)
    })
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
    call(|| {
        // SAFETY: live handles or NULL.
        let (r, x) = unsafe { (handle::get(r)?, handle::get(x)?) };
        watch(r, x)
    })
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
    call(|| {
        // SAFETY: live handles or NULL.
        let (r, x) = unsafe { (handle::get(r)?, handle::get(x)?) };
        match x {
            Sem::Plain(s) => watch(r, s),
            Sem::Bounded(s) => watch(r, s),
        }
    })
}
