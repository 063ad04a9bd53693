"""shmkit: the objects of :mod:`multiprocessing`, in named shared memory.

Every object lives in a named segment in ``/dev/shm`` (``shmkit.NAME``), so
any process of the same user attaches to it by name -- a child, a stranger
started from a shell, a Rust or C program -- and a process killed at any
moment leaves nothing stuck: the next locker of a lock whose holder died is
told, a queue whose producers all died says so instead of hanging.

Creating and attaching
----------------------
* ``Cls(..., name=None)`` creates the object, exclusively. Without a name it
  gets a fresh unique one (``obj.name``); with one it fails with
  :class:`FileExistsError` if the name exists.
* ``Cls.open(name, ...)`` attaches to an existing object
  (:class:`FileNotFoundError` if there is none, :class:`WrongTypeError` if
  it is another kind of object or element type).
* ``Cls.open_or_create(name, ...)`` does either, safe when processes race.

Only the object that *created* a name removes it, when it is garbage
collected (``obj.persist()`` keeps it; ``shmkit.unlink(name)`` removes a
name explicitly). Attaching never removes anything, and a ``fork()``ed copy
of a creating object does not either. Every object pickles as its name, so
it can be handed to ``Process(args=...)`` or a ``Pool`` with any start
method -- as long as its creator is alive.

A holder that died
------------------
Locks are robust. If the previous holder of a :class:`Lock`, :class:`RLock`
or the lock of a :class:`Value`/:class:`Array` died holding it,
``acquire()`` still succeeds (the lock is yours), ``lock.owner_died`` is
``True`` until the next acquire, and an :class:`OwnerDiedWarning` is issued
(filter it with :mod:`warnings` once your code repairs the data).

Waiting
-------
Every wait releases the GIL and can be interrupted with Ctrl-C; timeouts are
float seconds, ``None`` waits as long as it takes. :func:`wait` waits on
many objects at once (queues, pipe ends, subscribers, events, semaphores),
as :func:`multiprocessing.connection.wait`; ``get_async``, ``put_async``
and ``recv_async`` await without blocking an :mod:`asyncio` loop.
"""

import ctypes as _ctypes
import itertools as _itertools
import os as _os
import pickle as _pickle
import queue as _queue
import secrets as _secrets
import struct as _struct
import threading as _threading
import time as _time

from . import _shmkit
from ._shmkit import BrokenBarrierError, BusyError, ShmkitError, WrongTypeError, unlink

__all__ = [
    "Array", "Barrier", "BoundedSemaphore", "Broadcast", "BrokenBarrierError", "BusyError", "Condition",
    "Connection", "Disconnected", "Event", "JoinableQueue", "Lock", "OwnerDiedWarning", "Pipe", "Queue",
    "Lagged", "Publisher", "RLock", "RawArray", "RawValue", "Semaphore", "SharedMemory", "ShmkitError",
    "Subscriber",
    "SimpleQueue", "Value", "WrongTypeError", "unlink", "wait",
]

Empty = _queue.Empty
Full = _queue.Full


class OwnerDiedWarning(RuntimeWarning):
    """The previous holder of a lock died holding it; you hold it now.

    The data it guarded may be half-updated: repair it. ``lock.owner_died``
    says the same until the next acquire.
    """


_counter = _itertools.count()


def _fresh_name(kind):
    return "py-%s-%d-%d-%s" % (kind, _os.getpid(), next(_counter), _secrets.token_hex(4))


def _rebuild(cls, name, args):
    return cls.open(name, *args)


# --------------------------------------------------------------------------
# Types: typecodes and ctypes descriptions (docs/FORMAT.md)

_WCHAR = _ctypes.sizeof(_ctypes.c_wchar)

# typecode -> (struct format, canonical name, size). Two have no Rust type
# of their own, since neither accepts every bit pattern there (FORMAT.md
# §3.1): 'u' (wchar_t, a 1-character str) is the unsigned integer of its
# size holding the code point (u32 on Linux: a Rust `u32`; `char::from_u32`
# reads it), and '?' (ctypes.c_bool) a `u8` holding 0 or 1. Their struct
# formats here are the ones the value is converted through ('u' is not a
# struct format: see _BUFFER_FORMAT and _decode_item).
_TYPECODES = {
    "c": ("c", "u8", 1),
    "u": ("u", "u%d" % (8 * _WCHAR), _WCHAR),
    "?": ("?", "u8", 1),
    "b": ("b", "i8", 1),
    "B": ("B", "u8", 1),
    "h": ("h", "i16", 2),
    "H": ("H", "u16", 2),
    "i": ("i", "i32", 4),
    "I": ("I", "u32", 4),
    "l": ("l", "i%d" % (8 * _ctypes.sizeof(_ctypes.c_long)), _ctypes.sizeof(_ctypes.c_long)),
    "L": ("L", "u%d" % (8 * _ctypes.sizeof(_ctypes.c_ulong)), _ctypes.sizeof(_ctypes.c_ulong)),
    "q": ("q", "i64", 8),
    "Q": ("Q", "u64", 8),
    "f": ("f", "f32", 4),
    "d": ("d", "f64", 8),
}
_CTYPES_OF = {
    "c": _ctypes.c_char, "u": _ctypes.c_wchar, "?": _ctypes.c_bool, "b": _ctypes.c_byte,
    "B": _ctypes.c_ubyte, "h": _ctypes.c_short, "H": _ctypes.c_ushort, "i": _ctypes.c_int,
    "I": _ctypes.c_uint, "l": _ctypes.c_long, "L": _ctypes.c_ulong, "q": _ctypes.c_longlong,
    "Q": _ctypes.c_ulonglong, "f": _ctypes.c_float, "d": _ctypes.c_double,
}


