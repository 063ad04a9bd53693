//! The C ABI of shmkit: opaque handles over the library's objects, a
//! [`shmkit_status`] from every function, the thread's last error message,
//! timeouts in nanoseconds. `include/shmkit.h` is generated from this crate
//! by cbindgen (see `tests/header.rs`) and states the conventions.
//!
//! The layer is thin: every rule (names, checks, robustness, type identity)
//! lives in the library, so C and Rust cannot disagree. Objects whose
//! element type C describes at run time go through
//! [`shmkit::dynamic`].
//!
//! Every exported function runs its body through [`call`], which turns a
//! failure into its status and message and a panic into
//! [`shmkit_status::SHMKIT_INTERNAL`]: no unwind crosses the boundary.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]
// The exported names are C's: `shmkit_status`, `shmkit_value`, ...
#![allow(non_camel_case_types)]
// A C function takes its handle, arguments, out-pointers and options in one
// call.
#![allow(clippy::too_many_arguments)]

mod atomic;
mod broadcast;
mod bytes;
mod data;
mod exclusive;
mod handle;
mod message;
mod pipe;
mod queue;
mod ready;
mod rwlock;
mod select;
mod sync;
mod types;

pub use atomic::*;
pub use bytes::*;
pub use data::*;
pub use message::*;
pub use pipe::*;
pub use queue::*;
pub use rwlock::*;
pub use select::*;
pub use sync::*;
pub use types::*;

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use shmkit::{Error, OpenOptions, WaitStrategy};

/// What every function returns. `SHMKIT_OK` (0) is success; on any other
/// status `shmkit_last_error_message()` gives this thread's message.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum shmkit_status {
    /// Success.
    SHMKIT_OK = 0,
    /// The lock is held by the caller, and its previous holder died holding
    /// it: the data may be half-updated. Repair it, then unlock.
    SHMKIT_OWNER_DIED = 1,
    /// A timeout or deadline passed first.
    SHMKIT_TIMEOUT = 2,
    /// A try_ form could not take a lock or permit without waiting.
    SHMKIT_WOULD_BLOCK = 3,
    /// A try_ form found the queue full.
    SHMKIT_FULL = 4,
    /// A try_ form found the queue empty.
    SHMKIT_EMPTY = 5,
    /// The other side of a queue or pipe has gone (exited or died) and
    /// nothing is left to receive, or nobody is left to receive.
    SHMKIT_DISCONNECTED = 6,
    /// The barrier is broken: a party died or timed out, or it was reset.
    SHMKIT_BROKEN = 7,
    /// No segment of that name exists.
    SHMKIT_NOT_FOUND = 8,
    /// A create found the name taken.
    SHMKIT_ALREADY_EXISTS = 9,
    /// The segment holds another kind of object.
    SHMKIT_WRONG_KIND = 10,
    /// The segment holds another element type or capacity; the message
    /// names the first differing field.
    SHMKIT_WRONG_TYPE = 11,
    /// The name breaks the naming rules.
    SHMKIT_INVALID_NAME = 12,
    /// An argument is out of range (a length, a capacity, a type code).
    SHMKIT_INVALID_ARGUMENT = 13,
    /// A pointer that must not be NULL was NULL.
    SHMKIT_NULL_POINTER = 14,
    /// The handle is not a live handle of the expected kind (freed twice,
    /// or of another kind).
    SHMKIT_INVALID_HANDLE = 15,
    /// The caller's buffer is too small; the needed size was written where
    /// the function says.
    SHMKIT_BUFFER_TOO_SMALL = 16,
    /// A message is longer than the queue can ever carry.
    SHMKIT_TOO_LARGE = 17,
    /// The segment is damaged, truncated, or not a shmkit segment.
    SHMKIT_CORRUPT = 18,
    /// The segment was made by an incompatible shmkit format version.
    SHMKIT_VERSION_MISMATCH = 19,
    /// The file is refused: a symbolic link, not a regular file, another
    /// user's, readable by others, or the OS denied access.
    SHMKIT_PERMISSION_DENIED = 20,
    /// An end only one process may hold is held by a live process, or this
    /// handle has an outstanding lock, reservation or grant.
    SHMKIT_BUSY = 21,
    /// Every liveness slot of the segment is taken by a live handle.
    SHMKIT_REGISTRY_FULL = 22,
    /// No room in the shm filesystem.
    SHMKIT_NO_SPACE = 23,
    /// Another OS error.
    SHMKIT_IO = 24,
    /// A bug in shmkit (a caught panic); the message says where.
    SHMKIT_INTERNAL = 25,
    /// A broadcast subscriber fell a whole ring behind: messages were
    /// overwritten before it read them (the call says how many); the next
    /// receive gives the oldest message still there.
    SHMKIT_LAGGED = 26,
    /// A single-producer end copied into a `fork()`ed child: the child does
    /// not drive its parent's end (make a new one in the child).
    SHMKIT_FORKED = 27,
}

