//! Waiting on many objects at once (Rust `shmkit::wait_any`), and the one
//! way a C handle becomes something to wait on, which the readiness
//! descriptor's watch calls use too.

use std::ffi::{CStr, c_void};

use shmkit::{Connection, Selectable};

use crate::broadcast::{AnySubscriber, shmkit_subscriber};
use crate::bytes::{RxState, shmkit_byte_receiver};
use crate::data::shmkit_mutex;
use crate::exclusive::Taken;
use crate::handle;
use crate::message::{shmkit_message_receiver, shmkit_message_sender};
use crate::pipe::shmkit_connection;
use crate::queue::{shmkit_receiver, shmkit_sender};
use crate::shmkit_status::{self, *};
use crate::sync::{Sem, shmkit_event, shmkit_semaphore};
use crate::{Fail, Outcome, Wait, call, need};

/// One object of a `shmkit_wait_any` list: which kind of handle it is
/// (`SHMKIT_WAITABLE_*`) and the handle.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmkit_waitable {
    /// One of the `SHMKIT_WAITABLE_*` constants, naming the handle's type.
    pub kind: u32,
    /// The handle, e.g. a `shmkit_receiver *` for
    /// `SHMKIT_WAITABLE_RECEIVER`.
    pub handle: *const c_void,
}

/// A `shmkit_receiver`: ready while a message (or the end of the stream)
/// is there to receive.
pub const SHMKIT_WAITABLE_RECEIVER: u32 = 1;
/// A `shmkit_byte_receiver`, as `SHMKIT_WAITABLE_RECEIVER`.
pub const SHMKIT_WAITABLE_BYTE_RECEIVER: u32 = 2;
/// A `shmkit_message_receiver`, as `SHMKIT_WAITABLE_RECEIVER`.
pub const SHMKIT_WAITABLE_MESSAGE_RECEIVER: u32 = 3;
/// A `shmkit_connection` (its receiving side), as
/// `SHMKIT_WAITABLE_RECEIVER`.
pub const SHMKIT_WAITABLE_CONNECTION: u32 = 4;
/// A `shmkit_subscriber`: ready while a message, a lag or the end of the
/// stream is there to receive.
pub const SHMKIT_WAITABLE_SUBSCRIBER: u32 = 5;
/// A `shmkit_event`: ready while it is set.
pub const SHMKIT_WAITABLE_EVENT: u32 = 6;
/// A `shmkit_semaphore`: ready while a permit is free.
pub const SHMKIT_WAITABLE_SEMAPHORE: u32 = 7;
/// A `shmkit_sender`: ready while a send would not wait (room, or no
/// receiver left).
pub const SHMKIT_WAITABLE_SENDER: u32 = 8;
/// A `shmkit_message_sender`, as `SHMKIT_WAITABLE_SENDER`.
pub const SHMKIT_WAITABLE_MESSAGE_SENDER: u32 = 9;
/// A `shmkit_mutex`: ready while a lock would not wait (it is free, or its
/// holder died).
pub const SHMKIT_WAITABLE_MUTEX: u32 = 10;

