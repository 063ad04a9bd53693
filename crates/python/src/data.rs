//! `_shmkit.Data`: a value, array or mutex whose element type Python
//! describes at run time (the library's `dynamic` objects), with its robust
//! lock and its bytes as a buffer.
//!
//! The Python classes `Value`, `Array`, `RawValue`, `RawArray` subclass it
//! (they need its buffer protocol), and `Lock`/`RLock` hold one of kind
//! `"mutex"` around a `u32` (a Rust `Mutex<u32>`).

use std::ffi::{CString, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::Duration;

use pyo3::exceptions::{PyBufferError, PyIndexError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use shmkit::dynamic::{DynArray, DynMutex, DynValue};
use shmkit::{Field, MutexGuard, TryLockError, TypeDesc};

use crate::error::to_py;
use crate::{GilCell, Owned, deadline_of, wait_sliced};

/// The three kinds of described object.
enum Obj {
    Value(DynValue),
    Array(DynArray),
    Mutex(DynMutex),
}

macro_rules! each {
    ($obj:expr, $o:ident => $e:expr) => {
        match $obj {
            Obj::Value($o) => $e,
            Obj::Array($o) => $e,
            Obj::Mutex($o) => $e,
        }
    };
}

/// A held lock of a described object. The guard's lifetime is that of the
/// [`Inner`] it points into, which the owning [`Data`] keeps (an `Arc`
/// field declared after the guard's, so it outlives it).
struct Held {
    _guard: MutexGuard<'static, [u8]>,
}

// SAFETY: the lock word records this process's token, not a thread: a guard
// made by one thread of the process may be dropped by another (as
// `multiprocessing.Lock` may be released by another thread). The bytes it
// points to are only touched through the Python object, under the GIL.
unsafe impl Send for Held {}
// SAFETY: as for Send; `&Held` gives no access (it is only moved and dropped).
unsafe impl Sync for Held {}

struct Inner {
    obj: Obj,
    /// First byte of the data in this mapping (0 until known; never for a
    /// lock), and its length.
    ptr: AtomicUsize,
    len: usize,
}

type TryResult = Result<MutexGuard<'static, [u8]>, (bool, Option<MutexGuard<'static, [u8]>>)>;

impl Inner {
    /// Notes where the data lies, from a guard (once; a lock has none).
    #[inline]
    fn note_ptr(&self, guard: &mut MutexGuard<'static, [u8]>) {
        if self.len != 0 && !matches!(self.obj, Obj::Mutex(_)) && self.ptr.load(Ordering::Relaxed) == 0 {
            self.ptr.store(guard.as_mut_ptr() as usize, Ordering::Relaxed);
        }
    }

    /// One lock attempt of at most `slice` (`None`: a try). `Ok(guard)`
    /// clean, `Err((true, Some(guard)))` acquired from a dead holder,
    /// `Err((false, None))` not acquired.
    #[inline]
    fn try_lock_for(&'static self, slice: Option<Duration>) -> TryResult {
        let r = each!(&self.obj, o => match slice { None => o.try_lock(), Some(d) => o.lock_timeout(d) });
        match r {
            Ok(g) => Ok(g),
            Err(TryLockError::OwnerDied(g)) => Err((true, Some(g))),
            Err(_) => Err((false, None)),
        }
    }
}

/// The native half of every shared value, array and lock.
#[pyclass(subclass, frozen, module = "shmkit._shmkit", name = "Data")]
pub(crate) struct Data {
    /// The guard while this object holds the lock (declared before `inner`:
    /// dropped first).
    held: GilCell<Option<Owned<Held>>>,
    inner: OnceLock<Arc<Inner>>,
    /// The previous holder died: reported by the next `acquire`.
    died: AtomicBool,
    /// The last acquire found the previous holder dead (`owner_died`).
    last_died: AtomicBool,
    /// Recursive use (`RLock`, the lock of a Value): the holding thread
    /// (process id, `pthread_self`) and its depth.
    owner: GilCell<(u32, u64, usize)>,
    /// Buffer format and item size (`"B"`, 1 for structs).
    format: StdMutex<(CString, usize)>,
}

/// Builds a `TypeDesc` from Python's description: `("p", name, size,
/// align)`, `("a", elem, len)` or `("s", name, size, align, [(field,
/// offset, desc), ...])`.
pub(crate) fn type_desc(d: &Bound<'_, PyAny>) -> PyResult<TypeDesc> {
    let t = d.cast::<PyTuple>()?;
    let tag: String = t.get_item(0)?.extract()?;
    match tag.as_str() {
        "p" => Ok(TypeDesc::primitive(
            t.get_item(1)?.extract::<String>()?,
            t.get_item(2)?.extract()?,
            t.get_item(3)?.extract()?,
        )),
        "a" => Ok(TypeDesc::array(type_desc(&t.get_item(1)?)?, t.get_item(2)?.extract()?)),
        "s" => {
            let list = t.get_item(4)?;
            let list = list.cast::<PyList>()?;
            let mut fields = Vec::with_capacity(list.len());
            for f in list.iter() {
                let f = f.cast::<PyTuple>()?;
                fields.push(Field::new(
                    f.get_item(0)?.extract::<String>()?,
                    f.get_item(1)?.extract()?,
                    type_desc(&f.get_item(2)?)?,
                ));
            }
            Ok(TypeDesc::structure(
                t.get_item(1)?.extract::<String>()?,
                t.get_item(2)?.extract()?,
                t.get_item(3)?.extract()?,
                fields,
            ))
        }
        _ => Err(PyValueError::new_err(format!("unknown type description tag {tag:?}"))),
    }
}

impl Data {
    fn inner(&self) -> PyResult<&Arc<Inner>> {
        self.inner.get().ok_or_else(|| PyRuntimeError::new_err("the shared object is not set up"))
    }

    /// The inner object with the lifetime a stored guard needs.
    fn inner_static(&self) -> PyResult<&'static Inner> {
        let inner: &Inner = self.inner()?;
        // SAFETY: `inner` lives in an `Arc` this object keeps until it is
        // dropped, after `held` (field order); every guard made from the
        // returned reference is stored in `held` or dropped before the
        // method that made it returns.
        Ok(unsafe { &*(inner as *const Inner) })
    }
}

