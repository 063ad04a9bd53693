//! `_shmkit.MsgQueue`: a `MessageQueue` (variable-size byte messages, any
//! number of senders and receivers) or a `DynQueue` (fixed-size elements of
//! a described type, the segment of a Rust `Queue<T>`), with this process's
//! sending and receiving endpoints made when first used.
//!
//! The endpoints are made lazily because the library counts them: a
//! receiver on an empty queue is told `Disconnected` once every *sender*
//! is gone, so a process that only gets must not hold a sender.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use shmkit::dynamic::{DynQueue, DynReceiver, DynSender};
use shmkit::{ByteRecvError, ByteSendError, MessageQueue, MessageReceiver, MessageSender};

use std::ffi::{c_int, c_void};

use crate::data::{fill_view, release_view};
use crate::error::{ShmkitError, to_py};
use crate::{Owned, deadline_of, wait_sliced};

pyo3::create_exception!(
    shmkit,
    Disconnected,
    pyo3::exceptions::PyException,
    "The other side of a queue is gone: every sender (for a get on an empty queue) or every receiver (for a put)."
);

enum Q {
    Msg(MessageQueue),
    Dyn(DynQueue),
}

/// This process's sending end. A typed queue's endpoints take `&mut self`
/// (its single-producer flavour): those sit behind a mutex; a message
/// queue's take `&self`, so threads send at once.
enum Tx {
    Msg(MessageSender),
    Dyn(StdMutex<DynSender>),
}

/// This process's receiving end (as [`Tx`]).
pub(crate) enum Rx {
    Msg(MessageReceiver),
    Dyn(StdMutex<DynReceiver>),
}

/// An endpoint of this process, made when first used (again in a forked
/// child, whose copy of the parent's is forgotten).
struct Lazy<T>(StdMutex<Option<Owned<Arc<T>>>>);

impl<T> Lazy<T> {
    fn new() -> Self {
        Lazy(StdMutex::new(None))
    }

    fn get(&self, make: impl FnOnce() -> Result<T, shmkit::Error>) -> PyResult<Arc<T>> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(end) = slot.as_ref().filter(|e| e.is_ours()) {
            return Ok(Arc::clone(end));
        }
        let end = Arc::new(make().map_err(to_py)?);
        *slot = Some(Owned::new(Arc::clone(&end)));
        Ok(end)
    }

    fn drop_end(&self) {
        let end = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(end);
    }
}

/// A named queue and this process's endpoints of it.
#[pyclass(module = "shmkit._shmkit", name = "MsgQueue")]
pub(crate) struct MsgQueue {
    q: Arc<Q>,
    tx: Lazy<Tx>,
    rx: Lazy<Rx>,
}

fn send_err(e: ByteSendError) -> PyErr {
    match e {
        ByteSendError::Disconnected => Disconnected::new_err("every receiver of the queue is gone"),
        ByteSendError::TooLarge { len, max } => PyValueError::new_err(format!(
            "a message of {len} bytes is longer than the queue carries ({max} bytes): \
             make the queue with a larger max_message_size="
        )),
        e => ShmkitError::new_err(e.to_string()),
    }
}

fn recv_err(e: ByteRecvError) -> PyErr {
    match e {
        ByteRecvError::Disconnected => Disconnected::new_err("the queue is empty and every sender is gone"),
        e => ShmkitError::new_err(e.to_string()),
    }
}

/// A message received while the GIL was released: copied out, or (a long
/// one) already in a bytes object.
pub(crate) enum Got {
    Copied(Vec<u8>),
    Bytes(Py<PyBytes>),
}

impl Got {
    /// A message `m` read while the GIL is released: a long one copied
    /// once, into a bytes object made under the GIL taken back for it; a
    /// short one copied out (taking the GIL back costs more than a second
    /// copy of it).
    pub(crate) fn of(m: &[u8]) -> Got {
        if m.len() >= ONE_COPY_FROM {
            Got::Bytes(Python::attach(|py| PyBytes::new(py, m).unbind()))
        } else {
            Got::Copied(m.to_vec())
        }
    }

    /// The message as a bytes object.
    pub(crate) fn into_bytes(self, py: Python<'_>) -> Bound<'_, PyBytes> {
        match self {
            Got::Copied(v) => PyBytes::new(py, &v),
            Got::Bytes(b) => b.into_bound(py),
        }
    }
}

/// Length from which a message received after a wait is copied once, into
/// a bytes object made under the GIL taken back for it, rather than twice
/// (out of the queue, then into the bytes object once the wait returns).
/// Taking the GIL back costs about as much as copying a few KiB.
const ONE_COPY_FROM: usize = 16 * 1024;

impl MsgQueue {
    /// This process's sending end, made now if it was not.
    fn sending_end(&self) -> PyResult<Arc<Tx>> {
        self.tx.get(|| {
            Ok(match &*self.q {
                Q::Msg(q) => Tx::Msg(q.sender()?),
                Q::Dyn(q) => Tx::Dyn(StdMutex::new(q.sender()?)),
            })
        })
    }

