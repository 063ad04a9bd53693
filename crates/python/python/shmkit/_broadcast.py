"""Publish–subscribe: :class:`Broadcast`, one publisher and any number of
subscribers in any processes, each seeing every message (a Rust
``shmkit::ByteBroadcast``)."""

import os as _os
import pickle as _pickle
import queue as _queue
import uuid as _uuid

from . import _aio, _shmkit
from ._queues import Disconnected

Lagged = _shmkit.Lagged


class Broadcast:
    """A named broadcast: one :class:`Publisher` at a time, any number of
    :class:`Subscriber`\\ s, each with its own cursor.

    ``Broadcast(capacity=1024, *, name=None, max_message_size=8192,
    lossless=False, item_type=None)`` creates it (no name: a fresh one);
    ``Broadcast.open(name, item_type=None)`` attaches. ``item_type=`` a
    typecode or ctypes type makes a typed broadcast instead: each message
    is one value of that type, the segment of a Rust ``Broadcast<T>`` (a
    Rust or C program subscribes to or publishes on the same one). Lossy (the default): the publisher
    never waits, and a subscriber that falls a whole ring behind gets
    :class:`Lagged` (``args[0]``: how many it missed), then the oldest message
    left. Lossless: the publisher waits for the slowest live subscriber (a
    killed one is dropped). Objects are pickled; ``*_bytes`` methods skip
    pickle. It pickles as its name.
    """

    def __init__(
        self, capacity=1024, *, name=None, max_message_size=8192, lossless=False, item_type=None, _mode="create"
    ):
        desc = self._codec = None
        if item_type is not None:
            from . import _type_of

            desc, fmt, ctype = _type_of(item_type)
            self._codec = (fmt, ctype)
        self._item_type = item_type
        self._b = _shmkit.ByteBroadcast(
            name or "py-bcast-%d-%s" % (_os.getpid(), _uuid.uuid4().hex[:8]),
            _mode,
            capacity,
            max(max_message_size, 1),
            lossless,
            desc,
        )

    @classmethod
    def open(cls, name, item_type=None):
        """Attaches to the existing broadcast ``name`` (of ``item_type`` for a typed one)."""
        return cls(name=name, item_type=item_type, _mode="open")

    @classmethod
    def open_or_create(cls, name, capacity=1024, *, max_message_size=8192, lossless=False, item_type=None):
        """Attaches to ``name``, creating it if there is none."""
        return cls(
            capacity,
            name=name,
            max_message_size=max_message_size,
            lossless=lossless,
            item_type=item_type,
            _mode="open_or_create",
        )

    @property
    def name(self):
        return self._b.name

    @property
    def capacity(self):
        return self._b.capacity

    @property
    def max_message_size(self):
        return self._b.max_message_size

    @property
    def lossless(self):
        return self._b.lossless

    def persist(self):
        """Keeps the name after this (creating) object is collected."""
        self._b.persist()

    @property
    def item_type(self):
        """The element type of a typed broadcast (``None``: objects and bytes)."""
        return self._item_type

    def publisher(self):
        """The publishing end (one at a time: another live one is an error)."""
        return Publisher(self._b.publisher(), self._codec)

    def subscribe(self, last=0):
        """A new subscriber, which first gets the last ``last`` messages still in the ring."""
        return Subscriber(self._b.subscribe(last), self._codec)

    def __reduce__(self):
        return Broadcast.open, (self.name, self._item_type)

    def __repr__(self):
        return "<shmkit.Broadcast %r>" % self.name


class Publisher:
    """The publishing end of a :class:`Broadcast` (of this process: make a new one after ``fork``)."""

    def __init__(self, native, codec=None):
        self._p = native
        self._codec = codec
        self._pid = _os.getpid()

    def _end(self):
        if self._pid != _os.getpid():
            raise RuntimeError("a Publisher belongs to the process that made it: make a new one")
        return self._p

    def publish_bytes(self, data, block=True, timeout=None):
        """Publishes raw bytes; a lossless broadcast waits for room (:class:`queue.Full` if none in time)."""
        if not self._end().send(bytes(data), block, timeout):
            raise _queue.Full

    def publish(self, obj, block=True, timeout=None):
        """Publishes a picklable object, or a value of a typed broadcast's
        type (as :meth:`publish_bytes`)."""
        if self._codec is None:
            data = _pickle.dumps(obj, protocol=_pickle.HIGHEST_PROTOCOL)
        else:
            from . import _to_bytes

            fmt, ctype = self._codec
            data = _to_bytes(ctype, fmt, obj)
        self.publish_bytes(data, block, timeout)


class Subscriber:
    """A subscriber of a :class:`Broadcast` (of this process: subscribe again after ``fork``)."""

    def __init__(self, native, codec=None):
        self._s = native
        self._codec = codec
        self._pid = _os.getpid()

    def _end(self):
        if self._pid != _os.getpid():
            raise RuntimeError("a Subscriber belongs to the process that made it: subscribe again")
        return self._s

    def get_bytes(self, block=True, timeout=None):
        """The next raw message. :class:`queue.Empty` if none in time,
        :class:`Lagged` if messages were lost, :class:`Disconnected` once
        nothing is new and the publisher is gone."""
        try:
            data = self._end().recv(block, timeout)
        except _shmkit.Disconnected as e:
            raise Disconnected(str(e)) from None
        if data is None:
            raise _queue.Empty
        return data

    def _decode(self, data):
        if self._codec is None:
            return _pickle.loads(data)
        from . import _from_bytes

        fmt, ctype = self._codec
        return _from_bytes(ctype, fmt, data)

    def get(self, block=True, timeout=None):
        """The next object, or value of a typed broadcast (as :meth:`get_bytes`)."""
        return self._decode(self.get_bytes(block, timeout))

    async def get_bytes_async(self):
        """:meth:`get_bytes` for :mod:`asyncio` (the loop watches a readiness descriptor)."""
        while True:
            try:
                return self.get_bytes(False)
            except _queue.Empty as e:
                if isinstance(e, Disconnected):
                    raise
            await _aio.wait_ready(self, lambda: self._end()._ready_fd())

    async def get_async(self):
        """:meth:`get` for :mod:`asyncio`."""
        return self._decode(await self.get_bytes_async())

    def _wait_handle(self):
        return self._end()

    def pending(self):
        """Messages published and not yet received here (more than the capacity: lagging)."""
        return self._end().pending()
