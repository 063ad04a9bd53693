//! How the library's errors reach Python: the built-in exception a Python
//! user expects where there is one (`FileExistsError`, `FileNotFoundError`,
//! `PermissionError`, `ValueError`), else `shmkit.ShmkitError` or one of its
//! subclasses. The message is the library's, word for word.

use pyo3::exceptions::{PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError};
use pyo3::prelude::*;
use shmkit::Error;

pyo3::create_exception!(
    shmkit,
    ShmkitError,
    PyOSError,
    "A shmkit object could not be created, opened or used (see the message)."
);
pyo3::create_exception!(
    shmkit,
    WrongTypeError,
    ShmkitError,
    "The segment holds another kind of object or another element type; the message names the first difference."
);
pyo3::create_exception!(
    shmkit,
    BusyError,
    ShmkitError,
    "Every end of a pipe or single-producer queue is held by a live process."
);

/// Converts a library error into the Python exception for it.
pub(crate) fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::AlreadyExists { .. } => PyFileExistsError::new_err(msg),
        Error::NotFound { .. } => PyFileNotFoundError::new_err(msg),
        Error::InvalidName { .. } | Error::InvalidArgument(_) => PyValueError::new_err(msg),
        Error::PermissionDenied { .. } | Error::ForeignOwner { .. } | Error::InsecureMode { .. } => {
            PyPermissionError::new_err(msg)
        }
        Error::WrongKind { .. } | Error::WrongType { .. } => WrongTypeError::new_err(msg),
        Error::Busy { .. } => BusyError::new_err(msg),
        _ => ShmkitError::new_err(msg),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ShmkitError", py.get_type::<ShmkitError>())?;
    m.add("WrongTypeError", py.get_type::<WrongTypeError>())?;
    m.add("BusyError", py.get_type::<BusyError>())?;
    Ok(())
}