# The buffer format (memoryview, numpy) of a typecode whose struct format
# is not one: 'u' is seen as the code point's unsigned integer.
_BUFFER_FORMAT = {"u": {2: "H", 4: "I"}.get(_WCHAR, "I")}


def _decode_item(fmt, item):
    """A value as Python sees it, from the item a memoryview (in the buffer
    format) gives: for 'u' the 1-character str of the code point."""
    if fmt != "u":
        return item
    try:
        return chr(item)
    except (ValueError, OverflowError):
        raise ValueError("%#x in shared memory is not a Unicode code point (typecode 'u')" % item) from None


def _prim_desc(code):
    fmt, cname, size = _TYPECODES[code]
    return ("p", cname, size, size)


def _ctype_desc(t):
    """The shmkit type description of a ctypes type (FORMAT.md's encoding)."""
    if isinstance(t, type) and issubclass(t, _ctypes.Structure):
        if getattr(t, "_pack_", 0):
            raise TypeError("packed structures are not #[repr(C)] layouts")
        fields = []
        for f in t._fields_:
            if len(f) != 2:
                raise TypeError("bit fields have no shmkit layout")
            fname, ftype = f
            fields.append((fname, getattr(t, fname).offset, _ctype_desc(ftype)))
        name = getattr(t, "_shm_name_", t.__name__)
        return ("s", name, _ctypes.sizeof(t), _ctypes.alignment(t), fields)
    if isinstance(t, type) and issubclass(t, _ctypes.Array):
        return ("a", _ctype_desc(t._type_), t._length_)
    code = getattr(t, "_type_", None)
    if isinstance(code, str) and code in _TYPECODES and _ctypes.sizeof(t) == _TYPECODES[code][2]:
        return _prim_desc(code)
    raise TypeError("%r has no shmkit layout (numbers, arrays of them and Structures do)" % (t,))


def _is_numpy_dtype(t):
    return type(t).__module__.startswith("numpy") and hasattr(t, "fields") and hasattr(t, "itemsize")


def _dtype_desc(dt, name=None):
    """The shmkit type description of a numpy dtype (a structured one names its
    struct by ``metadata={"shm_name": ...}``, else "Struct")."""
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        desc = _dtype_desc(base)
        for n in reversed(shape):
            desc = ("a", desc, n)
        return desc
    if dt.fields is not None:
        meta = dt.metadata or {}
        fields = [(f, dt.fields[f][1], _dtype_desc(dt.fields[f][0])) for f in dt.names]
        return ("s", name or meta.get("shm_name", "Struct"), dt.itemsize, dt.alignment, fields)
    kinds = {"i": "i", "u": "u", "f": "f", "b": "u"}
    if dt.kind not in kinds or dt.byteorder == ">" or dt.itemsize not in (1, 2, 4, 8, 16):
        raise TypeError("numpy dtype %r has no shmkit layout" % (dt,))
    return ("p", "%s%d" % (kinds[dt.kind], 8 * dt.itemsize), dt.itemsize, dt.alignment)


def _type_of(typecode_or_type):
    """(description, struct format or None, ctypes type) of a typecode, ctypes type or numpy dtype."""
    if _is_numpy_dtype(typecode_or_type):
        import numpy

        dt = typecode_or_type
        if dt.fields is None and dt.subdtype is None:
            code = {1: "b", 2: "h", 4: "i", 8: "q"}.get(dt.itemsize) if dt.kind == "i" else None
            code = code or ({1: "B", 2: "H", 4: "I", 8: "Q"}.get(dt.itemsize) if dt.kind == "u" else code)
            code = code or ({4: "f", 8: "d"}.get(dt.itemsize) if dt.kind == "f" else code)
            code = code or ("?" if dt.kind == "b" else code)
            if code is None:
                raise TypeError("numpy dtype %r has no shmkit layout" % (dt,))
            return _type_of(code)
        return _dtype_desc(dt), None, numpy.ctypeslib.as_ctypes_type(dt)
    if isinstance(typecode_or_type, str):
        if typecode_or_type not in _TYPECODES:
            raise TypeError("unsupported typecode %r (one of %s)" % (typecode_or_type, "".join(_TYPECODES)))
        return _prim_desc(typecode_or_type), _TYPECODES[typecode_or_type][0], _CTYPES_OF[typecode_or_type]
    t = typecode_or_type
    desc = _ctype_desc(t)
    code = getattr(t, "_type_", None)
    if desc[0] == "p" and isinstance(code, str):
        return desc, _TYPECODES[code][0], t
    return desc, None, t