#[pymethods]
impl Data {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyAny>>) -> Self {
        Data {
            held: GilCell::new(None),
            inner: OnceLock::new(),
            died: AtomicBool::new(false),
            last_died: AtomicBool::new(false),
            owner: GilCell::new((0, 0, 0)),
            format: StdMutex::new((c"B".to_owned(), 1)),
        }
    }

    /// Creates or opens the object: `kind` is "value", "array" or "mutex",
    /// `mode` "create", "open" or "open_or_create"; `desc` describes one
    /// element; `length` is an array's; `init` the initial bytes (all of
    /// them), or None for zeroes. `format`/`itemsize` describe the buffer.
    #[pyo3(signature = (name, kind, mode, desc, length, init, format, itemsize))]
    #[allow(clippy::too_many_arguments)]
    fn _setup(
        &self,
        name: &str,
        kind: &str,
        mode: &str,
        desc: &Bound<'_, PyAny>,
        length: usize,
        init: Option<Vec<u8>>,
        format: &str,
        itemsize: usize,
    ) -> PyResult<()> {
        if self.inner.get().is_some() {
            return Err(PyRuntimeError::new_err("already set up"));
        }
        let ty = type_desc(desc)?;
        let zeroes = || vec![0u8; ty.size as usize];
        let obj = match (kind, mode) {
            ("value", "create") => {
                Obj::Value(DynValue::create(name, &ty, &init.unwrap_or_else(zeroes)).map_err(to_py)?)
            }
            ("value", "open_or_create") => Obj::Value(
                DynValue::open_or_create_with(name, &ty, &init.unwrap_or_else(zeroes), &Default::default())
                    .map_err(to_py)?,
            ),
            ("value", "open") => Obj::Value(DynValue::open(name, &ty).map_err(to_py)?),
            ("mutex", "create") => {
                Obj::Mutex(DynMutex::create(name, &ty, &init.unwrap_or_else(zeroes)).map_err(to_py)?)
            }
            ("mutex", "open_or_create") => Obj::Mutex(
                DynMutex::open_or_create_with(name, &ty, &init.unwrap_or_else(zeroes), &Default::default())
                    .map_err(to_py)?,
            ),
            ("mutex", "open") => Obj::Mutex(DynMutex::open(name, &ty).map_err(to_py)?),
            ("array", "create") => Obj::Array(
                DynArray::create_with(name, &ty, length, init.as_deref(), &Default::default()).map_err(to_py)?,
            ),
            ("array", "open_or_create") => {
                Obj::Array(DynArray::open_or_create_with(name, &ty, length, &Default::default()).map_err(to_py)?)
            }
            ("array", "open") => Obj::Array(DynArray::open(name, &ty).map_err(to_py)?),
            _ => return Err(PyValueError::new_err(format!("bad kind/mode {kind:?}/{mode:?}"))),
        };
        let len = each!(&obj, o => o.data_len());
        let inner = Arc::new(Inner { obj, ptr: AtomicUsize::new(0), len });
        let _ = self.inner.set(inner);
        *self.format.lock().unwrap_or_else(|e| e.into_inner()) = (CString::new(format)?, itemsize.max(1));
        if kind != "mutex" {
            // Where the data lies in this mapping is known only through a
            // guard: try now, else it is noted by the first acquire (or
            // waited for by the first unlocked access). Opening never waits
            // for a holder.
            let inner = self.inner_static()?;
            match inner.try_lock_for(None) {
                Ok(mut g) => inner.note_ptr(&mut g),
                Err((died, Some(mut g))) => {
                    inner.note_ptr(&mut g);
                    self.died.store(died, Ordering::Relaxed);
                }
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// The segment name.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(each!(&self.inner()?.obj, o => o.name().to_owned()))
    }

    /// Keeps the name after this (creating) object is gone.
    fn persist(&self) -> PyResult<()> {
        each!(&self.inner()?.obj, o => o.persist());
        Ok(())
    }

    /// Bytes of one element.
    #[getter]
    fn elem_size(&self) -> PyResult<usize> {
        Ok(each!(&self.inner()?.obj, o => o.elem_size()))
    }

    /// Bytes of all the data.
    #[getter]
    fn nbytes(&self) -> PyResult<usize> {
        Ok(self.inner()?.len)
    }

    /// Number of elements (1 but for an array).
    #[getter]
    fn length(&self) -> PyResult<usize> {
        Ok(match &self.inner()?.obj {
            Obj::Array(a) => a.len(),
            _ => 1,
        })
    }

    /// Takes the lock. `block=False` tries once; `timeout` is float seconds
    /// (`None`: forever). Returns whether it was acquired; if the previous
    /// holder died holding it, `_take_owner_died()` is true once after.
    #[pyo3(signature = (block = true, timeout = None))]
    #[inline]
    fn _acquire(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        let inner = self.inner_static()?;
        let step = move |slice: Option<Duration>| match inner.try_lock_for(slice) {
            Ok(mut g) => {
                inner.note_ptr(&mut g);
                Some((Held { _guard: g }, false))
            }
            Err((died, Some(mut g))) => {
                inner.note_ptr(&mut g);
                Some((Held { _guard: g }, died))
            }
            Err(_) => None,
        };
        // An uncontended lock: the library's inline fast path, GIL held.
        let got = match step(None) {
            Some(got) => Some(got),
            None if block => wait_sliced(py, deadline_of(timeout)?, move |slice| step(Some(slice)))?,
            None => None,
        };
        let Some((held, died)) = got else { return Ok(false) };
        // A slot that is not empty holds a forked child's copy of its
        // parent's guard (this object's own guard was the lock we took):
        // replacing it forgets that copy.
        let old = self.held.with(py, |slot| slot.replace(Owned::new(held)));
        drop(old);
        if died {
            self.died.store(true, Ordering::Relaxed);
        }
        Ok(true)
    }

    /// Takes the lock, like `multiprocessing.Lock.acquire`: `block=False`
    /// tries once, `timeout` is float seconds (`None`: forever). Returns
    /// whether it did. If the previous holder died holding it, the lock is
    /// yours all the same: `owner_died` is then true (until the next
    /// acquire) and a `shmkit.OwnerDiedWarning` is issued.
    #[pyo3(signature = (block = true, timeout = None))]
    fn acquire(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        if !self._acquire(py, block, timeout)? {
            return Ok(false);
        }
        self.after_acquire(py)?;
        Ok(true)
    }

    /// Releases the lock; `ValueError` if this process does not hold it.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        if self._release(py) { Ok(()) } else { Err(PyValueError::new_err("semaphore or lock released too many times")) }
    }

    /// `with lock:` takes the lock (waiting as long as it takes).
    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().acquire(slf.py(), true, None)?;
        Ok(slf)
    }

    /// Leaving `with lock:` releases it.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.release(py)
    }

    /// `with rlock:` for a recursive lock.
    fn _renter(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get()._racquire(slf.py(), true, None)?;
        Ok(slf)
    }

    /// Leaving `with rlock:`.
    #[pyo3(signature = (*_exc))]
    fn _rexit(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        self._rrelease(py)
    }

    /// Takes the lock recursively (an `RLock`): again at once if this thread
    /// holds it. Otherwise as `acquire`.
    #[pyo3(signature = (block = true, timeout = None))]
    fn _racquire(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        let me = (crate::current_pid(), thread_id());
        let again = self.owner.with(py, |owner| {
            let mine = (owner.0, owner.1) == me && owner.2 > 0;
            if mine {
                owner.2 += 1;
            }
            mine
        });
        if again {
            return Ok(true);
        }
        if !self._acquire(py, block, timeout)? {
            return Ok(false);
        }
        self.owner.with(py, |owner| *owner = (me.0, me.1, 1));
        self.after_acquire(py)?;
        Ok(true)
    }

    /// Releases one level of a recursive hold; `RuntimeError` if this thread
    /// does not hold it.
    fn _rrelease(&self, py: Python<'_>) -> PyResult<()> {
        let me = (crate::current_pid(), thread_id());
        let last = self.owner.with(py, |owner| {
            if (owner.0, owner.1) != me || owner.2 == 0 {
                return None;
            }
            owner.2 -= 1;
            if owner.2 == 0 {
                *owner = (0, 0, 0);
            }
            Some(owner.2 == 0)
        });
        match last {
            None => Err(PyRuntimeError::new_err("cannot release un-acquired lock")),
            Some(last) => {
                if last {
                    self._release(py);
                }
                Ok(())
            }
        }
    }

    /// Whether this thread holds the lock recursively.
    fn _is_owned(&self, py: Python<'_>) -> bool {
        let me = (crate::current_pid(), thread_id());
        self.owner.with(py, |owner| (owner.0, owner.1) == me && owner.2 > 0)
    }

    /// Releases every level of this thread's recursive hold (for a
    /// condition's wait); returns the depth to give `_acquire_restore`.
    fn _release_save(&self, py: Python<'_>) -> PyResult<usize> {
        if !self._is_owned(py) {
            return Err(PyRuntimeError::new_err("cannot release un-acquired lock"));
        }
        let depth = self.owner.with(py, std::mem::take).2;
        self._release(py);
        Ok(depth)
    }

    /// Takes the lock again at `depth` (after `_release_save`).
    fn _acquire_restore(&self, py: Python<'_>, depth: usize) -> PyResult<()> {
        self._acquire(py, true, None)?;
        let me = (crate::current_pid(), thread_id(), depth.max(1));
        self.owner.with(py, |owner| *owner = me);
        self.after_acquire(py)
    }

    /// Whether the previous holder had died when this object last acquired
    /// the lock (you hold it then: repair the data it guards).
    #[getter]
    fn owner_died(&self) -> bool {
        self.last_died.load(Ordering::Relaxed)
    }

    #[setter]
    fn set_owner_died(&self, died: bool) {
        self.last_died.store(died, Ordering::Relaxed);
    }

    /// Releases the lock this object holds; `False` if it holds none.
    #[inline]
    fn _release(&self, py: Python<'_>) -> bool {
        let taken = self.held.with(py, Option::take);
        // A forked child's copy of its parent's guard is not the child's to
        // release (it is forgotten on drop): "not held".
        taken.is_some_and(|h| h.is_ours())
    }

    /// Whether this object holds the lock now.
    fn _is_held(&self, py: Python<'_>) -> bool {
        self.held.with(py, |slot| slot.as_ref().is_some_and(|h| h.is_ours()))
    }

    /// Whether some process holds the lock now (a snapshot).
    fn _is_locked(&self) -> PyResult<bool> {
        Ok(each!(&self.inner()?.obj, o => o.is_locked()))
    }

    /// Whether a holder died holding the lock since the last call (read
    /// once: the call clears it).
    #[inline]
    fn _take_owner_died(&self) -> bool {
        // A load first: the common case (nobody died) writes nothing.
        self.died.load(Ordering::Relaxed) && self.died.swap(false, Ordering::Relaxed)
    }

    /// A copy of `len` bytes at `offset` of the data (no locking: the
    /// caller holds the lock or accepts a racy read, as `RawValue` does).
    fn _read<'py>(&self, py: Python<'py>, offset: usize, len: usize) -> PyResult<Bound<'py, PyBytes>> {
        let (ptr, total) = self.span(py)?;
        check_range(offset, len, total)?;
        // SAFETY: `offset..offset + len` is inside the data (checked), which
        // the mapping this object keeps holds; bytes are plain data.
        let bytes = unsafe { std::slice::from_raw_parts((ptr + offset) as *const u8, len) };
        Ok(PyBytes::new(py, bytes))
    }

    /// Writes `bytes` at `offset` of the data (no locking, as `_read`).
    fn _write(&self, py: Python<'_>, offset: usize, bytes: &[u8]) -> PyResult<()> {
        let (ptr, total) = self.span(py)?;
        check_range(offset, bytes.len(), total)?;
        // SAFETY: inside the data (checked), in the mapping this object
        // keeps; any byte pattern is valid for the plain data held there.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (ptr + offset) as *mut u8, bytes.len()) };
        Ok(())
    }

    /// The data as a writable buffer (a memoryview, numpy.frombuffer):
    /// no copy, no locking.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut pyo3::ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let (ptr, len, format, itemsize) = {
            let me = slf.get();
            let (ptr, len) = me.span(slf.py())?;
            let f = me.format.lock().unwrap_or_else(|e| e.into_inner()).clone();
            (ptr, len, f.0, f.1)
        };
        // SAFETY: the caller (CPython) passes a view to fill; the data
        // stays mapped while the view holds a reference to this object.
        unsafe { fill_view(view, flags, ptr as *mut c_void, len, format, itemsize, slf.into_any()) }
    }

    unsafe fn __releasebuffer__(&self, view: *mut pyo3::ffi::Py_buffer) {
        // SAFETY: the view was filled by fill_view.
        unsafe { release_view(view) }
    }
}

