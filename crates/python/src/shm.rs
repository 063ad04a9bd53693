//! `_shmkit.SharedMemory`: a raw block of bytes (the library's
//! `SharedMemory`) exposed as a writable buffer.

use std::ffi::{CString, c_int, c_void};
use std::sync::OnceLock;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::data::{fill_view, release_view};
use crate::error::to_py;

/// The native half of `shmkit.SharedMemory`.
#[pyclass(subclass, module = "shmkit._shmkit", name = "SharedMemoryBlock")]
pub(crate) struct Block {
    inner: OnceLock<Box<shmkit::SharedMemory>>,
}

impl Block {
    fn inner(&self) -> PyResult<&shmkit::SharedMemory> {
        self.inner.get().map(|b| &**b).ok_or_else(|| PyRuntimeError::new_err("the block is not set up"))
    }
}

#[pymethods]
impl Block {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyAny>>) -> Self {
        Block { inner: OnceLock::new() }
    }

    /// `mode` "create" (`size` zeroed bytes), "open" or "open_or_create".
    fn _setup(&self, name: &str, mode: &str, size: usize) -> PyResult<()> {
        let shm = match mode {
            "create" => shmkit::SharedMemory::create(name, size),
            "open" => shmkit::SharedMemory::open(name),
            "open_or_create" => shmkit::SharedMemory::open_or_create(name, size),
            _ => return Err(PyValueError::new_err(format!("bad mode {mode:?}"))),
        }
        .map_err(to_py)?;
        self.inner.set(Box::new(shm)).map_err(|_| PyRuntimeError::new_err("already set up"))
    }

    /// The segment name.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.inner()?.name().to_owned())
    }

    /// Size in bytes.
    #[getter]
    fn size(&self) -> PyResult<usize> {
        Ok(self.inner()?.len())
    }

    /// Keeps the name after this (creating) object is gone.
    fn persist(&self) -> PyResult<()> {
        self.inner()?.persist();
        Ok(())
    }

    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut pyo3::ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let (ptr, len) = {
            let me = slf.borrow();
            let shm = me.inner()?;
            (shm.as_ptr(), shm.len())
        };
        // SAFETY: CPython passes a view to fill; the block stays mapped
        // while the view holds a reference to this object.
        unsafe { fill_view(view, flags, ptr as *mut c_void, len, c"B".to_owned(), 1, slf.into_any()) }
    }

    unsafe fn __releasebuffer__(&self, view: *mut pyo3::ffi::Py_buffer) {
        // SAFETY: the view was filled by fill_view.
        unsafe { release_view(view) }
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Block>()?;
    let _ = CString::default();
    Ok(())
}