use shmkit_status::*;

/// Waits as long as it takes: the timeout of the `_timeout` forms and the
/// deadline of the `_deadline` forms.
pub const SHMKIT_FOREVER: u64 = u64::MAX;

/// `how` of a `_new` function: create the name exclusively.
pub const SHMKIT_CREATE: u32 = 1;
/// `how` of a `_new` function: open the existing name.
pub const SHMKIT_OPEN: u32 = 2;
/// `how` of a `_new` function: open the name, or create it if it does not
/// exist (safe when processes race).
pub const SHMKIT_OPEN_OR_CREATE: u32 = 3;

/// Wait strategy: spin briefly, then sleep in the kernel (the default).
pub const SHMKIT_WAIT_ADAPTIVE: u32 = 0;
/// Wait strategy: only spin (lowest latency, burns a CPU while waiting).
pub const SHMKIT_WAIT_SPIN: u32 = 1;
/// Wait strategy: sleep at once.
pub const SHMKIT_WAIT_PARK: u32 = 2;

/// How objects are created and opened: `shmkit_options_default()` gives the
/// safe defaults. Every `_new` function takes a `const shmkit_options *`;
/// NULL means the defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmkit_options {
    /// Permission bits of a created segment (default 0600; the umask does
    /// not apply).
    pub mode: u32,
    /// Liveness slots of a created segment: how many handles may be
    /// attached at once (1 to 1024, default 256).
    pub registry_slots: u32,
    /// `SHMKIT_WAIT_ADAPTIVE` (default), `SHMKIT_WAIT_SPIN` or
    /// `SHMKIT_WAIT_PARK`.
    pub wait_strategy: u32,
    /// Accept, on open, a file that group or others may access.
    pub allow_shared_mode: bool,
    /// Accept, on open, a file owned by another user.
    pub allow_foreign_owner: bool,
}

/// The default options: mode 0600, 256 liveness slots, adaptive waiting,
/// owner-only files accepted. Thread-safe, never blocks.
#[unsafe(no_mangle)]
pub extern "C" fn shmkit_options_default() -> shmkit_options {
    shmkit_options {
        mode: 0o600,
        registry_slots: 256,
        wait_strategy: SHMKIT_WAIT_ADAPTIVE,
        allow_shared_mode: false,
        allow_foreign_owner: false,
    }
}

/// This thread's last error message: the text of the last status other
/// than `SHMKIT_OK` returned on this thread (the library's own wording),
/// or "" if none. Never NULL. The string belongs to shmkit and stays valid
/// until the next shmkit call on this thread. Never blocks.
#[unsafe(no_mangle)]
pub extern "C" fn shmkit_last_error_message() -> *const c_char {
    LAST_ERROR.with(|m| m.borrow().as_ptr())
}

/// A short constant name of `status`, e.g. "SHMKIT_TIMEOUT" (a static
/// string, never NULL; "SHMKIT_UNKNOWN" for a value that is not a status).
#[unsafe(no_mangle)]
pub extern "C" fn shmkit_status_name(status: i32) -> *const c_char {
    let name: &'static CStr = match status {
        0 => c"SHMKIT_OK",
        1 => c"SHMKIT_OWNER_DIED",
        2 => c"SHMKIT_TIMEOUT",
        3 => c"SHMKIT_WOULD_BLOCK",
        4 => c"SHMKIT_FULL",
        5 => c"SHMKIT_EMPTY",
        6 => c"SHMKIT_DISCONNECTED",
        7 => c"SHMKIT_BROKEN",
        8 => c"SHMKIT_NOT_FOUND",
        9 => c"SHMKIT_ALREADY_EXISTS",
        10 => c"SHMKIT_WRONG_KIND",
        11 => c"SHMKIT_WRONG_TYPE",
        12 => c"SHMKIT_INVALID_NAME",
        13 => c"SHMKIT_INVALID_ARGUMENT",
        14 => c"SHMKIT_NULL_POINTER",
        15 => c"SHMKIT_INVALID_HANDLE",
        16 => c"SHMKIT_BUFFER_TOO_SMALL",
        17 => c"SHMKIT_TOO_LARGE",
        18 => c"SHMKIT_CORRUPT",
        19 => c"SHMKIT_VERSION_MISMATCH",
        20 => c"SHMKIT_PERMISSION_DENIED",
        21 => c"SHMKIT_BUSY",
        22 => c"SHMKIT_REGISTRY_FULL",
        23 => c"SHMKIT_NO_SPACE",
        24 => c"SHMKIT_IO",
        25 => c"SHMKIT_INTERNAL",
        26 => c"SHMKIT_LAGGED",
        27 => c"SHMKIT_FORKED",
        _ => c"SHMKIT_UNKNOWN",
    };
    name.as_ptr()
}

