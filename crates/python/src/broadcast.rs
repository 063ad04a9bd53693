//! Publish–subscribe for Python: `shmkit::ByteBroadcast` with its publisher
//! and subscribers (the pure-Python `shmkit.Broadcast` pickles objects into
//! it).

use std::sync::Mutex as StdMutex;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use shmkit::{BroadcastRecvError, BroadcastSendError, ByteBroadcast, BytePublisher, ByteSubscriber, Policy};

use crate::error::{ShmkitError, to_py};
use crate::queue::{Disconnected, ReadyFdPy};
use crate::{deadline_of, wait_sliced};

pyo3::create_exception!(
    shmkit,
    Lagged,
    ShmkitError,
    "The subscriber fell a whole ring behind: `args[0]` messages were overwritten before it read them; the next get gives the oldest message still there."
);

/// A named broadcast of byte messages.
#[pyclass(module = "shmkit._shmkit", name = "ByteBroadcast")]
pub(crate) struct PyBroadcast(ByteBroadcast);

#[pymethods]
impl PyBroadcast {
    /// `mode`: "create", "open" or "open_or_create".
    #[new]
    #[pyo3(signature = (name, mode, capacity = 1024, max_message_size = 8192, lossless = false))]
    fn new(name: &str, mode: &str, capacity: usize, max_message_size: usize, lossless: bool) -> PyResult<Self> {
        let policy = if lossless { Policy::Lossless } else { Policy::Lossy };
        let b = match mode {
            "create" => ByteBroadcast::create(name, capacity, max_message_size, policy),
            "open" => ByteBroadcast::open(name),
            "open_or_create" => ByteBroadcast::open_or_create(name, capacity, max_message_size, policy),
            m => return Err(PyValueError::new_err(format!("bad mode {m:?}"))),
        }
        .map_err(to_py)?;
        Ok(PyBroadcast(b))
    }
    #[getter]
    fn name(&self) -> String {
        self.0.name().to_owned()
    }
    #[getter]
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
    #[getter]
    fn max_message_size(&self) -> usize {
        self.0.max_message_len()
    }
    #[getter]
    fn lossless(&self) -> bool {
        self.0.policy() == Policy::Lossless
    }
    fn persist(&self) {
        self.0.persist()
    }
    /// The publishing end (one at a time per broadcast).
    fn publisher(&self) -> PyResult<PyPublisher> {
        Ok(PyPublisher(StdMutex::new(self.0.publisher().map_err(to_py)?)))
    }
    /// A new subscriber that first gets the last `last` messages still held.
    #[pyo3(signature = (last = 0))]
    fn subscribe(&self, last: usize) -> PyResult<PySubscriber> {
        Ok(PySubscriber(StdMutex::new(self.0.subscribe_from_last(last).map_err(to_py)?)))
    }
}

/// The publishing end of a broadcast.
#[pyclass(module = "shmkit._shmkit", name = "BytePublisher")]
pub(crate) struct PyPublisher(StdMutex<BytePublisher>);

#[pymethods]
impl PyPublisher {
    /// Publishes `data`; a lossless broadcast waits (`timeout` float
    /// seconds, `None` forever) while a live subscriber lags a whole ring.
    /// False if the time ran out.
    #[pyo3(signature = (data, block = true, timeout = None))]
    fn send(&self, py: Python<'_>, data: &[u8], block: bool, timeout: Option<f64>) -> PyResult<bool> {
        let step = |d: Option<Duration>| {
            let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let r = match d {
                None => p.try_send(data),
                Some(d) => p.send_timeout(data, d),
            };
            match r {
                Ok(()) => Some(Ok(())),
                Err(BroadcastSendError::Full | BroadcastSendError::Timeout) => None,
                Err(e @ BroadcastSendError::TooLarge { .. }) => {
                    Some(Err(PyValueError::new_err(format!("{e}: make the broadcast with a larger max_message_size="))))
                }
                Err(e) => Some(Err(ShmkitError::new_err(e.to_string()))),
            }
        };
        let r = if block { wait_sliced(py, deadline_of(timeout)?, |d| step(Some(d)))? } else { step(None) };
        r.transpose().map(|r| r.is_some())
    }
}

/// A subscriber of a broadcast.
#[pyclass(module = "shmkit._shmkit", name = "ByteSubscriber")]
pub(crate) struct PySubscriber(StdMutex<ByteSubscriber>);

impl PySubscriber {
    /// The subscriber, locked (by `shmkit.wait`, for one slice).
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ByteSubscriber> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PySubscriber {
    /// The next message (`block`/`timeout` as `send`); None if none came;
    /// `Lagged(n)` if messages were lost; `Disconnected` once nothing is new
    /// and the publisher is gone.
    #[pyo3(signature = (block = true, timeout = None))]
    fn recv<'py>(&self, py: Python<'py>, block: bool, timeout: Option<f64>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let step = |d: Option<Duration>| {
            let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let r = match d {
                None => s.try_recv(),
                Some(d) => s.recv_timeout(d),
            };
            match r {
                Ok(v) => Some(Ok(v)),
                Err(BroadcastRecvError::Empty | BroadcastRecvError::Timeout) => None,
                Err(BroadcastRecvError::Lagged(n)) => Some(Err(Lagged::new_err(n))),
                Err(BroadcastRecvError::Disconnected) => {
                    Some(Err(Disconnected::new_err("nothing new and the publisher is gone")))
                }
                Err(e) => Some(Err(ShmkitError::new_err(e.to_string()))),
            }
        };
        let r = if block { wait_sliced(py, deadline_of(timeout)?, |d| step(Some(d)))? } else { step(None) };
        match r {
            None => Ok(None),
            Some(r) => r.map(|v| Some(PyBytes::new(py, &v))),
        }
    }

    /// Messages published and not yet received by this subscriber.
    fn pending(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pending()
    }

    /// A readiness descriptor watching this subscriber (for asyncio).
    fn _ready_fd(&self) -> PyResult<ReadyFdPy> {
        ReadyFdPy::watching(&*self.lock())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBroadcast>()?;
    m.add_class::<PyPublisher>()?;
    m.add_class::<PySubscriber>()?;
    m.add("Lagged", m.py().get_type::<Lagged>())?;
    Ok(())
}