# --------------------------------------------------------------------------
# Locks


class _DataLock:
    """The lock of a synchronized Value or Array: the segment's own robust
    lock, recursive per thread (an RLock, as in multiprocessing)."""

    def __init__(self, data):
        self._data = data
        self.acquire = data._racquire
        self.release = data._rrelease
        self._is_owned = data._is_owned

    @property
    def owner_died(self):
        return self._data.owner_died

    @property
    def name(self):
        return self._data.name

    def __enter__(self):
        self._data._racquire()
        return self

    def __exit__(self, *exc):
        self._data._rrelease()

    def __repr__(self):
        return "<shmkit lock of %r>" % self._data.name


_U32 = ("p", "u32", 4, 4)


class _MutexObject(_shmkit.Data):
    """What :class:`Lock` and :class:`RLock` share: a Rust
    ``shmkit::Mutex<u32>`` made or attached by name."""

    _prefix = "lock"

    def __init__(self, *, name=None):
        self._setup(name or _fresh_name(self._prefix), "mutex", "create", _U32, 1, None, "B", 1)

    @classmethod
    def _attach(cls, name, mode):
        self = cls.__new__(cls)
        self._setup(name, "mutex", mode, _U32, 1, None, "B", 1)
        return self

    @classmethod
    def open(cls, name):
        """Attaches to the existing lock ``name``."""
        return cls._attach(name, "open")

    @classmethod
    def open_or_create(cls, name):
        """Attaches to the lock ``name``, creating it if there is none."""
        return cls._attach(name, "open_or_create")

    def __reduce__(self):
        return _rebuild, (type(self), self.name, ())

    def __repr__(self):
        return "<shmkit.%s %r>" % (type(self).__name__, self.name)


class Lock(_MutexObject):
    """A non-recursive lock, like :class:`multiprocessing.Lock`, that survives its holder's death.

    The segment is a Rust ``shmkit::Mutex<u32>``. ``acquire(block=True,
    timeout=None)``, ``release()``, a context manager. If the previous
    holder died holding it, ``acquire()`` succeeds, ``owner_died`` is True
    and a :class:`OwnerDiedWarning` is issued. Any thread of the holding
    process may release it; another process cannot (it does not hold it):
    :class:`ValueError`, as for releasing an unlocked lock.
    """

    def locked(self):
        """Whether some process holds the lock now (a snapshot)."""
        return self._is_locked()


# acquire/release as CPython method descriptors of their own (no PyO3
# trampoline): an uncontended acquire+release costs what multiprocessing's
# does.
_shmkit._install_fast_lock(Lock)


class RLock(_MutexObject):
    """A recursive lock, like :class:`multiprocessing.RLock`, that survives its holder's death.

    Recursion is counted per thread of the holding process. The segment is a
    Rust ``shmkit::Mutex<u32>``; ``release()`` by a thread that does not hold
    it raises :class:`RuntimeError`. ``owner_died`` as for :class:`Lock`.
    """

    _prefix = "rlock"
    acquire = _shmkit.Data._racquire
    release = _shmkit.Data._rrelease
    __enter__ = _shmkit.Data._renter
    __exit__ = _shmkit.Data._rexit


# --------------------------------------------------------------------------
# Values and arrays


class _Shared(_shmkit.Data):
    """Setup common to Value, Array, RawValue and RawArray."""

    _kind = "value"
    _synchronized = True

    def _init(self, mode, name, typecode_or_type, length, init_bytes, lock):
        desc, fmt, ctype = _type_of(typecode_or_type)
        self._typecode_or_type = typecode_or_type
        self._fmt = fmt
        self._ctype = ctype
        if fmt is not None:
            bfmt = _BUFFER_FORMAT.get(fmt, fmt)
            itemsize = _struct.calcsize(bfmt)
        else:
            bfmt, itemsize = "B", 1
        self._setup(name or _fresh_name(self._kind), self._kind, mode, desc, length, init_bytes, bfmt, itemsize)
        self._view = None
        self._own_lock = lock is True and self._synchronized
        if lock is True:
            self._lock = _DataLock(self) if self._synchronized else None
        elif lock is False or lock is None:
            self._lock = None
        else:
            self._lock = lock
        self._lock_arg = lock

    @property
    def _mv(self):
        # Made at the first access, not at open: learning where the data
        # lies may need the lock, and opening never waits for a holder.
        view = self._view
        if view is None:
            view = self._view = memoryview(self)
        return view

    def get_lock(self):
        """The lock that guards the data (the segment's own robust lock, reentrant)."""
        if self._lock is None:
            raise AttributeError("this object has no lock (lock=False)")
        return self._lock

    def get_obj(self):
        """A ctypes object that *is* the shared data (no copy)."""
        if self._kind == "array":
            return (self._ctype * len(self)).from_buffer(self)
        return self._ctype.from_buffer(self)

    def acquire(self, *args, **kwargs):
        return self.get_lock().acquire(*args, **kwargs)

    def release(self):
        return self.get_lock().release()

    def __enter__(self):
        return self.get_lock().__enter__()

    def __exit__(self, *exc):
        return self.get_lock().__exit__(*exc)

    def _locked(self):
        lock = self._lock
        return lock if lock is not None else _NoLock

    def __reduce__(self):
        lock = self._lock_arg
        if not isinstance(lock, (Lock, RLock)):
            lock = self._lock is not None
        return _rebuild, (type(self), self.name, (self._typecode_or_type, lock))


