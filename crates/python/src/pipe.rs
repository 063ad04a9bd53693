//! Pipes and byte queues: `_shmkit.PipeHandle` (a named `Pipe` or
//! `ByteQueue`) and `_shmkit.Conn`, one end of it.

use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
use std::time::Duration;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBrokenPipeError, PyEOFError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use shmkit::{ByteQueue, ByteReceiver, ByteRecvError, ByteSendError, ByteSender, Connection, Pipe, Selectable};

use crate::error::{ShmkitError, to_py};
use crate::queue::Got;
use crate::{Owned, deadline_of, wait_sliced};

enum Named {
    Pipe(Pipe),
    Bytes(ByteQueue),
}

/// A named pipe (duplex) or byte queue (one way), whose ends are `Conn`s.
#[pyclass(module = "shmkit._shmkit", name = "PipeHandle")]
pub(crate) struct PipeHandle(Arc<Named>);

#[pymethods]
impl PipeHandle {
    /// `mode` "create", "open" or "open_or_create"; `capacity` bytes each way.
    #[new]
    fn new(name: &str, mode: &str, duplex: bool, capacity: usize) -> PyResult<Self> {
        let named = if duplex {
            Named::Pipe(
                match mode {
                    "create" => Pipe::create_with(name, capacity, &Default::default()),
                    "open" => Pipe::open(name),
                    "open_or_create" => Pipe::open_or_create(name),
                    m => return Err(PyValueError::new_err(format!("bad mode {m:?}"))),
                }
                .map_err(to_py)?,
            )
        } else {
            Named::Bytes(
                match mode {
                    "create" => ByteQueue::create(name, capacity),
                    "open" => ByteQueue::open(name),
                    "open_or_create" => ByteQueue::open_or_create(name, capacity),
                    m => return Err(PyValueError::new_err(format!("bad mode {m:?}"))),
                }
                .map_err(to_py)?,
            )
        };
        Ok(PipeHandle(Arc::new(named)))
    }

    #[getter]
    fn name(&self) -> String {
        match &*self.0 {
            Named::Pipe(p) => p.name().to_owned(),
            Named::Bytes(q) => q.name().to_owned(),
        }
    }

    #[getter]
    fn capacity(&self) -> usize {
        match &*self.0 {
            Named::Pipe(p) => p.capacity(),
            Named::Bytes(q) => q.capacity(),
        }
    }

    #[getter]
    fn duplex(&self) -> bool {
        matches!(&*self.0, Named::Pipe(_))
    }

    fn persist(&self) {
        match &*self.0 {
            Named::Pipe(p) => p.persist(),
            Named::Bytes(q) => q.persist(),
        }
    }

    /// Bytes waiting in a byte queue (0 for a pipe): a snapshot.
    fn used_bytes(&self) -> usize {
        match &*self.0 {
            Named::Pipe(_) => 0,
            Named::Bytes(q) => q.used_bytes(),
        }
    }

    /// Takes an end: a pipe's end "0" or "1", or its free end ("any"); a
    /// byte queue's "send" or "recv" end.
    fn connect(&self, which: &str) -> PyResult<Conn> {
        let end = match (&*self.0, which) {
            (Named::Pipe(p), "any") => End::Duplex(p.connect().map_err(to_py)?),
            (Named::Pipe(p), "0") => End::Duplex(p.connect_end(0).map_err(to_py)?),
            (Named::Pipe(p), "1") => End::Duplex(p.connect_end(1).map_err(to_py)?),
            (Named::Bytes(q), "send") => End::Tx(q.sender().map_err(to_py)?),
            (Named::Bytes(q), "recv") => End::Rx(q.receiver().map_err(to_py)?),
            (_, w) => return Err(PyValueError::new_err(format!("bad end {w:?}"))),
        };
        let (readable, writable) = match &end {
            End::Duplex(_) => (true, true),
            End::Tx(_) => (false, true),
            End::Rx(_) => (true, false),
        };
        Ok(Conn { end: StdMutex::new(Some(Owned::new(end))), _named: self.0.clone(), readable, writable })
    }
}

pub(crate) enum End {
    Duplex(Connection),
    Tx(ByteSender),
    Rx(ByteReceiver),
}

/// What `shmkit.wait` watches of an end: its receiving side; `None` once
/// the end is closed or if it only sends.
pub(crate) fn receiving_side(end: &Option<Owned<End>>) -> Option<&dyn Selectable> {
    match end.as_deref()? {
        End::Duplex(c) => Some(c),
        End::Rx(r) => Some(r),
        End::Tx(_) => None,
    }
}

