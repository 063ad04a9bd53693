"""Queue, SimpleQueue and JoinableQueue over shmkit's MessageQueue (pickled
objects or raw bytes) or a typed queue (``item_type=``, a Rust ``Queue<T>``)."""

import pickle as _pickle
import queue as _queue

from . import _aio, _shmkit

#: Messages a queue holds when ``maxsize <= 0`` (multiprocessing's "no limit").
DEFAULT_CAPACITY = 1024
#: The longest message (pickle) a queue carries unless told otherwise.
DEFAULT_MAX_MESSAGE_SIZE = 8192


class Disconnected(_queue.Empty, EOFError):
    """The other side of a queue is gone.

    Raised by ``get`` on an empty queue whose every sender is gone (closed,
    exited or died) -- instead of waiting for ever -- and by ``put`` when
    every receiver is gone. It is both a :class:`queue.Empty` and an
    :class:`EOFError`, so either ``except`` catches it.
    """


def _fresh(kind):
    from . import _fresh_name

    return _fresh_name(kind)


class Queue:
    """A queue of Python objects for any number of producers and consumers, like :class:`multiprocessing.Queue`.

    ``Queue(maxsize=0, *, name=None, max_message_size=8192, item_type=None)``

    * Objects are pickled into one message each, in shared memory (a Rust
      ``shmkit::MessageQueue``): no feeder thread, no pipe. A pickle longer
      than ``max_message_size`` bytes raises :class:`ValueError`; make the
      queue with a larger ``max_message_size=``.
    * The queue holds ``maxsize`` messages rounded up to a power of two
      (``maxsize <= 0``: 1024); ``full()`` and :class:`queue.Full` refer to
      that capacity. Memory: capacity times ``max_message_size``.
    * ``put_bytes``/``get_bytes`` carry raw bytes without pickle (a Rust or
      C process sees the same messages).
    * ``item_type=`` a typecode or ctypes type makes a typed queue instead
      (a Rust ``shmkit::Queue<T>`` of the same layout): ``put`` takes a
      value of that type, ``get`` returns one.
    * Robust ends: ``get`` on an empty queue whose every sender is gone
      (closed, exited or killed) raises :class:`shmkit.Disconnected` (a
      :class:`queue.Empty` and an :class:`EOFError`) instead of hanging, and
      ``put`` when every receiver is gone likewise. The object that created
      the queue holds both ends from the start, so the queue stays open
      while its creator lives (no Disconnected between one producer's exit
      and the next one's start); ``close()`` lets them go. Any other process
      takes its sending end at its first ``put`` and its receiving end at
      its first ``get``, or at once with ``hold_sender()`` /
      ``hold_receiver()``. ``close()`` gives
      this process's ends back.
    """

    _joinable = False

    def __init__(self, maxsize=0, *, name=None, max_message_size=DEFAULT_MAX_MESSAGE_SIZE, item_type=None):
        self._make("create", name or _fresh("queue"), maxsize, max_message_size, item_type)

    @classmethod
    def open(cls, name, item_type=None):
        """Attaches to the existing queue ``name`` (of ``item_type`` for a typed queue)."""
        self = cls.__new__(cls)
        self._make("open", name, 0, 0, item_type)
        return self

    @classmethod
    def open_or_create(cls, name, maxsize=0, *, max_message_size=DEFAULT_MAX_MESSAGE_SIZE, item_type=None):
        """Attaches to the queue ``name``, creating it if there is none."""
        self = cls.__new__(cls)
        self._make("open_or_create", name, maxsize, max_message_size, item_type)
        return self

    def _make(self, mode, name, maxsize, max_message_size, item_type):
        from . import _type_of

        capacity = maxsize if maxsize > 0 else DEFAULT_CAPACITY
        if item_type is None:
            desc = None
            self._codec = None
        else:
            desc, fmt, ctype = _type_of(item_type)
            self._codec = (fmt, ctype)
        if max_message_size <= 0 and mode != "open":
            raise ValueError("max_message_size must be positive")
        self._q = _shmkit.MsgQueue(name, mode, capacity, max(max_message_size, 1), self._joinable, desc)
        if self._joinable and not self._q.joinable:
            raise ValueError("%r is not a joinable queue" % name)
        self._item_type = item_type
        self._closed = False
        if mode == "create":
            # The creator keeps the queue open both ways while it lives, so
            # that consumers see no Disconnected between one producer's exit
            # and the next one's start (see the class docs).
            self._q.open_sender()
            self._q.open_receiver()

    @property
    def name(self):
        return self._q.name

    @property
    def maxsize(self):
        """Messages the queue holds (its capacity)."""
        return self._q.capacity

    @property
    def max_message_size(self):
        """The longest message (for a typed queue: the element size)."""
        return self._q.max_len

    def persist(self):
        """Keeps the name after this (creating) object is gone."""
        self._q.persist()

    # -- encoding

    def _encode(self, obj):
        if self._codec is None:
            data = _pickle.dumps(obj, protocol=_pickle.HIGHEST_PROTOCOL)
            if len(data) > self._q.max_len:
                raise ValueError(
                    "the pickle of this object is %d bytes, longer than the queue's max_message_size=%d: "
                    "make the queue with a larger max_message_size=" % (len(data), self._q.max_len)
                )
            return data
        from . import _to_bytes

        fmt, ctype = self._codec
        return _to_bytes(ctype, fmt, obj)

    def _decode(self, data):
        if self._codec is None:
            return _pickle.loads(data)
        from . import _from_bytes

        fmt, ctype = self._codec
        return _from_bytes(ctype, fmt, data)

    # -- raw operations

    def _check(self):
        if self._closed:
            raise ValueError("Queue %r is closed" % self.name)

    def put_bytes(self, data, block=True, timeout=None):
        """Puts raw bytes (no pickle); :class:`queue.Full` if there is no room in time."""
        self._check()
        try:
            ok = self._q.put(bytes(data), block, timeout)
        except _shmkit.Disconnected as e:
            raise Disconnected(str(e)) from None
        if not ok:
            raise _queue.Full

    def get_bytes(self, block=True, timeout=None):
        """Gets a raw message; :class:`queue.Empty` if none in time, :class:`Disconnected` if none will come."""
        self._check()
        try:
            data = self._q.get(block, timeout)
        except _shmkit.Disconnected as e:
            raise Disconnected(str(e)) from None
        if data is None:
            raise _queue.Empty
        return data

    def get_bytes_with(self, callback, block=True, timeout=None):
        """Gets a raw message and returns ``callback(view)``: ``view`` is a
        read-only memoryview of the message where it lies in shared memory
        (no copy). The message is consumed when ``callback`` returns or
        raises; use the view inside ``callback`` only (kept past it, it shows
        whatever the queue's memory holds then). :class:`queue.Empty` /
        :class:`Disconnected` as ``get_bytes``. Message queues only."""
        self._check()
        try:
            out = self._q.get_with(callback, block, timeout)
        except _shmkit.Disconnected as e:
            raise Disconnected(str(e)) from None
        if out is None:
            raise _queue.Empty
        return out

    # -- multiprocessing.Queue

    def put(self, obj, block=True, timeout=None):
        """Puts ``obj``, waiting at most ``timeout`` seconds for room (:class:`queue.Full`)."""
        self.put_bytes(self._encode(obj), block, timeout)

    def get(self, block=True, timeout=None):
        """Removes and returns an item, waiting at most ``timeout`` seconds (:class:`queue.Empty`)."""
        return self._decode(self.get_bytes(block, timeout))

    async def get_async(self):
        """Removes and returns an item, awaiting one without blocking the event loop.

        For :mod:`asyncio`: the loop watches a descriptor that is readable
        while a message (or the end of the stream) is there, so no thread
        waits and nothing polls. Raises :class:`shmkit.Disconnected` once the
        queue is empty and every sender is gone. Cancelling it loses no
        message (it takes one only when it returns it).
        """
        return self._decode(await self.get_bytes_async())

    async def get_bytes_async(self):
        """:meth:`get_async` for raw bytes (no pickle), as :meth:`get_bytes`."""
        while True:
            try:
                return self.get_bytes(False)
            except Disconnected:
                raise
            except _queue.Empty:
                pass
            await _aio.wait_ready(self, self._q._ready_fd)

    async def put_async(self, obj):
        """Puts ``obj``, awaiting room without blocking the event loop.

        For :mod:`asyncio`, as :meth:`get_async`: the loop watches a
        descriptor that is readable while the queue has room (or no
        receiver is left, when this raises :class:`shmkit.Disconnected`).
        Cancelling it puts nothing: the object goes in only when it
        returns. Errors of the object itself (too long a pickle, a value
        the item type refuses) are raised at once.
        """
        await self.put_bytes_async(self._encode(obj))

    async def put_bytes_async(self, data):
        """:meth:`put_async` for raw bytes (no pickle), as :meth:`put_bytes`."""
        self._check()
        data = bytes(data)
        while True:
            try:
                return self.put_bytes(data, False)
            except _queue.Full:
                pass
            await _aio.wait_ready(self, self._q._send_ready_fd, "_send_ready")

    def _wait_handle(self):
        # shmkit.wait: this process's receiving end (made if it was not).
        self._check()
        return self._q

    def put_nowait(self, obj):
        return self.put(obj, False)

    def get_nowait(self):
        return self.get(False)

    def qsize(self):
        """Messages queued now (a snapshot)."""
        return self._q.qsize()

    def empty(self):
        return self._q.qsize() == 0

    def full(self):
        return self._q.qsize() >= self._q.capacity

    def hold_sender(self):
        """Takes this process's sending end now instead of at its first ``put``.

        While a process holds one, consumers of an empty queue wait instead
        of raising :class:`Disconnected`; ``close()`` (or the exit or death of
        the process) gives it back.
        """
        self._check()
        self._q.open_sender()

    def hold_receiver(self):
        """Takes this process's receiving end now instead of at its first ``get``.

        While a process holds one, a ``put`` does not raise
        :class:`Disconnected` for want of receivers.
        """
        self._check()
        self._q.open_receiver()

    def close(self):
        """Gives this process's ends back; further calls raise :class:`ValueError`."""
        if not self._closed:
            self._closed = True
            self._q.close_sender()
            self._q.close_receiver()

    def join_thread(self):
        """No-op: there is no feeder thread (messages are in shared memory when ``put`` returns)."""

    def cancel_join_thread(self):
        """No-op: there is no feeder thread."""

    def __reduce__(self):
        return _rebuild_queue, (type(self), self.name, self._item_type)

    def __repr__(self):
        return "<shmkit.%s %r>" % (type(self).__name__, self.name)


def _rebuild_queue(cls, name, item_type):
    return cls.open(name, item_type)


class SimpleQueue(Queue):
    """A queue with ``get``, ``put``, ``empty`` and ``close``, like :class:`multiprocessing.SimpleQueue`.

    The same segment as :class:`Queue`.
    """

    def __init__(self, *, name=None, max_message_size=DEFAULT_MAX_MESSAGE_SIZE, item_type=None):
        Queue.__init__(self, 0, name=name, max_message_size=max_message_size, item_type=item_type)

    def get(self):
        return Queue.get(self)

    def put(self, obj):
        return Queue.put(self, obj)


class JoinableQueue(Queue):
    """A :class:`Queue` with ``task_done()`` and ``join()``, like :class:`multiprocessing.JoinableQueue`."""

    _joinable = True

    def task_done(self):
        """Marks one item got from the queue done; :class:`ValueError` if called too often."""
        try:
            self._q.task_done()
        except ValueError:
            raise ValueError("task_done() called too many times") from None

    def join(self, timeout=None):
        """Waits until every item put was marked done (at most ``timeout`` seconds; returns whether it was)."""
        return self._q.join(timeout)