class _NoLockType:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NoLock = _NoLockType()


def _to_bytes(ctype, fmt, value):
    if fmt == "c":
        if isinstance(value, int):
            value = bytes([value])
        return bytes(value)
    if fmt == "u":
        # As ctypes.c_wchar (and multiprocessing) take it: one character.
        if not isinstance(value, str):
            raise TypeError("unicode string expected instead of %s instance" % type(value).__name__)
        if len(value) != 1:
            raise TypeError("one character unicode string expected")
        return _struct.pack(_BUFFER_FORMAT["u"], ord(value))
    if fmt is not None:
        return _struct.pack(fmt, value)
    if isinstance(value, ctype):
        return bytes(value)
    if isinstance(value, (tuple, list)):
        return bytes(ctype(*value))
    return bytes(value)


def _from_bytes(ctype, fmt, data):
    """The value of a typed queue's or broadcast's message (the inverse of :func:`_to_bytes`)."""
    if fmt is None:
        return ctype.from_buffer_copy(data)
    return _decode_item(fmt, _struct.unpack(_BUFFER_FORMAT.get(fmt, fmt), data)[0])


class Value(_Shared):
    """A shared value, like :func:`multiprocessing.Value`.

    ``Value(typecode_or_type, *args, lock=True, name=None)``: a typecode
    (``'i'``, ``'d'``, ...; ``Value('d')`` is a Rust ``Value<f64>``; ``'u'``,
    wchar_t, holds a 1-character str and is a Rust ``Value<u32>`` of the code
    point; ``ctypes.c_bool`` (or ``'?'``) holds True/False and is a Rust
    ``Value<u8>`` of 0 or 1, since Rust's ``bool`` and ``char`` are not
    shareable) or a
    ctypes type (a ``ctypes.Structure`` is the Rust ``#[derive(ShmType)]``
    struct of the same layout, named by its class name or ``_shm_name_``;
    a numpy structured dtype likewise, named by ``metadata={"shm_name":
    ...}``). ``args`` initialize it (zero by default). ``.value`` reads and writes it
    under the segment's robust lock (``get_lock()``, reentrant); for a
    Structure ``.value`` is a ctypes object that *is* the shared memory.
    ``lock=False`` skips locking; ``lock=`` a shmkit Lock/RLock uses that one.
    """

    _kind = "value"

    def __init__(self, typecode_or_type, *args, lock=True, name=None):
        self._init("create", name, typecode_or_type, 1, _init_value(typecode_or_type, args), lock)

    @classmethod
    def open(cls, name, typecode_or_type, lock=True):
        """Attaches to the existing value ``name`` of this type."""
        self = cls.__new__(cls)
        self._init("open", name, typecode_or_type, 1, None, lock)
        return self

    @classmethod
    def open_or_create(cls, name, typecode_or_type, *args, lock=True):
        """Attaches to the value ``name``, creating it (initialized by ``args``) if there is none."""
        self = cls.__new__(cls)
        self._init("open_or_create", name, typecode_or_type, 1, _init_value(typecode_or_type, args), lock)
        return self

    @property
    def value(self):
        if self._fmt is None:
            with self._locked():
                return self._ctype.from_buffer(self)
        if self._own_lock:
            self._racquire()
            try:
                item = self._mv[0]
            finally:
                self._rrelease()
        else:
            with self._locked():
                item = self._mv[0]
        return _decode_item(self._fmt, item)

    @value.setter
    def value(self, v):
        data = _to_bytes(self._ctype, self._fmt, v)
        with self._locked():
            self._write(0, data)

    def __repr__(self):
        return "<shmkit.%s %r %r>" % (type(self).__name__, self.name, self.value)


def _init_value(typecode_or_type, args):
    if not args:
        return None
    desc, fmt, ctype = _type_of(typecode_or_type)
    if fmt is None:
        obj = args[0] if len(args) == 1 and isinstance(args[0], ctype) else ctype(*args)
        return bytes(obj)
    if len(args) != 1:
        raise TypeError("a value takes one initial value")
    return _to_bytes(ctype, fmt, args[0])


