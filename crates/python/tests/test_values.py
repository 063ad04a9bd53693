"""Value, Array, RawValue, RawArray: what CPython's test_multiprocessing checks
(typecodes, slicing, the lock, get_obj), plus names, types and buffers."""

import ctypes
import pickle

import pytest

import shmkit


class Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double)]


CODES = [("i", 11, -3), ("d", 3.25, -1.5), ("h", -5, 7), ("q", 2**40, -(2**40)), ("c", b"x", b"y"),
         ("B", 200, 1), ("f", 0.5, 2.0), ("Q", 2**63, 5), ("L", 9, 10)]


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


def test_unsupported_types():
    with pytest.raises(TypeError):
        shmkit.Value("u")

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