/// The calling thread, for recursive holds.
fn thread_id() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

impl Data {
    /// After a successful acquire: records and reports a dead holder.
    #[inline]
    fn after_acquire(&self, py: Python<'_>) -> PyResult<()> {
        let died = self._take_owner_died();
        if self.last_died.load(Ordering::Relaxed) != died {
            self.last_died.store(died, Ordering::Relaxed);
        }
        if died {
            let category = py.import("shmkit")?.getattr("OwnerDiedWarning")?;
            let msg = format!(
                "the previous holder of '{}' died holding its lock; the data it guarded may need repair",
                self.name()?
            );
            PyErr::warn(py, &category, &std::ffi::CString::new(msg)?, 1)?;
        }
        Ok(())
    }

    /// Where the data lies and its length; the first unlocked access of an
    /// object opened while another process held its lock waits for the lock
    /// once, to learn it.
    fn span(&self, py: Python<'_>) -> PyResult<(usize, usize)> {
        let inner = self.inner_static()?;
        if matches!(inner.obj, Obj::Mutex(_)) {
            return Err(PyBufferError::new_err("a lock has no data buffer"));
        }
        if inner.ptr.load(Ordering::Relaxed) == 0 && inner.len != 0 {
            let died = wait_sliced(py, None, move |slice| match inner.try_lock_for(Some(slice)) {
                Ok(mut g) => {
                    inner.note_ptr(&mut g);
                    Some(false)
                }
                Err((died, Some(mut g))) => {
                    inner.note_ptr(&mut g);
                    Some(died)
                }
                Err(_) => None,
            })?;
            if died == Some(true) {
                self.died.store(true, Ordering::Relaxed);
            }
        }
        let ptr = inner.ptr.load(Ordering::Relaxed);
        // An empty array has no data: any aligned non-null address will do.
        Ok((if ptr == 0 { std::ptr::NonNull::<u64>::dangling().as_ptr() as usize } else { ptr }, inner.len))
    }
}