/// One end of a pipe or byte queue.
#[pyclass(module = "shmkit._shmkit", name = "Conn")]
pub(crate) struct Conn {
    end: StdMutex<Option<Owned<End>>>,
    _named: Arc<Named>,
    #[pyo3(get)]
    pub(crate) readable: bool,
    #[pyo3(get)]
    writable: bool,
}

fn closed() -> PyErr {
    PyOSError::new_err("handle is closed")
}

fn send_err(e: ByteSendError) -> PyErr {
    match e {
        ByteSendError::Disconnected => PyBrokenPipeError::new_err("the receiving end is closed or its process died"),
        ByteSendError::TooLarge { len, max } => {
            PyValueError::new_err(format!("a message of {len} bytes is longer than this pipe carries ({max} bytes)"))
        }
        e => ShmkitError::new_err(e.to_string()),
    }
}

fn recv_err(e: ByteRecvError) -> PyErr {
    match e {
        ByteRecvError::Disconnected => PyEOFError::new_err("the sending end is closed or its process died"),
        e => ShmkitError::new_err(e.to_string()),
    }
}

impl Conn {
    /// The end, locked (by `shmkit.wait`, for one slice).
    pub(crate) fn lock_end(&self) -> MutexGuard<'_, Option<Owned<End>>> {
        self.end.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the end (the lock is held only for one slice).
    fn with<R>(&self, f: impl FnOnce(&mut End) -> PyResult<R>) -> PyResult<R> {
        let mut g = self.end.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_mut() {
            Some(end) => f(end),
            None => Err(closed()),
        }
    }
}

#[pymethods]
impl Conn {
    /// Sends `data`; waits while there is no room (`timeout`: float
    /// seconds, `None` forever). False on timeout.
    #[pyo3(signature = (data, timeout = None))]
    fn send_bytes(&self, py: Python<'_>, data: &[u8], timeout: Option<f64>) -> PyResult<bool> {
        let r = wait_sliced(py, deadline_of(timeout)?, |d: Duration| {
            let r = self.with(|end| {
                let r = match end {
                    End::Duplex(c) => c.send_timeout(data, d),
                    End::Tx(t) => t.send_timeout(data, d),
                    End::Rx(_) => return Err(PyOSError::new_err("connection is read-only")),
                };
                match r {
                    Ok(()) => Ok(Some(())),
                    Err(ByteSendError::Timeout) | Err(ByteSendError::Full) => Ok(None),
                    Err(e) => Err(send_err(e)),
                }
            });
            r.transpose()
        })?;
        r.transpose().map(|r| r.is_some())
    }

