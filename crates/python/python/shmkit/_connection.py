"""Pipe and Connection over shmkit's ``Pipe`` (duplex) and ``ByteQueue`` (one way)."""

import os as _os
import pickle as _pickle
import threading as _threading

from . import _aio, _shmkit

DEFAULT_CAPACITY = 64 * 1024


def _fresh(kind):
    from . import _fresh_name

    return _fresh_name(kind)


class Connection:
    """One end of a :func:`Pipe`, like :class:`multiprocessing.connection.Connection`.

    The two Connections of ``Pipe()`` are the pipe's ends 0 and 1, each its
    own whatever order they are used in. An end is taken when first used,
    by the process that uses it: the parent that hands a Connection to a
    child (``Process(args=...)``, fork or spawn) and never uses it leaves
    that end to the child, even if the child uses it, and is gone, before
    the parent first uses its own. An end is held by one process at a time
    (:class:`shmkit.BusyError` otherwise) and given back by ``close()``,
    garbage collection or the death of its process; the peer then gets
    :class:`EOFError` once it has received what was sent.

    ``send(obj)`` pickles, ``send_bytes`` does not; ``recv()``/``recv_bytes()``
    wait for a message (Ctrl-C interrupts), ``poll(timeout)`` says whether one
    is there. A message is at most the pipe's capacity less 8 bytes
    (``Pipe(capacity=...)``, 64 KiB by default).
    """

    def __init__(self, handle, which, readable, writable):
        self._h = handle
        # The end it takes: "0" or "1" (a duplex pipe's own end), "any" (a
        # duplex pipe's free end), "send" or "recv" (a one-way pipe's).
        self._which = which
        self._conn = None
        self._closed = False
        self._pid = None
        self._mutex = _threading.Lock()
        self._readable = readable
        self._writable = writable

    @classmethod
    def open(cls, name, end="any", duplex=True):
        """Attaches to the pipe ``name``: its end ``end``, 0 or 1, or the end that is free when first used
        ("any"). ``duplex=False``: a byte queue, ``end`` "send" or "recv"."""
        if duplex:
            if end not in ("any", 0, 1, "0", "1"):
                raise ValueError("a duplex pipe's end is 0, 1 or 'any'")
            return cls(_shmkit.PipeHandle(name, "open", True, 0), str(end), True, True)
        handle = _shmkit.PipeHandle(name, "open", duplex, 0)
        if end not in ("send", "recv"):
            raise ValueError("a one-way pipe's end is 'send' or 'recv'")
        return cls(handle, end, end == "recv", end == "send")

    @property
    def name(self):
        """The name of the pipe (or byte queue) this is an end of."""
        return self._h.name

    @property
    def closed(self):
        return self._closed

    @property
    def readable(self):
        return self._readable

    @property
    def writable(self):
        return self._writable

    def _end(self):
        if self._closed:
            raise OSError("handle is closed")
        conn = self._conn
        if conn is not None and self._pid == _os.getpid():
            return conn
        with self._mutex:
            if self._conn is None or self._pid != _os.getpid():
                # A fork()ed child never uses its parent's end: it takes
                # its own (the parent's copy is forgotten, not released).
                self._conn = self._h.connect(self._which)
                self._pid = _os.getpid()
            return self._conn

    def fileno(self):
        raise OSError("a shmkit Connection has no file descriptor")

    def send_bytes(self, buf, offset=0, size=None):
        """Sends bytes (a bytes-like object, or a slice of it) as one message."""
        if not self._writable:
            raise OSError("connection is read-only")
        m = memoryview(buf).cast("B")
        if offset < 0 or offset > len(m):
            raise ValueError("offset is negative or too large")
        if size is None:
            size = len(m) - offset
        if size < 0 or offset + size > len(m):
            raise ValueError("size is negative or too large")
        self._end().send_bytes(bytes(m[offset:offset + size]), None)

    def send(self, obj):
        """Sends a picklable object."""
        self.send_bytes(_pickle.dumps(obj, protocol=_pickle.HIGHEST_PROTOCOL))

    def recv_bytes(self, maxlength=None):
        """Receives a message as bytes; :class:`EOFError` at the end of the stream."""
        if not self._readable:
            raise OSError("connection is write-only")
        data = self._end().recv_bytes(None)
        if maxlength is not None and len(data) > maxlength:
            self.close()
            raise OSError("bad message length")
        return data

    def recv_bytes_into(self, buf, offset=0):
        """Receives a message into a writable buffer at ``offset``; returns its length.

        A buffer too short raises ``multiprocessing.BufferTooShort`` with
        the message as its argument (the message is consumed), as
        multiprocessing does.
        """
        if not self._readable:
            raise OSError("connection is write-only")
        if offset < 0:
            raise ValueError("negative offset")
        with memoryview(buf) as m:
            if m.format != "B":
                m = m.cast("B")
            return self._end().recv_bytes_into(m, offset, None)

    def recv(self):
        """Receives a pickled object."""
        return _pickle.loads(self.recv_bytes())

    async def recv_bytes_async(self):
        """:meth:`recv_bytes` for :mod:`asyncio`: awaits a message without blocking the loop.

        The loop watches a readiness descriptor (no thread waits, nothing
        polls); :class:`EOFError` at the end of the stream; cancelling it
        takes no message.
        """
        while True:
            if self.poll(0):
                return self.recv_bytes()
            await _aio.wait_ready(self, lambda: self._end()._ready_fd())

    async def recv_async(self):
        """:meth:`recv` for :mod:`asyncio` (see :meth:`recv_bytes_async`)."""
        return _pickle.loads(await self.recv_bytes_async())

    def poll(self, timeout=0.0):
        """Whether there is something to receive (waiting at most ``timeout``; ``None``: forever).

        True also at the end of the stream (the next recv raises EOFError).
        """
        if not self._readable:
            raise OSError("connection is write-only")
        return self._end().poll(timeout)

    def _wait_handle(self):
        # shmkit.wait: the end's receiving side (taken now if it was not).
        if not self._readable:
            raise OSError("connection is write-only")
        return self._end()

    def close(self):
        """Gives the end back; the peer sees the end of the stream."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == _os.getpid():
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        if self._conn is not None and self._pid == _os.getpid():
            raise TypeError(
                "this end of %r is in use in this process; close it before handing it to another"
                % self.name
            )
        return _attach, (self.name, self._which, self._h.duplex)

    def __repr__(self):
        return "<shmkit.Connection %r %s>" % (self.name, self._which)


def _attach(name, which, duplex):
    return Connection.open(name, which, duplex)


def Pipe(duplex=True, *, name=None, capacity=DEFAULT_CAPACITY):
    """Returns a pair of connected :class:`Connection` objects, like :func:`multiprocessing.Pipe`.

    ``duplex=True``: both ends send and receive (a Rust ``shmkit::Pipe``);
    ``duplex=False``: ``(reader, writer)`` over a ``shmkit::ByteQueue``.
    ``capacity`` is the bytes each direction holds (a power of two, at least
    64); ``name`` names the segment (a fresh one by default), which other
    processes attach to with ``Connection.open(name, end)``. The first
    Connection is end 0, the second end 1: a process that pairs with the
    first takes end 1 (``Connection.open(name, 1)``, or a Rust
    ``Pipe::open(name)?.connect_end(1)``). One that takes "any" end gets
    whichever is free when it first uses it: end 0 if it comes before the
    first Connection is used, which then raises :class:`shmkit.BusyError`.
    """
    name = name or _fresh("pipe")
    handle = _shmkit.PipeHandle(name, "create", duplex, capacity)
    if duplex:
        # Each its own end, so that the order in which they are first used
        # (here or in the processes they are handed to) does not matter.
        return Connection(handle, "0", True, True), Connection(handle, "1", True, True)
    return Connection(handle, "recv", True, False), Connection(handle, "send", False, True)