class RawValue(Value):
    """A shared value without a lock, like :func:`multiprocessing.sharedctypes.RawValue`.

    The same segment as :class:`Value` (a Rust ``Value<T>``); reads and
    writes are not locked.
    """

    _synchronized = False

    def __init__(self, typecode_or_type, *args, name=None):
        Value.__init__(self, typecode_or_type, *args, lock=False, name=name)

    @classmethod
    def open(cls, name, typecode_or_type, lock=False):
        return super().open.__func__(cls, name, typecode_or_type, lock=False)

    @classmethod
    def open_or_create(cls, name, typecode_or_type, *args):
        return super().open_or_create.__func__(cls, name, typecode_or_type, *args, lock=False)


def _init_array(typecode_or_type, size_or_initializer):
    desc, fmt, ctype = _type_of(typecode_or_type)
    if isinstance(size_or_initializer, int):
        return size_or_initializer, None
    items = list(size_or_initializer)
    if fmt in ("c", "u"):
        data = b"".join(_to_bytes(ctype, fmt, v) for v in items)
    elif fmt is not None:
        data = _struct.pack("%d%s" % (len(items), fmt), *items)
    else:
        data = b"".join(_to_bytes(ctype, fmt, v) for v in items)
    return len(items), data


class Array(_Shared):
    """A shared array, like :func:`multiprocessing.Array`.

    ``Array(typecode_or_type, size_or_initializer, *, lock=True, name=None)``;
    ``Array('i', n)`` is a Rust ``Array<i32>``; ``Array('u', 'text')`` an
    ``Array<u32>`` of code points (a slice of it is a str, ``.value`` the
    text up to the first NUL); ``Array(ctypes.c_bool, n)`` an ``Array<u8>``.
    Indexing, slices, ``len``,
    iteration, under the segment's robust lock (``get_lock()``). The object
    is a writable buffer: ``memoryview(a)`` and ``numpy.frombuffer(a,
    dtype)`` see the shared memory itself, no copy, no lock.
    """

    _kind = "array"

    def __init__(self, typecode_or_type, size_or_initializer, *, lock=True, name=None):
        n, data = _init_array(typecode_or_type, size_or_initializer)
        self._init("create", name, typecode_or_type, n, data, lock)

    @classmethod
    def open(cls, name, typecode_or_type, lock=True):
        """Attaches to the existing array ``name`` of this element type."""
        self = cls.__new__(cls)
        self._init("open", name, typecode_or_type, 0, None, lock)
        return self

    @classmethod
    def open_or_create(cls, name, typecode_or_type, size, *, lock=True):
        """Attaches to the array ``name``, creating it (``size`` zeroes) if there is none."""
        self = cls.__new__(cls)
        self._init("open_or_create", name, typecode_or_type, size, None, lock)
        return self

    def __len__(self):
        return self.length

    def _item(self, i):
        if self._fmt is not None:
            return _decode_item(self._fmt, self._mv[i])
        return self._ctype.from_buffer(self, i * self.elem_size)

    def __getitem__(self, i):
        n = len(self)
        with self._locked():
            if isinstance(i, slice):
                items = [self._item(k) for k in range(*i.indices(n))]
                # A slice of a 'u' array is a str, as multiprocessing's.
                return "".join(items) if self._fmt == "u" else items
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError("array index out of range")
            return self._item(i)

    def __setitem__(self, i, v):
        n = len(self)
        size = self.elem_size
        with self._locked():
            if isinstance(i, slice):
                idx = range(*i.indices(n))
                v = list(v)
                if len(v) != len(idx):
                    raise ValueError("can only assign a sequence of the same length to a slice")
                for k, x in zip(idx, v):
                    self._write(k * size, _to_bytes(self._ctype, self._fmt, x))
                return
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError("array assignment index out of range")
            self._write(i * size, _to_bytes(self._ctype, self._fmt, v))

    def __iter__(self):
        return iter(self[:])

    @property
    def value(self):
        """For a ``'c'`` array: the bytes up to the first NUL (as multiprocessing).

        For a ``'u'`` array: the str up to the first NUL character (as a
        ctypes ``c_wchar`` array's, what ``RawArray('u', ...)`` is in
        multiprocessing).
        """
        if self._fmt == "u":
            with self._locked():
                return "".join(self._item(k) for k in range(len(self))).split("\0", 1)[0]
        if self._fmt != "c":
            raise AttributeError("only 'c' and 'u' arrays have .value")
        with self._locked():
            return self._read(0, self.nbytes).split(b"\0", 1)[0]

    @value.setter
    def value(self, v):
        if self._fmt == "u":
            if not isinstance(v, str):
                raise TypeError("unicode string expected instead of %s instance" % type(v).__name__)
            if len(v) > len(self):
                raise ValueError("string too long")
            data = b"".join(_to_bytes(self._ctype, "u", ch) for ch in v + "\0" * min(1, len(self) - len(v)))
            with self._locked():
                self._write(0, data)
            return
        if self._fmt != "c":
            raise AttributeError("only 'c' and 'u' arrays have .value")
        v = bytes(v)
        if len(v) > self.nbytes:
            raise ValueError("byte string too long")
        with self._locked():
            self._write(0, v + b"\0" * min(1, self.nbytes - len(v)))

    @property
    def raw(self):
        """For a ``'c'`` array: all its bytes."""
        with self._locked():
            return self._read(0, self.nbytes)

    def __repr__(self):
        return "<shmkit.%s %r len=%d>" % (type(self).__name__, self.name, len(self))