    /// Receives a message; `None` on timeout; `EOFError` at the end of the
    /// stream.
    #[pyo3(signature = (timeout = None))]
    fn recv_bytes<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        // A message that is there already goes from the ring straight into
        // a new bytes object (one copy; through a `Vec` it takes two and an
        // allocation).
        let ready = self.with(|end| {
            let r = match end {
                End::Duplex(c) => c.try_recv_ref(),
                End::Rx(r) => r.try_recv_ref(),
                End::Tx(_) => return Err(PyOSError::new_err("connection is write-only")),
            };
            match r {
                Ok(m) => Ok(Some(PyBytes::new(py, &m))),
                Err(ByteRecvError::Empty) => Ok(None),
                Err(e) => Err(recv_err(e)),
            }
        })?;
        if ready.is_some() {
            return Ok(ready);
        }
        let r = wait_sliced(py, deadline_of(timeout)?, |d: Duration| {
            let r = self.with(|end| {
                let r = match end {
                    End::Duplex(c) => c.recv_ref_timeout(d),
                    End::Rx(r) => r.recv_ref_timeout(d),
                    End::Tx(_) => return Err(PyOSError::new_err("connection is write-only")),
                };
                match r {
                    // A message that came while we waited is read where it lies.
                    Ok(m) => Ok(Some(Got::of(&m))),
                    Err(ByteRecvError::Timeout) | Err(ByteRecvError::Empty) => Ok(None),
                    Err(e) => Err(recv_err(e)),
                }
            });
            r.transpose()
        })?;
        match r {
            None => Ok(None),
            Some(Ok(got)) => Ok(Some(got.into_bytes(py))),
            Some(Err(e)) => Err(e),
        }
    }

    /// Receives a message straight into the writable buffer `buf` at
    /// `offset` (no intermediate bytes object); returns its length, or
    /// None on timeout. A buffer too short raises
    /// `multiprocessing.BufferTooShort` with the message (consumed).
    #[pyo3(signature = (buf, offset = 0, timeout = None))]
    fn recv_bytes_into(
        &self,
        py: Python<'_>,
        buf: PyBuffer<u8>,
        offset: usize,
        timeout: Option<f64>,
    ) -> PyResult<Option<usize>> {
        if buf.readonly() || !buf.is_c_contiguous() {
            return Err(PyValueError::new_err("recv_bytes_into needs a writable contiguous buffer"));
        }
        let total = buf.len_bytes();
        if offset > total {
            return Err(PyValueError::new_err("offset too large"));
        }
        let (ptr, len) = (buf.buf_ptr() as usize + offset, total - offset);
        let r = wait_sliced(py, deadline_of(timeout)?, |d: Duration| {
            // SAFETY: `buf` holds an export of the buffer for this whole
            // call, so its memory stays allocated and is not resized;
            // `offset <= total` (checked), so `ptr..ptr + len` lies in it;
            // it is writable (checked).
            let out = unsafe { std::slice::from_raw_parts_mut(ptr as *mut u8, len) };
            let r = self.with(|end| {
                let r = match end {
                    End::Duplex(c) => c.recv_into_timeout(out, d),
                    End::Rx(r) => r.recv_into_timeout(out, d),
                    End::Tx(_) => return Err(PyOSError::new_err("connection is write-only")),
                };
                match r {
                    Ok(n) => Ok(Some(Ok(n))),
                    Err(ByteRecvError::BufferTooSmall { .. }) => Ok(Some(Err(()))),
                    Err(ByteRecvError::Timeout) | Err(ByteRecvError::Empty) => Ok(None),
                    Err(e) => Err(recv_err(e)),
                }
            });
            r.transpose()
        })?;
        match r {
            None => Ok(None),
            Some(Ok(Ok(n))) => Ok(Some(n)),
            Some(Ok(Err(()))) => {
                // multiprocessing consumes the message and hands it over.
                let msg = self.recv_bytes(py, Some(0.0))?;
                let too_short = py.import("multiprocessing")?.getattr("BufferTooShort")?;
                Err(PyErr::from_value(too_short.call1((msg,))?))
            }
            Some(Err(e)) => Err(e),
        }
    }

    /// Whether a message is there, waiting at most `timeout` (0: look).
    /// At the end of the stream: True (the next recv raises EOFError), as
    /// `multiprocessing.Connection.poll`.
    #[pyo3(signature = (timeout = Some(0.0)))]
    fn poll(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let r = wait_sliced(py, deadline_of(timeout)?, |d: Duration| {
            let r = self.with(|end| {
                let r = match end {
                    End::Duplex(c) => c.poll(d),
                    End::Rx(r) => r.poll(d),
                    End::Tx(_) => return Err(PyOSError::new_err("connection is write-only")),
                };
                match r {
                    Ok(true) | Err(ByteRecvError::Disconnected) => Ok(Some(())),
                    Ok(false) => Ok(None),
                    Err(e) => Err(recv_err(e)),
                }
            });
            r.transpose()
        })?;
        r.transpose().map(|r| r.is_some())
    }

    /// A readiness descriptor watching this end's receiving side: readable
    /// while a message, or the end of the stream, is there to receive.
    fn _ready_fd(&self) -> PyResult<crate::queue::ReadyFdPy> {
        self.with(|end| match end {
            End::Duplex(c) => crate::queue::ReadyFdPy::watching(c),
            End::Rx(r) => crate::queue::ReadyFdPy::watching(r),
            End::Tx(_) => Err(PyOSError::new_err("connection is write-only")),
        })
    }

    /// Gives the end up: the peer sees the end of the stream once it has
    /// received what was sent. Harmless when closed already.
    fn close(&self) {
        let end = self.end.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(end);
    }

    /// Which end of a duplex pipe this is (0 or 1); None for a byte queue's.
    #[getter]
    fn end(&self) -> Option<usize> {
        match self.end.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
            Some(End::Duplex(c)) => Some(c.end()),
            _ => None,
        }
    }

    #[getter]
    fn closed(&self) -> bool {
        self.end.lock().unwrap_or_else(|e| e.into_inner()).is_none()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PipeHandle>()?;
    m.add_class::<Conn>()?;
    Ok(())
}