fn check_range(offset: usize, len: usize, total: usize) -> PyResult<()> {
    if offset.checked_add(len).is_none_or(|end| end > total) {
        return Err(PyIndexError::new_err(format!("{len} bytes at {offset} past the end ({total} bytes)")));
    }
    Ok(())
}

/// Fills a one-dimensional writable buffer view of `len` bytes at `buf`,
/// items of `itemsize` bytes in `format`.
///
/// # Safety
/// `view` is a `Py_buffer` to fill (from `__getbuffer__`); `buf..buf+len`
/// stays valid while `owner` lives.
pub(crate) unsafe fn fill_view(
    view: *mut pyo3::ffi::Py_buffer,
    flags: c_int,
    buf: *mut c_void,
    len: usize,
    format: CString,
    itemsize: usize,
    owner: Bound<'_, PyAny>,
) -> PyResult<()> {
    use pyo3::ffi;
    if view.is_null() {
        return Err(PyBufferError::new_err("view is null"));
    }
    let (format, itemsize) =
        if itemsize > 0 && len % itemsize == 0 { (format, itemsize) } else { (c"B".to_owned(), 1) };
    // SAFETY: `view` is valid to write (the caller's contract).
    unsafe {
        (*view).obj = owner.into_ptr();
        (*view).buf = buf;
        (*view).len = len as isize;
        (*view).readonly = 0;
        (*view).itemsize = itemsize as isize;
        (*view).format =
            if flags & ffi::PyBUF_FORMAT == ffi::PyBUF_FORMAT { format.into_raw() } else { std::ptr::null_mut() };
        (*view).ndim = 1;
        (*view).shape = std::ptr::null_mut();
        (*view).strides = std::ptr::null_mut();
        if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
            // shape lives in `internal`: one Py_ssize_t we allocate.
            let shape = Box::into_raw(Box::new((len / itemsize) as isize));
            (*view).shape = shape;
            (*view).internal = shape as *mut c_void;
        }
        if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
            (*view).strides = &mut (*view).itemsize;
        }
        (*view).suboffsets = std::ptr::null_mut();
    }
    Ok(())
}