/// The current CLOCK_MONOTONIC time in nanoseconds: add a timeout to it to
/// make the `deadline_ns` of a `_deadline` form. Thread-safe, never blocks.
#[unsafe(no_mangle)]
pub extern "C" fn shmkit_now_ns() -> u64 {
    monotonic_ns()
}

/// Removes the name `name` (existing mappings stay valid; the object lives
/// on until its last handle goes). Thread-safe, never blocks.
///
/// Errors: SHMKIT_NULL_POINTER, SHMKIT_INVALID_NAME, SHMKIT_NOT_FOUND,
/// SHMKIT_IO.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_unlink(name: *const c_char) -> shmkit_status {
    call(|| {
        // SAFETY: the caller passes a NUL-terminated string or NULL.
        let name = unsafe { name_arg(name)? };
        shmkit::unlink(name)?;
        Ok(SHMKIT_OK)
    })
}

// ------------------------------------------------------------ machinery

thread_local! {
    static LAST_ERROR: RefCell<Message> = const { RefCell::new(Message::Static(c"")) };
}

/// The text of a failure: a constant one (the common, expected outcomes of
/// polls and timed waits, set without allocating or formatting), or one
/// made for the occasion.
#[derive(Debug)]
pub(crate) enum Message {
    Static(&'static CStr),
    Owned(CString),
}

impl Message {
    fn as_ptr(&self) -> *const c_char {
        match self {
            Message::Static(s) => s.as_ptr(),
            Message::Owned(s) => s.as_ptr(),
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Message::Static(s) => s.to_string_lossy(),
            Message::Owned(s) => s.to_string_lossy(),
        };
        f.write_str(&text)
    }
}

/// A failure on its way to C: the status and the message.
#[derive(Debug)]
pub(crate) struct Fail(pub shmkit_status, pub Message);

/// A message as C reads it: cut at a NUL, if it has one.
fn owned(msg: impl fmt::Display) -> Message {
    let text = msg.to_string();
    let text = text.split('\0').next().unwrap_or_default();
    Message::Owned(CString::new(text).unwrap_or_default())
}

impl Fail {
    pub(crate) fn new(status: shmkit_status, msg: impl fmt::Display) -> Fail {
        Fail(status, owned(msg))
    }

    /// A failure whose text is a constant: what a poll that finds nothing,
    /// or a wait that times out, says (no allocation on that path). The
    /// text is the library's `Display` of the same outcome.
    pub(crate) const fn fixed(status: shmkit_status, msg: &'static CStr) -> Fail {
        Fail(status, Message::Static(msg))
    }

    pub(crate) fn null(what: &str) -> Fail {
        Fail(SHMKIT_NULL_POINTER, owned(format_args!("{what} is NULL")))
    }

    pub(crate) fn arg(msg: impl fmt::Display) -> Fail {
        Fail(SHMKIT_INVALID_ARGUMENT, owned(msg))
    }
}

/// The constant texts of [`Fail::fixed`], each the `Display` of the
/// library's error for that outcome (a test checks they agree).
pub(crate) mod texts {
    use std::ffi::CStr;

    pub const EMPTY: &CStr = c"receiving on an empty queue";
    pub const RECV_TIMEOUT: &CStr = c"timed out receiving on an empty queue";
    pub const FULL: &CStr = c"sending on a full queue";
    pub const SEND_TIMEOUT: &CStr = c"timed out sending on a full queue";
    pub const LOCK_HELD: &CStr = c"the lock is held by another live holder";
    pub const LOCK_TIMEOUT: &CStr = c"timed out waiting for the lock";
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let status = match &e {
            Error::InvalidName { .. } => SHMKIT_INVALID_NAME,
            Error::AlreadyExists { .. } => SHMKIT_ALREADY_EXISTS,
            Error::NotFound { .. } => SHMKIT_NOT_FOUND,
            Error::Symlink { .. }
            | Error::NotRegularFile { .. }
            | Error::ForeignOwner { .. }
            | Error::InsecureMode { .. }
            | Error::PermissionDenied { .. } => SHMKIT_PERMISSION_DENIED,
            Error::BadSize { .. } | Error::BadMagic { .. } | Error::Corrupt { .. } => SHMKIT_CORRUPT,
            Error::VersionMismatch { .. } => SHMKIT_VERSION_MISMATCH,
            Error::WrongKind { .. } => SHMKIT_WRONG_KIND,
            Error::WrongType { .. } => SHMKIT_WRONG_TYPE,
            Error::RegistryFull { .. } => SHMKIT_REGISTRY_FULL,
            Error::NoSpace { .. } => SHMKIT_NO_SPACE,
            Error::Busy { .. } => SHMKIT_BUSY,
            Error::InvalidArgument(_) => SHMKIT_INVALID_ARGUMENT,
            _ => SHMKIT_IO,
        };
        Fail(status, owned(e))
    }
}

