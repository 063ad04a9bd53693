//! The native half of the Python module `shmkit`: thin wrappers over the
//! library, imported as `shmkit._shmkit`.
//!
//! Everything a Python user sees (the names and semantics of
//! `multiprocessing`, pickling, typecodes, docstrings) is in the pure-Python
//! package `python/shmkit`; this crate only moves bytes and waits. Every
//! rule (names, checks, robustness) stays in the library, so the binding
//! cannot disagree with Rust.
//!
//! Two rules hold for every wrapper here:
//! - Every wait releases the GIL and waits in slices of at most
//!   [`SLICE`], checking for signals between them, so Ctrl-C interrupts it.
//! - What a process holds (a lock guard, a queue or pipe end) is wrapped in
//!   [`Owned`], which forgets its copy in a `fork()`ed child instead of
//!   releasing the parent's hold.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

mod broadcast;
mod data;
mod error;
mod pipe;
mod queue;
mod select;
mod shm;
mod sync;

/// The longest one wait lasts with the GIL released before signals are
/// checked: Ctrl-C interrupts any wait within this (plus a wake-up).
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// A timeout from Python: `None` forever, else float seconds (negative is
/// zero).
pub(crate) fn deadline_of(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() => Err(pyo3::exceptions::PyValueError::new_err("timeout is NaN")),
        Some(t) => {
            let d = Duration::try_from_secs_f64(t.max(0.0)).unwrap_or(Duration::from_secs(u32::MAX as u64));
            Ok(Some(Instant::now().checked_add(d).unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 30))))
        }
    }
}

/// Runs `step` (a wait of at most the duration it is given): once with a
/// zero duration holding the GIL, then with the GIL released, slice after
/// slice, until it returns `Some`, the deadline passes (`Ok(None)`) or a
/// signal handler raises. A zero timeout is a try.
pub(crate) fn wait_sliced<R: Send>(
    py: Python<'_>,
    deadline: Option<Instant>,
    mut step: impl FnMut(Duration) -> Option<R> + Send,
) -> PyResult<Option<R>> {
    // The uncontended case first, without giving up the GIL: an
    // uncontended lock, a put with room or a get with a message costs no
    // thread-state switch.
    if let Some(r) = step(Duration::ZERO) {
        return Ok(Some(r));
    }
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        };
        if let Some(r) = py.detach(|| step(slice)) {
            return Ok(Some(r));
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}

/// Something this process holds (a lock guard, a queue or pipe end) that a
/// `fork()`ed child must not release: a child's copy is forgotten, never
/// dropped, as the library asks of inherited guards and ends.
pub(crate) struct Owned<T> {
    value: std::mem::ManuallyDrop<T>,
    pid: u32,
}

/// This process's id, cached (`getpid` is a system call): 0 until first
/// asked, and again in a `fork()`ed child (an atfork handler clears it).
static PID: AtomicU32 = AtomicU32::new(0);

extern "C" fn forget_pid() {
    PID.store(0, Ordering::Relaxed);
}

pub(crate) fn current_pid() -> u32 {
    let pid = PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    static ATFORK: std::sync::Once = std::sync::Once::new();
    ATFORK.call_once(|| {
        // SAFETY: registers a child handler that only stores to an atomic
        // (async-signal-safe); the handler lives for the whole program.
        unsafe { libc::pthread_atfork(None, None, Some(forget_pid)) };
    });
    let pid = std::process::id();
    PID.store(pid, Ordering::Relaxed);
    pid
}

impl<T> Owned<T> {
    pub(crate) fn new(value: T) -> Self {
        Owned { value: std::mem::ManuallyDrop::new(value), pid: current_pid() }
    }

    /// Whether this process made it (it is not a forked child's copy).
    pub(crate) fn is_ours(&self) -> bool {
        self.pid == current_pid()
    }
}

impl<T> std::ops::Deref for Owned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for Owned<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        if self.is_ours() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.value) }
        }
    }
}

/// A value touched only by a thread that holds the GIL: cheaper than a
/// mutex on the paths every lock operation takes. The module declares that
/// it needs the GIL (`gil_used = true`), so a free-threaded Python runs it
/// with the GIL too.
pub(crate) struct GilCell<T>(std::cell::UnsafeCell<T>);

// SAFETY: the contents are reached only through `with`, which takes a
// `Python` token, the proof that this thread holds the GIL; only one thread
// holds it at a time (the module is `gil_used = true`), and `with`'s callers
// never call into Python inside it, so no second `&mut` can be made while
// one lives. `T: Send`: the value may be dropped by whichever thread holds
// the GIL then.
unsafe impl<T: Send> Sync for GilCell<T> {}

impl<T> GilCell<T> {
    pub(crate) fn new(value: T) -> Self {
        GilCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` on the value. `f` must not call into Python.
    pub(crate) fn with<R>(&self, _py: Python<'_>, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: see the `Sync` impl: this thread holds the GIL and `f`
        // does not run Python code, so this is the only reference.
        f(unsafe { &mut *self.0.get() })
    }
}

/// The native module.
#[pymodule(gil_used = true)]
fn _shmkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    error::register(m)?;
    data::register(m)?;
    sync::register(m)?;
    pipe::register(m)?;
    queue::register(m)?;
    broadcast::register(m)?;
    shm::register(m)?;
    m.add_function(wrap_pyfunction!(unlink, m)?)?;
    m.add_function(wrap_pyfunction!(select::wait, m)?)?;
    m.add_function(wrap_pyfunction!(data::_install_fast_lock, m)?)?;
    m.add("SLICE_SECONDS", SLICE.as_secs_f64())?;
    Ok(())
}

/// Removes the name `name` (as `shmkit rm`); existing mappings stay valid.
#[pyfunction]
fn unlink(name: &str) -> PyResult<()> {
    shmkit::unlink(name).map_err(error::to_py)
}
