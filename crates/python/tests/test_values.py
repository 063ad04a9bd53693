"""Value, Array, RawValue, RawArray: what CPython's test_multiprocessing checks
(typecodes, slicing, the lock, get_obj), plus names, types and buffers."""

import ctypes
import pickle

import pytest

import shmkit


class Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double)]


CODES = [("i", 11, -3), ("d", 3.25, -1.5), ("h", -5, 7), ("q", 2**40, -(2**40)), ("c", b"x", b"y"),
         ("B", 200, 1), ("f", 0.5, 2.0), ("Q", 2**63, 5), ("L", 9, 10), ("u", "x", "\u20ac"),
         ("u", "\U0001f600", "\0"), (ctypes.c_bool, True, False), (ctypes.c_wchar, "a", "b")]


@pytest.mark.parametrize("code,init,other", CODES)
def test_value_typecodes(code, init, other):
    v = shmkit.Value(code, init)
    assert v.value == init
    v.value = other
    assert v.value == other
    raw = shmkit.RawValue(code, init)
    assert raw.value == init
    raw.value = other
    assert raw.value == other


def test_value_default_zero_and_name(name):
    v = shmkit.Value("i", name=name)
    assert v.value == 0
    assert v.name == name
    w = shmkit.Value.open(name, "i")
    w.value = 42
    assert v.value == 42


def test_value_lock_is_reentrant_and_guards_increments():
    v = shmkit.Value("i", 0)
    lock = v.get_lock()
    with lock:
        with v.get_lock():
            v.value += 1
    assert lock.acquire()
    assert lock.acquire(timeout=0)
    lock.release()
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
    assert v.value == 1


def test_value_without_lock():
    v = shmkit.Value("i", 5, lock=False)
    with pytest.raises(AttributeError):
        v.get_lock()
    v.value += 1
    assert v.value == 6


def test_value_with_given_lock():
    lock = shmkit.RLock()
    v = shmkit.Value("d", 1.0, lock=lock)
    assert v.get_lock() is lock
    with lock:
        v.value *= 3
    assert v.value == 3.0


def test_value_exclusive_and_open_checks(name):
    v = shmkit.Value("d", 1.0, name=name)
    with pytest.raises(FileExistsError):
        shmkit.Value("d", name=name)
    with pytest.raises(shmkit.WrongTypeError):
        shmkit.Value.open(name, "i")
    with pytest.raises(shmkit.WrongTypeError):
        shmkit.Array.open(name, "d")
    with pytest.raises(FileNotFoundError):
        shmkit.Value.open(name + "-none", "d")
    with pytest.raises(ValueError):
        shmkit.Value("d", name="bad/name")
    o = shmkit.Value.open_or_create(name, "d", 9.0)
    assert o.value == 1.0
    del v


def test_only_the_creator_unlinks(name):
    v = shmkit.Value("i", 3, name=name)
    w = shmkit.Value.open(name, "i")
    del w  # attaching never unlinks
    assert shmkit.Value.open(name, "i").value == 3
    del v
    import gc

    gc.collect()
    with pytest.raises(FileNotFoundError):
        shmkit.Value.open(name, "i")


def test_persist_and_unlink(name):
    v = shmkit.Value("i", 3, name=name)
    v.persist()
    del v
    assert shmkit.Value.open(name, "i").value == 3
    shmkit.unlink(name)
    with pytest.raises(FileNotFoundError):
        shmkit.Value.open(name, "i")


def test_structure_value():
    v = shmkit.Value(Point, 1.0, 2.0)
    assert (v.value.x, v.value.y) == (1.0, 2.0)
    v.value.x = 5.0  # the ctypes object is the shared memory
    assert v.value.x == 5.0
    v.value = Point(7.0, 8.0)
    w = shmkit.Value.open(v.name, Point)
    assert (w.value.x, w.value.y) == (7.0, 8.0)


def test_structure_layout_must_agree():
    class Other(ctypes.Structure):
        _fields_ = [("x", ctypes.c_double), ("z", ctypes.c_double)]

    Other.__name__ = "Point"
    v = shmkit.Value(Point)
    with pytest.raises(shmkit.WrongTypeError, match="z|y"):
        shmkit.Value.open(v.name, Other)