/// A C handle borrowed as something to wait on, for as long as a wait or a
/// watch call lasts. An end used by one thread at a time stays taken
/// meanwhile (a concurrent call on it is SHMKIT_BUSY).
pub(crate) enum Held<'a> {
    Shared(&'a dyn Selectable),
    Bytes(Taken<'a, RxState>),
    Connection(Taken<'a, Connection>),
    Subscriber(Taken<'a, AnySubscriber>),
}

impl Held<'_> {
    /// What the library waits on.
    pub(crate) fn selectable(&self) -> Result<&dyn Selectable, Fail> {
        Ok(match self {
            Held::Shared(s) => *s,
            Held::Bytes(rx) => rx.watched()?,
            Held::Connection(c) => &**c,
            Held::Subscriber(s) => s.selectable(),
        })
    }
}

/// The handle `handle` of kind `kind` (`SHMKIT_WAITABLE_*`), borrowed to
/// be waited on.
///
/// # Safety
/// `handle` is NULL or a handle this library returned and that was not
/// freed (a handle of another kind is told by its tag).
pub(crate) unsafe fn hold<'a>(kind: u32, handle: *const c_void) -> Result<Held<'a>, Fail> {
    use handle::get;
    let h = handle;
    // SAFETY: `h` is NULL or a live handle (the caller's promise, passed
    // on); `get` checks NULL and that its tag is of the kind named.
    let held = unsafe {
        match kind {
            SHMKIT_WAITABLE_RECEIVER => Held::Shared(get::<shmkit_receiver>(h.cast())?.selectable()),
            SHMKIT_WAITABLE_BYTE_RECEIVER => Held::Bytes(get::<shmkit_byte_receiver>(h.cast())?.take()?),
            SHMKIT_WAITABLE_MESSAGE_RECEIVER => Held::Shared(get::<shmkit_message_receiver>(h.cast())?),
            SHMKIT_WAITABLE_CONNECTION => Held::Connection(get::<shmkit_connection>(h.cast())?.take()?),
            SHMKIT_WAITABLE_SUBSCRIBER => Held::Subscriber(get::<shmkit_subscriber>(h.cast())?.take()?),
            SHMKIT_WAITABLE_EVENT => Held::Shared(get::<shmkit_event>(h.cast())?),
            SHMKIT_WAITABLE_SEMAPHORE => Held::Shared(match get::<shmkit_semaphore>(h.cast())? {
                Sem::Plain(s) => s,
                Sem::Bounded(s) => s,
            }),
            SHMKIT_WAITABLE_SENDER => Held::Shared(get::<shmkit_sender>(h.cast())?.selectable()),
            SHMKIT_WAITABLE_MESSAGE_SENDER => Held::Shared(get::<shmkit_message_sender>(h.cast())?),
            SHMKIT_WAITABLE_MUTEX => Held::Shared(get::<shmkit_mutex>(h.cast())?.waitable()?),
            other => return Err(Fail::arg(format!("kind {other} is not one of the SHMKIT_WAITABLE_* constants"))),
        }
    };
    Ok(held)
}

/// What a try_ form says when nothing is ready (no allocation on the path
/// of a poll).
const NONE_READY: &CStr = c"none of the objects is ready";
/// What a timed form says when nothing became ready in time.
const NONE_IN_TIME: &CStr = c"timed out waiting for any of the objects";

/// The body of the `shmkit_wait_any` forms.
///
/// # Safety
/// `objects` is NULL or holds `count` waitables, each of whose handles is
/// NULL or a handle this library returned and that was not freed; `index`
/// is NULL or writable.
unsafe fn wait_any(objects: *const shmkit_waitable, count: usize, index: *mut usize, wait: Wait) -> Outcome {
    need(index, "index")?;
    if count == 0 {
        return Err(Fail::arg("a wait for any of no objects: nothing could ever be ready"));
    }
    need(objects, "objects")?;
    if count > isize::MAX as usize / std::mem::size_of::<shmkit_waitable>() {
        return Err(Fail::arg(format!("{count} objects")));
    }
    // SAFETY: non-NULL, `count` waitables (the caller's promise), and their
    // size fits an isize.
    let list = unsafe { std::slice::from_raw_parts(objects, count) };
    let at = |i: usize| move |Fail(status, msg)| Fail::new(status, format_args!("objects[{i}]: {msg}"));
    let held: Vec<Held<'_>> = list
        .iter()
        .enumerate()
        .map(|(i, w)| {
            // SAFETY: the caller's promise for each handle, passed on.
            unsafe { hold(w.kind, w.handle) }.map_err(at(i))
        })
        .collect::<Result<_, _>>()?;
    let watched: Vec<&dyn Selectable> =
        held.iter().enumerate().map(|(i, h)| h.selectable().map_err(at(i))).collect::<Result<_, _>>()?;
    let ready = match wait {
        Wait::Forever => shmkit::wait_any(&watched),
        Wait::Now => shmkit::try_wait_any(&watched),
        Wait::Until(t) => shmkit::wait_any_deadline(&watched, t),
    };
    match ready {
        Some(i) => {
            // SAFETY: non-NULL (checked) and writable (the caller's promise).
            unsafe { index.write(i) };
            Ok(SHMKIT_OK)
        }
        None if wait == Wait::Now => Err(Fail::fixed(SHMKIT_WOULD_BLOCK, NONE_READY)),
        None => Err(Fail::fixed(SHMKIT_TIMEOUT, NONE_IN_TIME)),
    }
}

/// Waits until one of the `count` objects at `objects` is ready and writes
/// its index (the first ready one, in the order given) to `*index`.
/// Readiness, not receipt: nothing is received, acquired or locked; make
/// the `try_` call next (another thread or process may have taken what was
/// there: then wait again). Sleeps on all the objects at once (a dead peer
/// makes a receive ready, within milliseconds). Thread-safe; each end used
/// by one thread at a time (byte receiver, connection, subscriber) is taken
/// for the wait, so list it once and use it from no other thread meanwhile.
///
/// Errors: SHMKIT_INVALID_ARGUMENT for an empty list or an unknown kind,
/// SHMKIT_NULL_POINTER for a NULL list, handle or `index`,
/// SHMKIT_INVALID_HANDLE for a handle that is not a live handle of its
/// kind, SHMKIT_BUSY for an end in use by another thread (or a byte
/// receiver holding a message, a mutex this handle holds); the message
/// names the object (`objects[i]`).
///
/// # Safety
/// `objects` is NULL or holds `count` waitables; every handle in it is
/// NULL or one this library returned and that was not freed; `index` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_wait_any(
    objects: *const shmkit_waitable,
    count: usize,
    index: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { wait_any(objects, count, index, Wait::Forever) })
}

/// `shmkit_wait_any` if one of the objects is ready now
/// (SHMKIT_WOULD_BLOCK if none is).
///
/// # Safety
/// As `shmkit_wait_any`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_try_wait_any(
    objects: *const shmkit_waitable,
    count: usize,
    index: *mut usize,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { wait_any(objects, count, index, Wait::Now) })
}

/// `shmkit_wait_any` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// As `shmkit_wait_any`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_wait_any_timeout(
    objects: *const shmkit_waitable,
    count: usize,
    index: *mut usize,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { wait_any(objects, count, index, Wait::timeout(timeout_ns)) })
}

/// `shmkit_wait_any` waiting until CLOCK_MONOTONIC `deadline_ns` at most
/// (SHMKIT_TIMEOUT).
///
/// # Safety
/// As `shmkit_wait_any`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_wait_any_deadline(
    objects: *const shmkit_waitable,
    count: usize,
    index: *mut usize,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { wait_any(objects, count, index, Wait::deadline(deadline_ns)) })
}

/// A handle as the readiness descriptor watches it: what the
/// `shmkit_ready_fd_watch_*` calls do.
pub(crate) fn watch(r: &shmkit::ReadyFd, held: Result<Held<'_>, Fail>) -> Outcome {
    r.watch(held?.selectable()?)?;
    Ok(SHMKIT_OK)
}