/// What a function body returns: a status to hand back (`SHMKIT_OK`, or a
/// non-error outcome such as `SHMKIT_OWNER_DIED`, whose message is set too)
/// or a failure.
pub(crate) type Outcome = Result<shmkit_status, Fail>;

/// Runs an exported function's body: failures and panics become statuses
/// with this thread's message; no panic unwinds into C.
///
/// The body's outcome becomes a status inside the unwinding guard, so that
/// only the four-byte status passes through the guard's result slot: a
/// whole `Outcome` written there and read back stalled every call on a
/// failed store-to-load forward (about 5 ns of a 14 ns `try_recv`).
#[inline(always)]
pub(crate) fn call(body: impl FnOnce() -> Outcome) -> shmkit_status {
    let outcome = catch_unwind(AssertUnwindSafe(|| match body() {
        Ok(SHMKIT_OK) => SHMKIT_OK,
        Ok(status) => {
            set_message(Message::Static(status_message(status)));
            status
        }
        Err(Fail(status, msg)) => {
            set_message(msg);
            status
        }
    }));
    match outcome {
        Ok(status) => status,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            set_message(owned(format_args!("internal error in shmkit: {what}")));
            SHMKIT_INTERNAL
        }
    }
}

fn status_message(status: shmkit_status) -> &'static CStr {
    match status {
        SHMKIT_OWNER_DIED => c"the previous holder of the lock died holding it; the data may need repair",
        _ => c"",
    }
}

fn set_message(msg: Message) {
    // try_with: during thread teardown the slot may be gone; the status
    // still tells what happened.
    let _ = LAST_ERROR.try_with(|m| *m.borrow_mut() = msg);
}

/// The name argument: non-NULL, UTF-8.
///
/// # Safety
/// `name` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn name_arg<'a>(name: *const c_char) -> Result<&'a str, Fail> {
    if name.is_null() {
        return Err(Fail::null("name"));
    }
    // SAFETY: non-NULL and NUL-terminated (the caller's promise).
    let name = unsafe { CStr::from_ptr(name) };
    name.to_str().map_err(|_| Fail::new(SHMKIT_INVALID_NAME, "the name is not UTF-8"))
}

/// Writes `value` to the out-pointer `out`.
///
/// # Safety
/// `out` is NULL or valid for a write of a `T`.
pub(crate) unsafe fn put<T>(out: *mut T, what: &str, value: T) -> Result<(), Fail> {
    if out.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: non-NULL, and valid for a write (the caller's promise).
    unsafe { out.write(value) };
    Ok(())
}

/// Checks an out-pointer before any work is done.
pub(crate) fn need<T>(p: *const T, what: &str) -> Result<(), Fail> {
    if p.is_null() { Err(Fail::null(what)) } else { Ok(()) }
}

/// `len` bytes at `ptr` as a slice (`ptr` may be NULL only for `len == 0`).
///
/// # Safety
/// `ptr` is valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn bytes_in<'a>(ptr: *const std::ffi::c_void, len: usize, what: &str) -> Result<&'a [u8], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Fail::null(what));
    }
    if len > isize::MAX as usize {
        return Err(Fail::arg(format!("{what}: a length of {len} bytes")));
    }
    // SAFETY: non-NULL, valid for `len` bytes (the caller's promise), and
    // `len` fits an isize.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// `len` writable bytes at `ptr` as a slice.
///
/// # Safety
/// `ptr` is valid for writes of `len` bytes for `'a`, and not aliased.
pub(crate) unsafe fn bytes_out<'a>(ptr: *mut std::ffi::c_void, len: usize, what: &str) -> Result<&'a mut [u8], Fail> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(Fail::null(what));
    }
    if len > isize::MAX as usize {
        return Err(Fail::arg(format!("{what}: a length of {len} bytes")));
    }
    // SAFETY: as in bytes_in, for writes.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) })
}