def test_array_typecodes_and_slicing():
    arr = shmkit.Array("i", range(10))
    assert len(arr) == 10
    assert arr[:] == list(range(10))
    assert arr[-1] == 9
    assert arr[2:5] == [2, 3, 4]
    assert arr[::3] == [0, 3, 6, 9]
    arr[2:5] = [20, 30, 40]
    assert arr[:5] == [0, 1, 20, 30, 40]
    arr[-1] = 99
    assert list(arr)[-1] == 99
    with pytest.raises(IndexError):
        arr[10]
    with pytest.raises(ValueError):
        arr[0:2] = [1]
    z = shmkit.Array("d", 4)
    assert z[:] == [0.0] * 4


def test_array_lock_and_get_obj():
    arr = shmkit.Array("d", [1.0, 2.0])
    with arr.get_lock():
        arr[0] += 1
    obj = arr.get_obj()
    obj[1] = 5.0
    assert arr[:] == [2.0, 5.0]
    raw = shmkit.RawArray("i", 3)
    raw[1] = 4
    assert list(raw) == [0, 4, 0]
    with pytest.raises(AttributeError):
        raw.get_lock()


def test_char_array_value():
    arr = shmkit.Array("c", 8)
    arr.value = b"hello"
    assert arr.value == b"hello"
    assert arr.raw[:6] == b"hello\0"


def test_array_buffer_zero_copy():
    np = pytest.importorskip("numpy")
    arr = shmkit.Array("i", [1, 2, 3])
    m = memoryview(arr)
    assert m.format == "i" and m.tolist() == [1, 2, 3]
    a = np.frombuffer(arr, dtype=np.int32)
    a[1] = 50  # writes the shared memory itself
    assert arr[1] == 50
    other = shmkit.RawArray.open(arr.name, "i")
    assert np.frombuffer(other, dtype=np.int32).tolist() == [1, 50, 3]


def test_structure_array():
    arr = shmkit.Array(Point, [(1, 2), (3, 4)])
    assert arr[1].x == 3.0
    arr[0] = Point(9, 9)
    assert shmkit.Array.open(arr.name, Point)[0].y == 9.0


def test_wchar_typecode_as_multiprocessing():
    """'u' is wchar_t (4 bytes on Linux): a 1-character str, a Rust u32 code point."""
    v = shmkit.Value("u")
    assert v.value == "\0" and v.elem_size == 4
    v.value = "\u00e9"
    assert shmkit.Value.open(v.name, "u").value == "\u00e9"
    assert shmkit.Value.open(v.name, "I").value == 0xE9, "the code point, as a u32"
    for bad, err in [("ab", TypeError), ("", TypeError), (5, TypeError), (b"a", TypeError)]:
        with pytest.raises(err):
            v.value = bad
        with pytest.raises(err):
            shmkit.Value("u", bad)
    assert v.value == "\u00e9", "a refused value changes nothing"

    a = shmkit.Array("u", "hello")
    assert len(a) == 5 and a[1] == "e" and a[-1] == "o"
    assert a[:] == "hello" and a[1:3] == "el", "a slice is a str"
    assert list(a) == list("hello")
    a[0] = "j"
    a[1:3] = "EL"
    assert a[:] == "jELlo"
    with pytest.raises(TypeError):
        a[0] = "xy"
    assert a.value == "jELlo"
    a.value = "hi"
    assert a[:] == "hi\0lo" and a.value == "hi"
    with pytest.raises(ValueError):
        a.value = "toolong"
    assert shmkit.Array("u", 3)[:] == "\0\0\0"
    assert shmkit.RawArray("u", "abc").value == "abc"
    assert memoryview(a).format == "I" and memoryview(a).tolist()[:2] == [ord("h"), ord("i")]
    assert a.get_obj().value == "hi", "get_obj() is a c_wchar array over the shared memory"
    # A Rust writer may store any u32: one that is no code point is an
    # error, not a crash.
    shmkit.RawArray.open(a.name, "I")[0] = 0x110000
    with pytest.raises(ValueError, match="code point"):
        a[0]


