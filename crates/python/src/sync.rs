//! Semaphores, events and barriers (a `Condition` is built on semaphores
//! in Python, as multiprocessing builds it): thin wrappers whose
//! waits release the GIL in slices (see [`wait_sliced`]).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use shmkit::{BoundedSemaphore, Event, Selectable, Semaphore};

use crate::error::to_py;
use crate::{deadline_of, wait_sliced};

/// Opens or creates per `mode` ("create", "open", "open_or_create").
macro_rules! by_mode {
    ($ty:ty, $name:expr, $mode:expr, ($($arg:expr),*)) => {
        match $mode {
            "create" => <$ty>::create($name, $($arg),*),
            "open" => <$ty>::open($name),
            "open_or_create" => <$ty>::open_or_create($name, $($arg),*),
            m => return Err(PyValueError::new_err(format!("bad mode {m:?}"))),
        }
        .map_err(to_py)?
    };
}

enum Sem {
    Plain(Semaphore),
    Bounded(BoundedSemaphore),
}

macro_rules! sem {
    ($s:expr, $o:ident => $e:expr) => {
        match $s {
            Sem::Plain($o) => $e,
            Sem::Bounded($o) => $e,
        }
    };
}

/// A counting semaphore (bounded or not).
#[pyclass(module = "shmkit._shmkit", name = "Semaphore")]
pub(crate) struct PySemaphore(Box<Sem>);

impl PySemaphore {
    /// The semaphore, for `shmkit.wait` (ready while a permit is free).
    pub(crate) fn selectable(&self) -> &(dyn Selectable + Sync) {
        sem!(&*self.0, s => s)
    }
}

#[pymethods]
impl PySemaphore {
    #[new]
    fn new(name: &str, mode: &str, value: u32, bounded: bool) -> PyResult<Self> {
        Ok(PySemaphore(Box::new(if bounded {
            Sem::Bounded(by_mode!(BoundedSemaphore, name, mode, (value)))
        } else {
            Sem::Plain(by_mode!(Semaphore, name, mode, (value)))
        })))
    }

    #[getter]
    fn name(&self) -> String {
        sem!(&*self.0, s => s.name().to_owned())
    }

    #[getter]
    fn bounded(&self) -> bool {
        matches!(*self.0, Sem::Bounded(_))
    }

    fn persist(&self) {
        sem!(&*self.0, s => s.persist())
    }

    #[pyo3(signature = (block = true, timeout = None))]
    fn acquire(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        if !block {
            return Ok(sem!(&*self.0, s => s.try_acquire()));
        }
        let s = &*self.0;
        Ok(wait_sliced(py, deadline_of(timeout)?, |d| sem!(s, s => s.acquire_timeout(d)).then_some(()))?.is_some())
    }

    /// Gives `n` permits back; `ValueError` past a bounded semaphore's bound.
    #[pyo3(signature = (n = 1))]
    fn release(&self, n: u32) -> PyResult<()> {
        sem!(&*self.0, s => s.release_n(n)).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    fn get_value(&self) -> u32 {
        sem!(&*self.0, s => s.value())
    }
}

/// An event flag.
#[pyclass(module = "shmkit._shmkit", name = "Event")]
pub(crate) struct PyEvent(Box<Event>);

impl PyEvent {
    /// The event, for `shmkit.wait` (ready while set).
    pub(crate) fn selectable(&self) -> &(dyn Selectable + Sync) {
        &*self.0
    }
}

#[pymethods]
impl PyEvent {
    #[new]
    fn new(name: &str, mode: &str) -> PyResult<Self> {
        Ok(PyEvent(Box::new(by_mode!(Event, name, mode, ()))))
    }
    #[getter]
    fn name(&self) -> String {
        self.0.name().to_owned()
    }
    fn persist(&self) {
        self.0.persist()
    }
    fn set(&self) {
        self.0.set()
    }
    fn clear(&self) {
        self.0.clear()
    }
    fn is_set(&self) -> bool {
        self.0.is_set()
    }
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let e = &*self.0;
        Ok(wait_sliced(py, deadline_of(timeout)?, |d| e.wait_timeout(d).then_some(()))?.is_some())
    }
}

/// A barrier.
#[pyclass(module = "shmkit._shmkit", name = "Barrier")]
pub(crate) struct PyBarrier(Box<shmkit::Barrier>);

pyo3::create_exception!(shmkit, BrokenBarrierError, pyo3::exceptions::PyRuntimeError, "The barrier is broken.");

#[pymethods]
impl PyBarrier {
    #[new]
    fn new(name: &str, mode: &str, parties: u32) -> PyResult<Self> {
        Ok(PyBarrier(Box::new(by_mode!(shmkit::Barrier, name, mode, (parties)))))
    }
    #[getter]
    fn name(&self) -> String {
        self.0.name().to_owned()
    }
    fn persist(&self) {
        self.0.persist()
    }
    #[getter]
    fn parties(&self) -> u32 {
        self.0.parties()
    }
    #[getter]
    fn n_waiting(&self) -> u32 {
        self.0.arrived()
    }
    #[getter]
    fn broken(&self) -> bool {
        self.0.is_broken()
    }
    fn reset(&self) {
        self.0.reset()
    }
    /// Waits for the others: True for the one party that completed it.
    /// With a timeout, running out breaks the barrier (as in
    /// `threading.Barrier`). The wait is sliced like every other (an
    /// arrival polled slice by slice stays counted), so a signal handler
    /// that raises (Ctrl-C) ends it: the barrier is then broken for the
    /// others, as `threading.Barrier` does, and the exception propagates.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = deadline_of(timeout)?;
        let mut arrival = self.0.arrive().map_err(|_| broken())?;
        let r = match wait_sliced(py, deadline, |d| arrival.poll(d).transpose()) {
            // Interrupted: give up, which breaks the generation.
            Err(interrupted) => {
                arrival.abort();
                return Err(interrupted);
            }
            Ok(Some(r)) => r,
            // The timeout ran out: break the generation, unless it ended
            // just now.
            Ok(None) => arrival.wait_deadline(std::time::Instant::now()),
        };
        r.map(|r| r.is_leader()).map_err(|_| broken())
    }
    /// Breaks the barrier for every waiter, now and later, until reset.
    fn abort(&self) {
        self.0.abort();
    }
}

fn broken() -> PyErr {
    BrokenBarrierError::new_err("the barrier is broken (a party died, timed out, aborted or reset)")
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySemaphore>()?;
    m.add_class::<PyEvent>()?;
    m.add_class::<PyBarrier>()?;
    m.add("BrokenBarrierError", m.py().get_type::<BrokenBarrierError>())?;
    Ok(())
}
