//! [`Pipe`]: a duplex connection between two processes, made of two byte
//! rings, one each way.

#![deny(missing_debug_implementations)]

use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::handle::{Handle, handle_api};
use crate::queue::SharedHandle;
use crate::queue::byte_ends::{ByteRings, Rx, Tx, recv_forms, ring_capacity, send_forms};
use crate::wait::WaitStrategy;

/// Bytes each direction holds unless told otherwise.
pub const DEFAULT_PIPE_CAPACITY: usize = 64 * 1024;

/// A named duplex pipe with two ends, like Python's `multiprocessing.Pipe`
/// but between any two processes: each [`Pipe::connect`] takes one end as a
/// [`Connection`], which sends to and receives from the other end
/// ([`Pipe::connect_end`] takes a given end).
///
/// Messages are byte strings (or `T: Pod` values) kept whole and in order,
/// copied through a shared ring each way with no syscall unless a side
/// sleeps; a connection can also write a message and read one in place
/// ([`Connection::reserve`], [`Connection::recv_ref`]), as a
/// [`ByteQueue`](crate::ByteQueue)'s ends do. When the other end is closed, or its process exits or dies, a
/// receive gets the messages still queued and then
/// [`ByteRecvError::Disconnected`](crate::queue::ByteRecvError::Disconnected) (end of stream), and a send gets
/// [`ByteSendError::Disconnected`](crate::queue::ByteSendError::Disconnected) (at once if the other end was closed; if
/// its process died, within 1024 sends or once the pipe is full, since that
/// check costs a syscall). Before the other end ever connected, a receive
/// waits.
///
/// ```
/// use shmkit::Pipe;
/// # let name = format!("doc-pipe-{}", std::process::id());
/// let pipe = Pipe::create(&name)?;
/// let mut a = pipe.connect()?;                 // in one process
/// let mut b = Pipe::open(&name)?.connect()?;   // in another
/// a.send(b"ping").unwrap();
/// assert_eq!(b.recv().unwrap(), b"ping");
/// b.send_value(&42u64).unwrap();
/// assert_eq!(a.recv_value::<u64>().unwrap(), 42);
/// drop(b);
/// assert!(a.recv().is_err()); // end of stream
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Pipe(SharedHandle<Shared>);

/// The mapping of a pipe's two rings, shared by its handle and its
/// connections in this process.
type Shared = Handle<ByteRings<2>>;

handle_api! {
    impl[] Pipe, "pipe", ", holding `capacity_bytes` each way (rounded up to a power of two, at least 64; messages may be up to that less 8 bytes long)";
    wrap(|handle| Pipe(SharedHandle::new(handle)));
    create(; capacity_bytes: usize = DEFAULT_PIPE_CAPACITY) => (ring_capacity(capacity_bytes)?, ());
    waits;
}

impl Pipe {
    /// Bytes each direction holds.
    pub fn capacity(&self) -> usize {
        self.0.shared.ring_cap() as usize
    }

    /// Takes a free end of the pipe: the first one if free, else the
    /// second. An end whose holder died or closed it is free again.
    ///
    /// Which end that is depends on who came before: if the peer took an
    /// end, used it and left before this call, `connect` takes *that* end
    /// again and then talks to an end nobody holds (a receive waits, as
    /// before the other end ever connected). Two parties that hand the
    /// ends over in any order take one end each with
    /// [`connect_end`](Pipe::connect_end).
    ///
    /// # Errors
    /// [`Error::Busy`] if live connections hold both ends;
    /// [`Error::Corrupt`] if a ring's indices are impossible.
    pub fn connect(&self) -> Result<Connection, Error> {
        let mut last = None;
        for end in 0..2 {
            match self.take(end) {
                Ok(c) => return Ok(c),
                Err(e @ Error::Busy { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(Error::Busy { name: self.name().to_owned(), end: "both ends" }))
    }

    /// Takes end `end` (0 or 1) of the pipe, whichever end the peer holds
    /// or held: the way for two parties that agreed on their ends to meet
    /// in any order. If the peer took the other end, used it and left
    /// before this call, a receive here gets what it sent and then
    /// [`ByteRecvError::Disconnected`](crate::queue::ByteRecvError::Disconnected),
    /// instead of waiting on an end nobody holds (what [`connect`](Pipe::connect)
    /// can do). An end whose holder died or closed it is free again.
    ///
    /// ```
    /// use shmkit::Pipe;
    /// # let name = format!("doc-pipe-end-{}", std::process::id());
    /// let pipe = Pipe::create(&name)?;
    /// let mut b = Pipe::open(&name)?.connect_end(1)?; // the peer comes first
    /// b.send(b"bye").unwrap();
    /// drop(b);                                         // and leaves
    /// let mut a = pipe.connect_end(0)?;                // then this end
    /// assert_eq!(a.recv().unwrap(), b"bye");
    /// assert!(a.recv().is_err()); // end of stream
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `end` is not 0 or 1; [`Error::Busy`]
    /// if a live connection holds it; [`Error::Corrupt`] if a ring's
    /// indices are impossible.
    pub fn connect_end(&self, end: usize) -> Result<Connection, Error> {
        if end > 1 {
            return Err(Error::InvalidArgument(format!("a pipe has ends 0 and 1, not {end}")));
        }
        self.take(end)
    }

    /// End `end` sends on ring `end` and receives on the other one.
    fn take(&self, end: usize) -> Result<Connection, Error> {
        let (shared, strategy) = (&self.0.shared, self.0.strategy);
        let seg = shared.segment();
        let mut tx = Tx::claim(shared.ring(end), seg, strategy)?;
        match Rx::claim(shared.ring(1 - end), seg, strategy) {
            Ok(rx) => Ok(Connection { shared: shared.clone(), tx, rx, end }),
            Err(e) => {
                tx.release(seg);
                Err(e)
            }
        }
    }
}

impl fmt::Debug for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipe").field("name", &self.name()).field("capacity", &self.capacity()).finish()
    }
}

/// One end of a [`Pipe`]. Dropping it closes the end: the other side sees
/// the end of the stream once it has received what was sent.
pub struct Connection {
    shared: Arc<Shared>,
    tx: Tx,
    rx: Rx,
    end: usize,
}

// SAFETY: the cursors point into the mapping the Arc keeps alive; the ends
// are held by this connection alone, whichever thread uses it.
unsafe impl Send for Connection {}

impl Connection {
    /// The ring it reads and the handle of its mapping (for `wait_any`).
    pub(crate) fn ring_parts(&self) -> (&crate::queue::byte_ring::ByteRing, &Arc<Shared>) {
        (self.rx.ring(), &self.shared)
    }

    /// The ring it writes and the handle of its mapping (for `send_async`).
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn send_ring_parts(&self) -> (&crate::queue::byte_ring::ByteRing, &Arc<Shared>) {
        (self.tx.ring(), &self.shared)
    }
}

impl Connection {
    /// Sets how this end waits (for room to send, or for a message).
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.tx.strategy = strategy;
        self.rx.strategy = strategy;
        self
    }

    /// Which end this is: 0 or 1.
    pub fn end(&self) -> usize {
        self.end
    }

    send_forms!();

    recv_forms!();
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.tx.release(self.shared.segment());
        self.rx.release(self.shared.segment());
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("pipe", &self.shared.name()).field("end", &self.end).finish_non_exhaustive()
    }
}