    /// This process's receiving end, made now if it was not.
    pub(crate) fn receiving_end(&self) -> PyResult<Arc<Rx>> {
        self.rx.get(|| {
            Ok(match &*self.q {
                Q::Msg(q) => Rx::Msg(q.receiver()?),
                Q::Dyn(q) => Rx::Dyn(StdMutex::new(q.receiver()?)),
            })
        })
    }
}

#[pymethods]
impl MsgQueue {
    /// `mode` "create", "open" or "open_or_create". Without `desc` a
    /// message queue of `capacity` messages of at most `max_len` bytes;
    /// with one (a type description) a queue of that element type.
    #[new]
    #[pyo3(signature = (name, mode, capacity, max_len, joinable, desc = None))]
    fn new(
        name: &str,
        mode: &str,
        capacity: usize,
        max_len: usize,
        joinable: bool,
        desc: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let q = match desc {
            None => Q::Msg(
                match (mode, joinable) {
                    ("create", false) => MessageQueue::create(name, capacity, max_len),
                    ("create", true) => MessageQueue::create_joinable(name, capacity, max_len),
                    ("open", _) => MessageQueue::open(name),
                    ("open_or_create", _) => MessageQueue::open_or_create(name, capacity, max_len),
                    (m, _) => return Err(PyValueError::new_err(format!("bad mode {m:?}"))),
                }
                .map_err(to_py)?,
            ),
            Some(d) => {
                let ty = crate::data::type_desc(d)?;
                Q::Dyn(
                    match (mode, joinable) {
                        ("create", false) => DynQueue::create(name, &ty, capacity),
                        ("create", true) => DynQueue::create_joinable(name, &ty, capacity),
                        ("open", _) => DynQueue::open(name, &ty),
                        ("open_or_create", _) => DynQueue::open_or_create(name, &ty, capacity),
                        (m, _) => return Err(PyValueError::new_err(format!("bad mode {m:?}"))),
                    }
                    .map_err(to_py)?,
                )
            }
        };
        Ok(MsgQueue { q: Arc::new(q), tx: Lazy::new(), rx: Lazy::new() })
    }

    #[getter]
    fn name(&self) -> String {
        match &*self.q {
            Q::Msg(q) => q.name().to_owned(),
            Q::Dyn(q) => q.name().to_owned(),
        }
    }

    fn persist(&self) {
        match &*self.q {
            Q::Msg(q) => q.persist(),
            Q::Dyn(q) => q.persist(),
        }
    }

    /// Messages the queue holds at most.
    #[getter]
    fn capacity(&self) -> usize {
        match &*self.q {
            Q::Msg(q) => q.capacity(),
            Q::Dyn(q) => q.capacity(),
        }
    }

    /// The longest message (a typed queue: the element size).
    #[getter]
    fn max_len(&self) -> usize {
        match &*self.q {
            Q::Msg(q) => q.max_message_len(),
            Q::Dyn(q) => q.elem_size(),
        }
    }

    #[getter]
    fn joinable(&self) -> bool {
        match &*self.q {
            Q::Msg(q) => q.is_joinable(),
            Q::Dyn(q) => q.is_joinable(),
        }
    }

