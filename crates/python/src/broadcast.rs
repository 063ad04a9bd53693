//! Publish–subscribe for Python: `shmkit::ByteBroadcast` with its publisher
//! and subscribers (the pure-Python `shmkit.Broadcast` pickles objects into
//! it), or, given a type description, `shmkit::dynamic::DynBroadcast` (the
//! segment of a Rust `Broadcast<T>`; `Broadcast(item_type=...)`).

use std::sync::Mutex as StdMutex;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use shmkit::dynamic::{DynBroadcast, DynPublisher, DynSubscriber};
use shmkit::{
    BroadcastRecvError, BroadcastSendError, ByteBroadcast, BytePublisher, ByteSubscriber, Policy, Selectable,
};

use crate::error::{ShmkitError, to_py};
use crate::queue::{Disconnected, ReadyFdPy};
use crate::{deadline_of, wait_sliced};

pyo3::create_exception!(
    shmkit,
    Lagged,
    ShmkitError,
    "The subscriber fell a whole ring behind: `args[0]` messages were overwritten before it read them; the next get gives the oldest message still there."
);

/// A broadcast of byte messages, or of one element type.
enum AnyBroadcast {
    Bytes(ByteBroadcast),
    Typed(DynBroadcast),
}

enum AnyPublisher {
    Bytes(BytePublisher),
    Typed(DynPublisher),
}

pub(crate) enum AnySubscriber {
    Bytes(ByteSubscriber),
    Typed(DynSubscriber),
}

impl AnySubscriber {
    /// The subscriber as something `wait_any` and `ReadyFd` wait on.
    pub(crate) fn selectable(&self) -> &dyn Selectable {
        match self {
            AnySubscriber::Bytes(s) => s,
            AnySubscriber::Typed(s) => s,
        }
    }
}

/// A named broadcast of byte messages, or, with `desc` (a type
/// description), of elements of that type.
#[pyclass(module = "shmkit._shmkit", name = "ByteBroadcast")]
pub(crate) struct PyBroadcast(AnyBroadcast);

#[pymethods]
impl PyBroadcast {
    /// `mode`: "create", "open" or "open_or_create".
    #[new]
    #[pyo3(signature = (name, mode, capacity = 1024, max_message_size = 8192, lossless = false, desc = None))]
    fn new(
        name: &str,
        mode: &str,
        capacity: usize,
        max_message_size: usize,
        lossless: bool,
        desc: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let policy = if lossless { Policy::Lossless } else { Policy::Lossy };
        let b = match desc {
            None => AnyBroadcast::Bytes(
                match mode {
                    "create" => ByteBroadcast::create(name, capacity, max_message_size, policy),
                    "open" => ByteBroadcast::open(name),
                    "open_or_create" => ByteBroadcast::open_or_create(name, capacity, max_message_size, policy),
                    m => return Err(PyValueError::new_err(format!("bad mode {m:?}"))),
                }
                .map_err(to_py)?,
            ),
            Some(d) => {
                let ty = crate::data::type_desc(d)?;
                AnyBroadcast::Typed(
                    match mode {
                        "create" => DynBroadcast::create(name, &ty, capacity, policy),
                        "open" => DynBroadcast::open(name, &ty),
                        "open_or_create" => DynBroadcast::open_or_create(name, &ty, capacity, policy),
                        m => return Err(PyValueError::new_err(format!("bad mode {m:?}"))),
                    }
                    .map_err(to_py)?,
                )
            }
        };
        Ok(PyBroadcast(b))
    }
    #[getter]
    fn name(&self) -> String {
        match &self.0 {
            AnyBroadcast::Bytes(b) => b.name().to_owned(),
            AnyBroadcast::Typed(b) => b.name().to_owned(),
        }
    }
    #[getter]
    fn capacity(&self) -> usize {
        match &self.0 {
            AnyBroadcast::Bytes(b) => b.capacity(),
            AnyBroadcast::Typed(b) => b.capacity(),
        }
    }
    /// The longest message; a typed broadcast's element size.
    #[getter]
    fn max_message_size(&self) -> usize {
        match &self.0 {
            AnyBroadcast::Bytes(b) => b.max_message_len(),
            AnyBroadcast::Typed(b) => b.elem_size(),
        }
    }
    #[getter]
    fn lossless(&self) -> bool {
        let policy = match &self.0 {
            AnyBroadcast::Bytes(b) => b.policy(),
            AnyBroadcast::Typed(b) => b.policy(),
        };
        policy == Policy::Lossless
    }
    fn persist(&self) {
        match &self.0 {
            AnyBroadcast::Bytes(b) => b.persist(),
            AnyBroadcast::Typed(b) => b.persist(),
        }
    }
    /// The publishing end (one at a time per broadcast).
    fn publisher(&self) -> PyResult<PyPublisher> {
        let p = match &self.0 {
            AnyBroadcast::Bytes(b) => AnyPublisher::Bytes(b.publisher().map_err(to_py)?),
            AnyBroadcast::Typed(b) => AnyPublisher::Typed(b.publisher().map_err(to_py)?),
        };
        Ok(PyPublisher(StdMutex::new(p)))
    }
    /// A new subscriber that first gets the last `last` messages still held.
    #[pyo3(signature = (last = 0))]
    fn subscribe(&self, last: usize) -> PyResult<PySubscriber> {
        let s = match &self.0 {
            AnyBroadcast::Bytes(b) => AnySubscriber::Bytes(b.subscribe_from_last(last).map_err(to_py)?),
            AnyBroadcast::Typed(b) => AnySubscriber::Typed(b.subscribe_from_last(last).map_err(to_py)?),
        };
        Ok(PySubscriber(StdMutex::new(s)))
    }
}