class RawArray(Array):
    """A shared array without a lock, like :func:`multiprocessing.sharedctypes.RawArray`."""

    _synchronized = False

    def __init__(self, typecode_or_type, size_or_initializer, *, name=None):
        Array.__init__(self, typecode_or_type, size_or_initializer, lock=False, name=name)

    @classmethod
    def open(cls, name, typecode_or_type, lock=False):
        return super().open.__func__(cls, name, typecode_or_type, lock=False)

    @classmethod
    def open_or_create(cls, name, typecode_or_type, size):
        return super().open_or_create.__func__(cls, name, typecode_or_type, size, lock=False)



# --------------------------------------------------------------------------
# Semaphores, events, conditions, barriers


class _Named:
    """An object over one native handle ``self._h`` with a name."""

    @property
    def name(self):
        return self._h.name

    def persist(self):
        """Keeps the name after this (creating) object is gone."""
        self._h.persist()

    def __repr__(self):
        return "<shmkit.%s %r>" % (type(self).__name__, self.name)


class Semaphore(_Named):
    """A counting semaphore, like :class:`multiprocessing.Semaphore`.

    ``Semaphore(value=1, *, name=None)``; a Rust ``shmkit::Semaphore``.
    """

    _bounded = False

    def __init__(self, value=1, *, name=None):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._h = _shmkit.Semaphore(name or _fresh_name("sem"), "create", value, self._bounded)

    @classmethod
    def open(cls, name):
        """Attaches to the existing semaphore ``name``."""
        self = cls.__new__(cls)
        self._h = _shmkit.Semaphore(name, "open", 0, cls._bounded)
        return self

    @classmethod
    def open_or_create(cls, name, value=1):
        """Attaches to the semaphore ``name``, creating it if there is none."""
        self = cls.__new__(cls)
        self._h = _shmkit.Semaphore(name, "open_or_create", value, cls._bounded)
        return self

    def acquire(self, block=True, timeout=None):
        """Takes a permit, waiting at most ``timeout`` seconds. Returns whether it did."""
        if timeout is not None and timeout < 0:
            timeout = 0.0
        return self._h.acquire(block, timeout)

    def release(self, n=1):
        """Gives ``n`` permits back (:class:`ValueError` past a BoundedSemaphore's bound)."""
        try:
            self._h.release(n)
        except ValueError:
            raise ValueError("semaphore or lock released too many times") from None

    def get_value(self):
        """Permits available now (a snapshot)."""
        return self._h.get_value()

    def _wait_handle(self):
        return self._h

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def __reduce__(self):
        return _rebuild, (type(self), self.name, ())


class BoundedSemaphore(Semaphore):
    """A semaphore whose count may not exceed its initial value, like :class:`multiprocessing.BoundedSemaphore`."""

    _bounded = True


class Event(_Named):
    """An event flag, like :class:`multiprocessing.Event`; a Rust ``shmkit::Event``."""

    def __init__(self, *, name=None):
        self._h = _shmkit.Event(name or _fresh_name("event"), "create")

    @classmethod
    def open(cls, name):
        """Attaches to the existing event ``name``."""
        self = cls.__new__(cls)
        self._h = _shmkit.Event(name, "open")
        return self

    @classmethod
    def open_or_create(cls, name):
        """Attaches to the event ``name``, creating it if there is none."""
        self = cls.__new__(cls)
        self._h = _shmkit.Event(name, "open_or_create")
        return self

    def is_set(self):
        return self._h.is_set()

    def set(self):
        self._h.set()

    def clear(self):
        self._h.clear()

    def wait(self, timeout=None):
        """Waits until the flag is set (at most ``timeout`` seconds); returns the flag."""
        return self._h.wait(timeout)

    def _wait_handle(self):
        return self._h

    def __reduce__(self):
        return _rebuild, (type(self), self.name, ())