/// Frees what [`fill_view`] allocated.
///
/// # Safety
/// `view` was filled by [`fill_view`] and is released once.
pub(crate) unsafe fn release_view(view: *mut pyo3::ffi::Py_buffer) {
    // SAFETY: `format` was made by `CString::into_raw` and `internal` by
    // `Box::into_raw` in fill_view (or they are null).
    unsafe {
        if !(*view).format.is_null() {
            drop(CString::from_raw((*view).format));
            (*view).format = std::ptr::null_mut();
        }
        if !(*view).internal.is_null() {
            drop(Box::from_raw((*view).internal as *mut isize));
            (*view).internal = std::ptr::null_mut();
        }
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Data>()?;
    Ok(())
}

// ------------------------------------------------ the lock's fast methods

/// `Lock.acquire` and `Lock.release` as method descriptors of CPython's own
/// kind (`METH_FASTCALL | METH_KEYWORDS`, `METH_NOARGS`), installed on the
/// Python `Lock` class: CPython calls them without PyO3's trampoline and
/// argument parsing, as it calls `multiprocessing`'s SemLock methods. An
/// `acquire()` with no argument tries the lock once here; anything else
/// (arguments, a lock that is held) goes to the general `Data.acquire`.
mod fast {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use pyo3::exceptions::{PyRuntimeError, PyValueError};
    use pyo3::ffi;
    use pyo3::prelude::*;

    use super::Data;

    /// A method table entry that lives for the whole program.
    struct Def(ffi::PyMethodDef);

    // SAFETY: the definitions are written once, at compile time, and only
    // read by CPython (which needs them to stay put).
    unsafe impl Sync for Def {}

    static ACQUIRE: Def = Def(ffi::PyMethodDef {
        ml_name: c"acquire".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunctionFastWithKeywords: acquire },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: c"acquire(block=True, timeout=None)\n--\n\nTakes the lock, like multiprocessing.Lock.acquire: block=False tries once, timeout is float seconds (None: forever). Returns whether it did. If the previous holder died holding it, the lock is yours all the same: owner_died is then true and a shmkit.OwnerDiedWarning is issued.".as_ptr(),
    });

    static RELEASE: Def = Def(ffi::PyMethodDef {
        ml_name: c"release".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: release },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: c"release()\n--\n\nReleases the lock; ValueError if this process does not hold it.".as_ptr(),
    });

    /// Runs `f` with the GIL's token, turning an error or a panic into a
    /// Python exception (NULL) and a value into a new reference.
    fn guarded(f: impl FnOnce(Python<'_>) -> PyResult<Py<PyAny>>) -> *mut ffi::PyObject {
        // SAFETY: CPython calls a method with the GIL held (the module
        // declares it needs the GIL).
        let py = unsafe { Python::assume_attached() };
        match catch_unwind(AssertUnwindSafe(|| f(py))) {
            Ok(Ok(v)) => v.into_ptr(),
            Ok(Err(e)) => {
                e.restore(py);
                std::ptr::null_mut()
            }
            Err(_) => {
                PyRuntimeError::new_err("internal error in shmkit (a panic)").restore(py);
                std::ptr::null_mut()
            }
        }
    }

    /// The object a method descriptor of `Lock` was called on.
    ///
    /// # Safety
    /// `slf` is a live object whose type is `Lock` or a subclass (CPython's
    /// method descriptor checks it before the call), so a `Data`.
    unsafe fn data<'py>(py: Python<'py>, slf: *mut ffi::PyObject) -> Bound<'py, Data> {
        // SAFETY: as the caller promises.
        unsafe { Bound::from_borrowed_ptr(py, slf).cast_into_unchecked::<Data>() }
    }

    unsafe extern "C" fn acquire(
        slf: *mut ffi::PyObject,
        args: *const *mut ffi::PyObject,
        nargsf: ffi::Py_ssize_t,
        kwnames: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject {
        guarded(|py| {
            // SAFETY: called by CPython as a method of `Lock`.
            let obj = unsafe { data(py, slf) };
            // SAFETY: the vectorcall convention.
            let nargs = unsafe { ffi::PyVectorcall_NARGS(nargsf as usize) };
            if nargs == 0 && kwnames.is_null() {
                let d = obj.get();
                if d._acquire(py, false, None)? {
                    d.after_acquire(py)?;
                    return Ok(true.into_pyobject(py)?.to_owned().into_any().unbind());
                }
            }
            // The general method, with the arguments as given.
            let general = py.get_type::<Data>().getattr("acquire")?;
            let mut all: Vec<*mut ffi::PyObject> = Vec::with_capacity(nargs as usize + 2);
            all.push(std::ptr::null_mut()); // the slot PY_VECTORCALL_ARGUMENTS_OFFSET lends
            all.push(slf);
            let kw = if kwnames.is_null() {
                0
            } else {
                // SAFETY: `kwnames` is the tuple of keyword names.
                unsafe { ffi::PyTuple_Size(kwnames) }
            };
            for i in 0..(nargs + kw) as usize {
                // SAFETY: `args` holds `nargs` positional and `kw` keyword
                // values (the vectorcall convention).
                all.push(unsafe { *args.add(i) });
            }
            // SAFETY: `general` is callable; `all[1..]` is self, then the
            // arguments and keyword values, `kwnames` their names or NULL.
            let r = unsafe {
                ffi::PyObject_Vectorcall(
                    general.as_ptr(),
                    all.as_ptr().add(1),
                    (nargs as usize + 1) | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET,
                    kwnames,
                )
            };
            // SAFETY: a new reference, or NULL with an exception set.
            unsafe { Bound::from_owned_ptr_or_err(py, r) }.map(Bound::unbind)
        })
    }

    unsafe extern "C" fn release(slf: *mut ffi::PyObject, _unused: *mut ffi::PyObject) -> *mut ffi::PyObject {
        guarded(|py| {
            // SAFETY: called by CPython as a method of `Lock`.
            let obj = unsafe { data(py, slf) };
            if obj.get()._release(py) {
                Ok(py.None())
            } else {
                Err(PyValueError::new_err("semaphore or lock released too many times"))
            }
        })
    }

    /// Installs the fast `acquire` and `release` on `cls` (the Python
    /// `Lock` class, a subclass of `Data`).
    #[pyfunction]
    pub(crate) fn _install_fast_lock(cls: &Bound<'_, pyo3::types::PyType>) -> PyResult<()> {
        if !cls.is_subclass_of::<Data>()? {
            return Err(PyValueError::new_err("not a subclass of Data"));
        }
        for (name, def) in [("acquire", &ACQUIRE), ("release", &RELEASE)] {
            // SAFETY: `cls` is a live type; `def` lives for ever.
            let descr = unsafe { ffi::PyDescr_NewMethod(cls.as_type_ptr(), (&raw const def.0).cast_mut()) };
            // SAFETY: a new reference, or NULL with an exception set.
            let descr = unsafe { Bound::from_owned_ptr_or_err(cls.py(), descr) }?;
            cls.setattr(name, descr)?;
        }
        Ok(())
    }
}

pub(crate) use fast::_install_fast_lock;