/// The publishing end of a broadcast.
#[pyclass(module = "shmkit._shmkit", name = "BytePublisher")]
pub(crate) struct PyPublisher(StdMutex<AnyPublisher>);

#[pymethods]
impl PyPublisher {
    /// Publishes `data`; a lossless broadcast waits (`timeout` float
    /// seconds, `None` forever) while a live subscriber lags a whole ring.
    /// False if the time ran out.
    #[pyo3(signature = (data, block = true, timeout = None))]
    fn send(&self, py: Python<'_>, data: &[u8], block: bool, timeout: Option<f64>) -> PyResult<bool> {
        let step = |d: Option<Duration>| {
            let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let r = match (&mut *p, d) {
                (AnyPublisher::Bytes(p), None) => p.try_send(data),
                (AnyPublisher::Bytes(p), Some(d)) => p.send_timeout(data, d),
                (AnyPublisher::Typed(p), _) if data.len() != p.elem_size() => {
                    let size = p.elem_size();
                    return Some(Err(PyValueError::new_err(format!(
                        "{} bytes for an element of {size} bytes",
                        data.len()
                    ))));
                }
                (AnyPublisher::Typed(p), None) => p.try_send(data),
                (AnyPublisher::Typed(p), Some(d)) => p.send_timeout(data, d),
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
pub(crate) struct PySubscriber(StdMutex<AnySubscriber>);

impl PySubscriber {
    /// The subscriber, locked (by `shmkit.wait`, for one slice).
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, AnySubscriber> {
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
            let r = match &mut *s {
                AnySubscriber::Bytes(s) => match d {
                    None => s.try_recv(),
                    Some(d) => s.recv_timeout(d),
                },
                AnySubscriber::Typed(s) => {
                    let mut out = vec![0u8; s.elem_size()];
                    match d {
                        None => s.try_recv_into(&mut out),
                        Some(d) => s.recv_into_timeout(&mut out, d),
                    }
                    .map(|()| out)
                }
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
        match &*self.lock() {
            AnySubscriber::Bytes(s) => s.pending(),
            AnySubscriber::Typed(s) => s.pending(),
        }
    }

    /// A readiness descriptor watching this subscriber (for asyncio).
    fn _ready_fd(&self) -> PyResult<ReadyFdPy> {
        ReadyFdPy::watching(self.lock().selectable())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBroadcast>()?;
    m.add_class::<PyPublisher>()?;
    m.add_class::<PySubscriber>()?;
    m.add("Lagged", m.py().get_type::<Lagged>())?;
    Ok(())
}