class Condition:
    """A condition variable, like :class:`multiprocessing.Condition`.

    ``Condition(lock=None, *, name=None)``: ``lock`` is a shmkit
    :class:`Lock` or :class:`RLock` (default: a new RLock named
    ``NAME.lock``). Built as multiprocessing builds it, on three semaphores
    (``NAME.sleeping``, ``NAME.woken``, ``NAME.wait``), so ``notify(n)``
    wakes exactly up to ``n`` waiters. A waiter that dies while waiting
    cannot hang ``notify``: it waits at most ``NOTIFY_PATIENCE`` seconds
    for each sleeper to wake.
    """

    NOTIFY_PATIENCE = 5.0

    def __init__(self, lock=None, *, name=None):
        self._make("create", name or _fresh_name("cond"), lock)

    @classmethod
    def open(cls, name, lock=None):
        """Attaches to the existing condition ``name`` (and its lock ``NAME.lock`` unless given)."""
        self = cls.__new__(cls)
        self._make("open", name, lock)
        return self

    @classmethod
    def open_or_create(cls, name, lock=None):
        """Attaches to the condition ``name``, creating it if there is none."""
        self = cls.__new__(cls)
        self._make("open_or_create", name, lock)
        return self

    def _make(self, mode, name, lock):
        if lock is None:
            lock = {"create": RLock, "open": RLock.open, "open_or_create": RLock.open_or_create}[mode]
            lock = lock(name=name + ".lock") if mode == "create" else lock(name + ".lock")
        if not isinstance(lock, (Lock, RLock)):
            raise TypeError("a shmkit Condition needs a shmkit Lock or RLock")
        self._name = name
        self._lock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        sems = []
        for part in ("sleeping", "woken", "wait"):
            n = "%s.%s" % (name, part)
            if mode == "open":
                sems.append(Semaphore.open(n))
            elif mode == "open_or_create":
                sems.append(Semaphore.open_or_create(n, 0))
            else:
                sems.append(Semaphore(0, name=n))
        self._sleeping, self._woken, self._wait_sem = sems

    @property
    def name(self):
        return self._name

    def persist(self):
        """Keeps the names after this (creating) object is gone."""
        for s in (self._sleeping, self._woken, self._wait_sem):
            s.persist()
        self._lock.persist()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)

    def _check_owned(self, what):
        lock = self._lock
        owned = lock._is_owned() if isinstance(lock, RLock) else lock._is_held()
        if not owned:
            raise RuntimeError("cannot %s un-acquired lock" % what)

    def wait(self, timeout=None):
        """Releases the lock, waits for a notify (at most ``timeout`` seconds), takes it again.

        Returns False if the timeout ran out.
        """
        self._check_owned("wait on")
        lock = self._lock
        self._sleeping.release()
        if isinstance(lock, RLock):
            saved = lock._release_save()
        else:
            saved = None
            lock.release()
        try:
            return self._wait_sem.acquire(True, timeout)
        finally:
            self._woken.release()
            if saved is not None:
                lock._acquire_restore(saved)
            else:
                lock.acquire()

    def wait_for(self, predicate, timeout=None):
        """Waits until ``predicate()`` is true (at most ``timeout`` seconds); returns its last value."""
        result = predicate()
        if result:
            return result
        endtime = None if timeout is None else _time.monotonic() + timeout
        while not result:
            if endtime is not None:
                remaining = endtime - _time.monotonic()
                if remaining <= 0:
                    break
                self.wait(remaining)
            else:
                self.wait()
            result = predicate()
        return result

    def notify(self, n=1):
        """Wakes up to ``n`` waiters."""
        self._check_owned("notify on")
        # multiprocessing's algorithm: account for waiters that timed out
        # since the last notify, then wake up to n sleepers one by one.
        while self._woken.acquire(False):
            self._sleeping.acquire(False)
        sleepers = 0
        while sleepers < n and self._sleeping.acquire(False):
            self._wait_sem.release()
            sleepers += 1
        if sleepers:
            for _ in range(sleepers):
                self._woken.acquire(True, self.NOTIFY_PATIENCE)
            while self._wait_sem.acquire(False):
                pass

    def notify_all(self):
        """Wakes every waiter."""
        self.notify(n=1 << 30)

    def __reduce__(self):
        return _rebuild, (type(self), self.name, (self._lock,))

    def __repr__(self):
        return "<shmkit.Condition %r>" % self.name


class Barrier(_Named):
    """A barrier, like :class:`multiprocessing.Barrier`; a Rust ``shmkit::Barrier``.

    ``Barrier(parties, action=None, timeout=None, *, name=None)``. A party
    that dies while waiting breaks the barrier (the others get
    :class:`BrokenBarrierError` instead of hanging). ``wait()`` returns 0 in
    the party that completed the barrier (it runs ``action`` before the
    others go on) and a number in 1..parties-1 elsewhere (not guaranteed
    distinct). With ``action`` a second barrier ``NAME.action`` holds the
    others until it has run. Ctrl-C interrupts a wait, as every wait: as
    with :class:`threading.Barrier`, the interrupted wait breaks the barrier
    (the others get :class:`BrokenBarrierError`) and raises.
    """

    def __init__(self, parties, action=None, timeout=None, *, name=None):
        name = name or _fresh_name("barrier")
        self._h = _shmkit.Barrier(name, "create", parties)
        self._after = _shmkit.Barrier(name + ".action", "create", parties) if action is not None else None
        self._action = action
        self._timeout = timeout

    @classmethod
    def open(cls, name, action=None, timeout=None):
        """Attaches to the existing barrier ``name``."""
        self = cls.__new__(cls)
        self._h = _shmkit.Barrier(name, "open", 0)
        try:
            self._after = _shmkit.Barrier(name + ".action", "open", 0)
        except FileNotFoundError:
            self._after = None
        self._action = action
        self._timeout = timeout
        return self

    @property
    def parties(self):
        return self._h.parties

    @property
    def n_waiting(self):
        return self._h.n_waiting

    @property
    def broken(self):
        return self._h.broken

    def wait(self, timeout=None):
        """Waits until every party has called ``wait``."""
        if timeout is None:
            timeout = self._timeout
        before = self._h.n_waiting
        try:
            leader = self._h.wait(timeout)
            if self._after is not None:
                if leader and self._action is not None:
                    self._action()
                self._after.wait(timeout)
            elif leader and self._action is not None:
                self._action()
        except BrokenBarrierError:
            raise
        except BaseException:
            # Interrupted (Ctrl-C), or the action raised: break the whole
            # barrier, as threading.Barrier does, so nobody waits for us.
            self.abort()
            raise
        return 0 if leader else max(1, min(before + 1, self.parties - 1))

    def reset(self):
        """Back to the initial state; waiting parties get :class:`BrokenBarrierError`."""
        self._h.reset()
        if self._after is not None:
            self._after.reset()

    def abort(self):
        """Breaks the barrier: every waiter, now and later, gets :class:`BrokenBarrierError` until reset."""
        self._h.abort()
        if self._after is not None:
            self._after.abort()

    def __reduce__(self):
        return _rebuild, (type(self), self.name, (None, self._timeout))