def test_bool_type_as_multiprocessing():
    """ctypes.c_bool: True/False, stored as a u8 of 0 or 1 (a Rust u8)."""
    v = shmkit.Value(ctypes.c_bool)
    assert v.value is False and v.elem_size == 1
    v.value = 5  # truthiness, as ctypes.c_bool(5)
    assert v.value is True
    assert shmkit.Value.open(v.name, "B").value == 1
    v.value = ""
    assert v.value is False
    assert shmkit.RawValue(ctypes.c_bool, [1]).value is True
    a = shmkit.Array(ctypes.c_bool, [True, False, 3])
    assert a[:] == [True, False, True]
    a[1:] = [1, 0]
    assert list(shmkit.RawArray.open(a.name, "B")) == [1, 1, 0]
    assert shmkit.Array.open(a.name, "?")[:] == [True, True, False], "'?' is c_bool's typecode"
    np = pytest.importorskip("numpy")
    flags = shmkit.Array(np.dtype(bool), 4)
    np.frombuffer(flags, dtype=bool)[2] = True
    assert flags[:] == [False, False, True, False]


class Flagged(ctypes.Structure):
    _fields_ = [("ok", ctypes.c_bool), ("ch", ctypes.c_wchar), ("n", ctypes.c_int)]


def test_structure_with_bool_and_wchar_fields():
    v = shmkit.Value(Flagged, True, "z", 3)
    assert (v.value.ok, v.value.ch, v.value.n) == (True, "z", 3)
    again = shmkit.Value.open(v.name, Flagged).value
    assert (again.ok, again.ch, again.n) == (True, "z", 3)

    class Renamed(ctypes.Structure):
        _fields_ = [("ok", ctypes.c_uint8), ("ch", ctypes.c_uint32), ("n", ctypes.c_int)]
        _shm_name_ = "Flagged"

    assert shmkit.Value.open(v.name, Renamed).value.ch == ord("z"), "the same layout as u8 and u32 fields"
    arr = shmkit.Array(Flagged, [(False, "a", 1), (True, "b", 2)])
    assert arr[1].ch == "b" and arr[0].ok is False


def test_typed_queue_of_wchar_and_bool():
    q = shmkit.Queue(4, item_type="u")
    q.put("\u00e9")
    assert q.get(timeout=10) == "\u00e9"
    with pytest.raises(TypeError):
        q.put("ab")
    b = shmkit.Queue(4, item_type=ctypes.c_bool)
    b.put(7)
    b.put(0)
    assert [b.get(timeout=10), b.get(timeout=10)] == [True, False]


def test_unsupported_types():
    with pytest.raises(TypeError):
        shmkit.Value("z")
    with pytest.raises(TypeError):
        shmkit.Value(ctypes.c_char_p)

    class Bits(ctypes.Structure):
        _fields_ = [("a", ctypes.c_int, 3)]

    with pytest.raises(TypeError):
        shmkit.Value(Bits)


def test_pickle_keeps_the_lock_choice():
    lock = shmkit.RLock()
    v = shmkit.Value("i", 1, lock=lock)
    v2 = pickle.loads(pickle.dumps(v))
    assert v2.get_lock().name == lock.name
    a = shmkit.Array("i", 2, lock=False)
    with pytest.raises(AttributeError):
        pickle.loads(pickle.dumps(a)).get_lock()


def test_pickle_by_name():
    v = shmkit.Value("d", 2.5)
    arr = shmkit.RawArray("h", [1, 2])
    v2 = pickle.loads(pickle.dumps(v))
    a2 = pickle.loads(pickle.dumps(arr))
    assert v2.name == v.name and v2.value == 2.5
    assert isinstance(a2, shmkit.RawArray) and a2[:] == [1, 2]


def test_shared_memory_block(name):
    m = shmkit.SharedMemory(name, create=True, size=1000)
    assert m.size >= 1000
    m.buf[:5] = b"hello"
    other = shmkit.SharedMemory(name)
    assert bytes(other.buf[:5]) == b"hello"
    other.close()
    del other
    assert bytes(shmkit.SharedMemory.open(name).buf[:5]) == b"hello"
    with pytest.raises(FileExistsError):
        shmkit.SharedMemory(name, create=True, size=10)
    np = pytest.importorskip("numpy")
    a = np.frombuffer(m.buf, dtype=np.uint8)
    assert a[0] == ord("h")
    anon = shmkit.SharedMemory(create=True, size=64)
    assert pickle.loads(pickle.dumps(anon)).name == anon.name