    /// A readiness descriptor watching this process's receiving end (made
    /// now if it was not): readable while a message, or the end of the
    /// stream, is there to receive (see `shmkit.ReadyFd`).
    fn _ready_fd(&self) -> PyResult<ReadyFdPy> {
        match &*self.receiving_end()? {
            Rx::Msg(r) => ReadyFdPy::watching(r),
            Rx::Dyn(r) => ReadyFdPy::watching(&*r.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }

    /// A readiness descriptor watching this process's sending end (made
    /// now if it was not): readable while there is room for a message, or
    /// no receiver is left (a put would fail).
    fn _send_ready_fd(&self) -> PyResult<ReadyFdPy> {
        match &*self.sending_end()? {
            Tx::Msg(s) => ReadyFdPy::watching(s),
            Tx::Dyn(s) => ReadyFdPy::watching(&*s.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }

    /// Messages queued now (a snapshot).
    fn qsize(&self) -> usize {
        match &*self.q {
            Q::Msg(q) => q.len(),
            Q::Dyn(q) => q.len(),
        }
    }

    /// Messages sent and not yet marked done (a joinable queue).
    fn unfinished(&self) -> usize {
        match &*self.q {
            Q::Msg(q) => q.unfinished(),
            Q::Dyn(q) => q.unfinished(),
        }
    }

    /// Sends `data`, waiting while the queue is full (`block=False`: not at
    /// all; `timeout` float seconds, `None` forever). False if no room.
    #[pyo3(signature = (data, block = true, timeout = None))]
    fn put(&self, py: Python<'_>, data: &[u8], block: bool, timeout: Option<f64>) -> PyResult<bool> {
        let tx = self.sending_end()?;
        let step = |d: Option<Duration>| {
            let r = match (&*tx, d) {
                (Tx::Msg(s), None) => s.try_send(data),
                (Tx::Msg(s), Some(d)) => s.send_timeout(data, d),
                (Tx::Dyn(s), None) => s.lock().unwrap_or_else(|e| e.into_inner()).try_send(data),
                (Tx::Dyn(s), Some(d)) => s.lock().unwrap_or_else(|e| e.into_inner()).send_timeout(data, d),
            };
            match r {
                Ok(()) => Some(Ok(())),
                Err(ByteSendError::Full) | Err(ByteSendError::Timeout) => None,
                Err(e) => Some(Err(send_err(e))),
            }
        };
        let r = if block { wait_sliced(py, deadline_of(timeout)?, |d| step(Some(d)))? } else { step(None) };
        r.transpose().map(|r| r.is_some())
    }

    /// Receives a message (`block`/`timeout` as `put`); None if there was
    /// none; `Disconnected` if the queue is empty and every sender is gone.
    #[pyo3(signature = (block = true, timeout = None))]
    fn get<'py>(&self, py: Python<'py>, block: bool, timeout: Option<f64>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let q = &*self.q;
        let rx = self.receiving_end()?;
        // A message that is there already goes from the queue straight
        // into a new bytes object (one copy; through a `Vec` it takes two
        // and an allocation).
        if let Rx::Msg(r) = &*rx {
            match r.try_recv_with(|m| PyBytes::new(py, m)) {
                Ok(b) => return Ok(Some(b)),
                Err(ByteRecvError::Empty) if !block => return Ok(None),
                Err(ByteRecvError::Empty) => {}
                Err(e) => return Err(recv_err(e)),
            }
        }
        let elem = match q {
            Q::Dyn(q) => q.elem_size(),
            Q::Msg(_) => 0,
        };
        let step = |d: Option<Duration>| {
            let r = match (&*rx, d) {
                (Rx::Msg(r), None) => r.try_recv().map(Got::Copied),
                // A message that came while we waited is read where it lies.
                (Rx::Msg(r), Some(d)) => r.recv_with_timeout(Got::of, d),
                (Rx::Dyn(r), d) => {
                    let r = r.lock().unwrap_or_else(|e| e.into_inner());
                    let mut buf = vec![0u8; elem];
                    match d {
                        None => r.try_recv(&mut buf),
                        Some(d) => r.recv_timeout(&mut buf, d),
                    }
                    .map(|()| Got::Copied(buf))
                }
            };
            match r {
                Ok(v) => Some(Ok(v)),
                Err(ByteRecvError::Empty) | Err(ByteRecvError::Timeout) => None,
                Err(e) => Some(Err(recv_err(e))),
            }
        };
        let r = if block { wait_sliced(py, deadline_of(timeout)?, |d| step(Some(d)))? } else { step(None) };
        match r {
            None => Ok(None),
            Some(Ok(got)) => Ok(Some(got.into_bytes(py))),
            Some(Err(e)) => Err(e),
        }
    }

    /// Receives a message and calls `callback` with a read-only memoryview
    /// of it where it lies in the queue (no copy); returns what `callback`
    /// returns, or None if no message came in time. The message is
    /// consumed when `callback` returns or raises; read it inside
    /// `callback` (afterwards the view shows whatever the queue's memory
    /// holds then). A message queue only (not a typed one).
    #[pyo3(signature = (callback, block = true, timeout = None))]
    fn get_with(
        &self,
        py: Python<'_>,
        callback: Py<PyAny>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let q = &*self.q;
        if matches!(q, Q::Dyn(_)) {
            return Err(pyo3::exceptions::PyTypeError::new_err("get_with is for message queues, not typed queues"));
        }
        let rx = self.receiving_end()?;
        let keep = Arc::clone(&self.q);
        let step = |d: Option<Duration>| {
            let Rx::Msg(r) = &*rx else { return None };
            let call = |bytes: &[u8]| {
                Python::attach(|py| -> PyResult<Py<PyAny>> {
                    let view = Py::new(
                        py,
                        SlotView { ptr: bytes.as_ptr() as usize, len: bytes.len(), _queue: Arc::clone(&keep) },
                    )?;
                    let mv = pyo3::types::PyMemoryView::from(view.bind(py).as_any())?;
                    let out = callback.call1(py, (mv.clone(),));
                    // Release our view at once; one the callback kept stays
                    // valid memory (the queue stays mapped) but no longer
                    // shows this message.
                    let _ = mv.call_method0("release");
                    out
                })
            };
            let r = match d {
                None => r.try_recv_with(call),
                Some(d) => r.recv_with_timeout(call, d),
            };
            match r {
                Ok(v) => Some(v),
                Err(ByteRecvError::Empty) | Err(ByteRecvError::Timeout) => None,
                Err(e) => Some(Err(recv_err(e))),
            }
        };
        let r = if block { wait_sliced(py, deadline_of(timeout)?, |d| step(Some(d)))? } else { step(None) };
        r.transpose()
    }

    /// Marks one received message done (a joinable queue).
    fn task_done(&self) -> PyResult<()> {
        let rx = self.receiving_end()?;
        match &*rx {
            Rx::Msg(r) => r.task_done(),
            Rx::Dyn(r) => r.lock().unwrap_or_else(|e| e.into_inner()).task_done(),
        }
        .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Waits until every message sent was marked done; False on timeout.
    #[pyo3(signature = (timeout = None))]
    fn join(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let q = &*self.q;
        let r = wait_sliced(py, deadline_of(timeout)?, |d| {
            match q {
                Q::Msg(q) => q.join_timeout(d),
                Q::Dyn(q) => q.join_timeout(d),
            }
            .then_some(())
        })?;
        Ok(r.is_some())
    }

    /// Takes this process's sending end now (else at its first `put`).
    fn open_sender(&self) -> PyResult<()> {
        self.sending_end().map(drop)
    }

    /// Takes this process's receiving end now (else at its first `get`).
    fn open_receiver(&self) -> PyResult<()> {
        self.receiving_end().map(drop)
    }

    /// Gives this process's sending end back (receivers see
    /// `Disconnected` once every sender is gone and the queue is empty).
    fn close_sender(&self) {
        self.tx.drop_end();
    }

    /// Gives this process's receiving end back.
    fn close_receiver(&self) {
        self.rx.drop_end();
    }
}

/// A message where it lies in a queue, exported read-only to Python for
/// the length of a `get_with` callback. It keeps the queue mapped, so a
/// view kept past the callback never reaches unmapped memory.
#[pyclass(frozen, module = "shmkit._shmkit", name = "SlotView")]
struct SlotView {
    ptr: usize,
    len: usize,
    _queue: Arc<Q>,
}

#[pymethods]
impl SlotView {
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut pyo3::ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        if flags & pyo3::ffi::PyBUF_WRITABLE == pyo3::ffi::PyBUF_WRITABLE {
            return Err(pyo3::exceptions::PyBufferError::new_err("a received message is read-only"));
        }
        let (ptr, len) = (slf.get().ptr, slf.get().len);
        // SAFETY: CPython passes a view to fill; `ptr..ptr + len` lies in
        // the queue's mapping, which `_queue` keeps while the view holds a
        // reference to this object.
        unsafe {
            fill_view(view, flags, ptr as *mut c_void, len, c"B".to_owned(), 1, slf.into_any())?;
            (*view).readonly = 1;
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, view: *mut pyo3::ffi::Py_buffer) {
        // SAFETY: the view was filled by fill_view.
        unsafe { release_view(view) }
    }
}

/// A file descriptor that is readable while the watched end has something
/// to receive (`shmkit::ReadyFd`): for `asyncio`'s `add_reader`, selectors
/// and `select`.
#[pyclass(frozen, module = "shmkit._shmkit", name = "ReadyFd")]
pub(crate) struct ReadyFdPy(shmkit::ReadyFd);

impl ReadyFdPy {
    /// A descriptor watching `object` (an end, a subscriber).
    pub(crate) fn watching<S: shmkit::Selectable + ?Sized>(object: &S) -> PyResult<Self> {
        let fd = shmkit::ReadyFd::new().map_err(to_py)?;
        fd.watch(object).map_err(to_py)?;
        Ok(ReadyFdPy(fd))
    }
}

#[pymethods]
impl ReadyFdPy {
    /// The descriptor to watch for reading (it belongs to this object).
    fn fileno(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd()
    }

    /// Reads the signal and watches again; whether it was signalled. A
    /// receiver still ready makes it readable again at once.
    fn clear(&self) -> bool {
        self.0.clear()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MsgQueue>()?;
    m.add_class::<ReadyFdPy>()?;
    m.add("Disconnected", m.py().get_type::<Disconnected>())?;
    Ok(())
}