# --------------------------------------------------------------------------
# Raw shared memory


class SharedMemory(_shmkit.SharedMemoryBlock):
    """A raw block of shared bytes, like :class:`multiprocessing.shared_memory.SharedMemory`.

    ``SharedMemory(name=None, create=False, size=0)`` keeps
    multiprocessing's signature: ``create=True`` makes a new block (a fresh
    name if ``name`` is None), else it attaches to ``name``. ``buf`` is a
    memoryview of the memory itself. Unlike multiprocessing, only the
    creating object removes the name (when collected); ``unlink()`` removes
    it explicitly; attaching never does (``track`` is accepted for
    compatibility: there is no resource tracker to opt out of).
    """

    def __init__(self, name=None, create=False, size=0, *, track=True):
        if create:
            if size <= 0:
                raise ValueError("'size' must be a positive number different from zero")
            self._setup(name or _fresh_name("shm"), "create", size)
        else:
            if name is None:
                raise ValueError("'name' can only be None if create=True")
            self._setup(name, "open", 0)
        self._buf = memoryview(self)

    @classmethod
    def open(cls, name):
        """Attaches to the existing block ``name``."""
        return cls(name)

    @classmethod
    def open_or_create(cls, name, size):
        """Attaches to the block ``name``, creating it (``size`` zeroed bytes) if there is none."""
        self = cls.__new__(cls)
        self._setup(name, "open_or_create", size)
        self._buf = memoryview(self)
        return self

    @property
    def buf(self):
        if self._buf is None:
            raise ValueError("the block is closed")
        return self._buf

    def close(self):
        """Lets go of ``buf`` (the mapping goes with the last reference)."""
        if self._buf is not None:
            self._buf.release()
            self._buf = None

    def unlink(self):
        """Removes the name now; existing mappings stay valid."""
        unlink(self.name)

    def __reduce__(self):
        return SharedMemory, (self.name, False, 0)

    def __repr__(self):
        return "SharedMemory(%r, size=%d)" % (self.name, self.size)


def wait(object_list, timeout=None):
    """Waits until one of ``object_list`` is ready; returns those that are, like :func:`multiprocessing.connection.wait`.

    The objects: :class:`Queue` s (and SimpleQueue, JoinableQueue; ready:
    a ``get`` would not block -- a message, or every sender gone), pipe
    :class:`Connection` s (a message or the end of the stream), broadcast
    :class:`Subscriber` s, :class:`Event` s (set) and :class:`Semaphore` s
    (a free permit). Nothing is consumed: another process may take the
    message or permit first, so the call that follows may still find
    nothing (wait again). A queue waited on takes this process's receiving
    end, as a ``get`` does.

    ``timeout`` float seconds (``None``: as long as it takes); on timeout
    the list is empty. The wait releases the GIL and Ctrl-C interrupts it.
    One wait sleeps on every object at once (the Rust ``shmkit::wait_any``).
    """
    objects = list(object_list)
    handles = []
    for obj in objects:
        make = getattr(obj, "_wait_handle", None)
        if make is None:
            raise TypeError(
                "cannot wait on %r: queues, pipe Connections, Subscribers, Events and Semaphores can be waited on"
                % (obj,)
            )
        handles.append(make())
    if timeout is not None and timeout < 0:
        timeout = 0.0
    return [objects[i] for i in _shmkit.wait(handles, timeout)]


from ._connection import Connection, Pipe  # noqa: E402
from ._queues import Disconnected, JoinableQueue, Queue, SimpleQueue  # noqa: E402
from ._broadcast import Broadcast, Lagged, Publisher, Subscriber  # noqa: E402
