//! `_shmkit.wait`: `multiprocessing.connection.wait` over shmkit objects,
//! on the library's `wait_any` — queues (this process's receiving end),
//! pipe and byte-queue ends, broadcast subscribers, events and semaphores.
//!
//! It consumes nothing: it says which objects a receive (get, acquire)
//! would not block on now. The wait is sliced as every other (GIL
//! released, signals checked between slices). An end or a subscriber sits
//! behind the mutex its own calls take; a slice holds the mutexes of all
//! the objects it waits on, taken in address order so that two waits over
//! the same objects in another order cannot deadlock, and each distinct
//! object once.

use std::sync::{Arc, MutexGuard};

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use shmkit::Selectable;
use shmkit::dynamic::DynReceiver;

use crate::broadcast::{AnySubscriber, PySubscriber};
use crate::pipe::{Conn, End, receiving_side};
use crate::queue::{MsgQueue, Rx};
use crate::sync::{PyEvent, PySemaphore};
use crate::{Owned, deadline_of, wait_sliced};

/// A Python handle, borrowed for the length of the wait.
enum Borrowed<'py> {
    Queue(PyRef<'py, MsgQueue>),
    Conn(PyRef<'py, Conn>),
    Sub(PyRef<'py, PySubscriber>),
    Event(PyRef<'py, PyEvent>),
    Sem(PyRef<'py, PySemaphore>),
}

impl<'py> Borrowed<'py> {
    fn of(handle: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(q) = handle.cast::<MsgQueue>() {
            return Ok(Borrowed::Queue(q.borrow()));
        }
        if let Ok(c) = handle.cast::<Conn>() {
            return Ok(Borrowed::Conn(c.borrow()));
        }
        if let Ok(s) = handle.cast::<PySubscriber>() {
            return Ok(Borrowed::Sub(s.borrow()));
        }
        if let Ok(e) = handle.cast::<PyEvent>() {
            return Ok(Borrowed::Event(e.borrow()));
        }
        if let Ok(s) = handle.cast::<PySemaphore>() {
            return Ok(Borrowed::Sem(s.borrow()));
        }
        Err(PyTypeError::new_err(format!(
            "cannot wait on {}: queues, pipe Connections, Subscribers, Events and Semaphores can be waited on",
            handle.get_type().name()?
        )))
    }

    /// What the wait reads of it. A queue's receiving end is made now if
    /// this process had none (as for a get).
    fn target(&self) -> PyResult<Target<'_>> {
        Ok(match self {
            Borrowed::Queue(q) => Target::Queue(q.receiving_end()?),
            Borrowed::Conn(c) => {
                if !c.readable {
                    return Err(PyOSError::new_err("connection is write-only: there is nothing to wait for"));
                }
                Target::Conn(c)
            }
            Borrowed::Sub(s) => Target::Sub(s),
            Borrowed::Event(e) => Target::Free(e.selectable()),
            Borrowed::Sem(s) => Target::Free(s.selectable()),
        })
    }
}

/// One object waited on.
enum Target<'a> {
    /// This process's receiving end of a queue.
    Queue(Arc<Rx>),
    /// A pipe or byte-queue end, locked for each slice.
    Conn(&'a Conn),
    /// A subscriber, locked for each slice.
    Sub(&'a PySubscriber),
    /// An object that needs no lock (an event, a semaphore).
    Free(&'a (dyn Selectable + Sync)),
}

/// A target as one slice holds it.
enum Held<'a> {
    Free(&'a dyn Selectable),
    Dyn(MutexGuard<'a, DynReceiver>),
    End(MutexGuard<'a, Option<Owned<End>>>),
    Sub(MutexGuard<'a, AnySubscriber>),
}

impl Target<'_> {
    /// The address of the mutex a slice takes (0: none), the order in
    /// which slices take them.
    fn lock_order(&self) -> usize {
        match self {
            Target::Queue(rx) => match &**rx {
                Rx::Dyn(m) => m as *const _ as usize,
                Rx::Msg(_) => 0,
            },
            Target::Conn(c) => *c as *const Conn as usize,
            Target::Sub(s) => *s as *const PySubscriber as usize,
            Target::Free(_) => 0,
        }
    }

    fn hold(&self) -> Held<'_> {
        match self {
            Target::Queue(rx) => match &**rx {
                Rx::Msg(r) => Held::Free(r),
                Rx::Dyn(m) => Held::Dyn(m.lock().unwrap_or_else(|e| e.into_inner())),
            },
            Target::Conn(c) => Held::End(c.lock_end()),
            Target::Sub(s) => Held::Sub(s.lock()),
            Target::Free(o) => Held::Free(*o),
        }
    }
}

impl Held<'_> {
    /// What to wait on; `None` for an end closed meanwhile (ready: its
    /// receive raises at once).
    fn selectable(&self) -> Option<&dyn Selectable> {
        match self {
            Held::Free(o) => Some(*o),
            Held::Dyn(r) => Some(&**r),
            Held::End(e) => receiving_side(e),
            Held::Sub(s) => Some(s.selectable()),
        }
    }
}

/// Waits until at least one of `handles` is ready (or `timeout` float
/// seconds pass; `None`: as long as it takes) and returns the indices of
/// those ready then, in order; an empty list on timeout. Nothing is
/// consumed. An empty `handles` sleeps the timeout (a `ValueError` without
/// one: it would sleep for ever).
#[pyfunction]
#[pyo3(signature = (handles, timeout = None))]
pub(crate) fn wait(py: Python<'_>, handles: Vec<Bound<'_, PyAny>>, timeout: Option<f64>) -> PyResult<Vec<usize>> {
    let deadline = deadline_of(timeout)?;
    if handles.is_empty() {
        if deadline.is_none() {
            return Err(PyValueError::new_err("nothing to wait for: an empty list without a timeout waits for ever"));
        }
        wait_sliced(py, deadline, |d| {
            std::thread::sleep(d);
            None::<()>
        })?;
        return Ok(Vec::new());
    }
    // Each distinct object once: `slot[i]` is the target of handle `i`.
    let mut distinct: Vec<&Bound<'_, PyAny>> = Vec::new();
    let slot: Vec<usize> = handles
        .iter()
        .map(|h| {
            distinct.iter().position(|d| d.is(h)).unwrap_or_else(|| {
                distinct.push(h);
                distinct.len() - 1
            })
        })
        .collect();
    let borrowed = distinct.iter().map(|h| Borrowed::of(h)).collect::<PyResult<Vec<_>>>()?;
    let targets = borrowed.iter().map(Borrowed::target).collect::<PyResult<Vec<_>>>()?;
    let mut order: Vec<usize> = (0..targets.len()).collect();
    order.sort_by_key(|&i| targets[i].lock_order());

    let ready = wait_sliced(py, deadline, |d| {
        let mut held: Vec<(usize, Held<'_>)> = order.iter().map(|&i| (i, targets[i].hold())).collect();
        held.sort_by_key(|&(i, _)| i);
        let objects: Vec<Option<&dyn Selectable>> = held.iter().map(|(_, h)| h.selectable()).collect();
        let ready_now = |j: usize| objects[j].is_none_or(|o| shmkit::try_wait_any(&[o]).is_some());
        let first = if objects.iter().any(Option::is_none) {
            None
        } else {
            let all: Vec<&dyn Selectable> = objects.iter().flatten().copied().collect();
            Some(shmkit::wait_any_timeout(&all, d)?)
        };
        let ready: Vec<usize> = (0..objects.len()).filter(|&j| Some(j) == first || ready_now(j)).collect();
        (!ready.is_empty()).then_some(ready)
    })?;
    let ready = ready.unwrap_or_default();
    Ok((0..handles.len()).filter(|&i| ready.contains(&slot[i])).collect())
}