/// The options argument (NULL: the defaults) as the library's options and
/// wait strategy.
///
/// # Safety
/// `opts` is NULL or points to a `shmkit_options`.
pub(crate) unsafe fn options(opts: *const shmkit_options) -> Result<(OpenOptions, WaitStrategy), Fail> {
    let o = if opts.is_null() {
        shmkit_options_default()
    } else {
        // SAFETY: non-NULL, points to an options struct (caller's promise);
        // every bit pattern of its fields is valid but for the bools, which
        // C writes as 0 or 1.
        unsafe { *opts }
    };
    let strategy = match o.wait_strategy {
        SHMKIT_WAIT_ADAPTIVE => WaitStrategy::Adaptive,
        SHMKIT_WAIT_SPIN => WaitStrategy::Spin,
        SHMKIT_WAIT_PARK => WaitStrategy::Park,
        other => return Err(Fail::arg(format!("wait strategy {other} is not one of SHMKIT_WAIT_*"))),
    };
    if !(1..=1024).contains(&o.registry_slots) {
        return Err(Fail::arg(format!("{} registry slots: 1 to 1024", o.registry_slots)));
    }
    let opts = OpenOptions::new()
        .mode(o.mode)
        .registry_slots(o.registry_slots)
        .allow_shared_mode(o.allow_shared_mode)
        .allow_foreign_owner(o.allow_foreign_owner);
    Ok((opts, strategy))
}

/// How a `_new` function attaches to its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    Create,
    Open,
    OpenOrCreate,
}

pub(crate) fn how(how: u32) -> Result<How, Fail> {
    match how {
        SHMKIT_CREATE => Ok(How::Create),
        SHMKIT_OPEN => Ok(How::Open),
        SHMKIT_OPEN_OR_CREATE => Ok(How::OpenOrCreate),
        other => Err(Fail::arg(format!("how {other} is not SHMKIT_CREATE, SHMKIT_OPEN or SHMKIT_OPEN_OR_CREATE"))),
    }
}

/// How long a blocking call may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The try_ form.
    Now,
    /// Until this instant.
    Until(Instant),
    /// As long as it takes.
    Forever,
}

impl Wait {
    /// The wait of a `_timeout` form.
    pub(crate) fn timeout(ns: u64) -> Wait {
        if ns == SHMKIT_FOREVER {
            return Wait::Forever;
        }
        Instant::now().checked_add(Duration::from_nanos(ns)).map_or(Wait::Forever, Wait::Until)
    }

    /// The wait of a `_deadline` form: `ns` on the CLOCK_MONOTONIC clock.
    pub(crate) fn deadline(ns: u64) -> Wait {
        if ns == SHMKIT_FOREVER {
            return Wait::Forever;
        }
        let now = Instant::now();
        let left = ns.saturating_sub(monotonic_ns());
        now.checked_add(Duration::from_nanos(left)).map_or(Wait::Forever, Wait::Until)
    }
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to a valid pointer;
    // CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

#[cfg(test)]
mod fixed_texts {
    use super::texts;
    use shmkit::{
        ByteRecvError, ByteSendError, RecvTimeoutError, SendTimeoutError, TryLockError, TryRecvError, TrySendError,
    };

    /// The constant texts are the library's words for the same outcomes.
    #[test]
    fn fixed_texts_are_the_library_display() {
        let text = |c: &std::ffi::CStr| c.to_str().unwrap().to_owned();
        assert_eq!(text(texts::EMPTY), TryRecvError::Empty.to_string());
        assert_eq!(text(texts::EMPTY), ByteRecvError::Empty.to_string());
        assert_eq!(text(texts::RECV_TIMEOUT), RecvTimeoutError::Timeout.to_string());
        assert_eq!(text(texts::RECV_TIMEOUT), ByteRecvError::Timeout.to_string());
        assert_eq!(text(texts::FULL), TrySendError::Full(0u8).to_string());
        assert_eq!(text(texts::FULL), ByteSendError::Full.to_string());
        assert_eq!(text(texts::SEND_TIMEOUT), SendTimeoutError::Timeout(0u8).to_string());
        assert_eq!(text(texts::SEND_TIMEOUT), ByteSendError::Timeout.to_string());
        assert_eq!(text(texts::LOCK_HELD), TryLockError::<()>::WouldBlock.to_string());
        assert_eq!(text(texts::LOCK_TIMEOUT), TryLockError::<()>::TimedOut.to_string());
    }
}
