"""A Python and a Rust process (crates/python/examples/py_peer.rs) share a
Value, an Array, a Value of a struct, a pipe and a byte queue; 'u' and
c_bool are a Rust u32 and u8."""

import ctypes
import subprocess

import pytest

import shmkit


class Job(ctypes.Structure):
    """The layout of FORMAT.md's example: Rust's `#[derive(ShmType)] struct Job`."""

    _fields_ = [("id", ctypes.c_uint64), ("weight", ctypes.c_float), ("flags", ctypes.c_uint32)]


def run(peer, *args, timeout=120):
    p = subprocess.run([peer, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_value_f64_both_ways(peer, name):
    v = shmkit.Value("d", 0.5, name=name)
    procs = [subprocess.Popen([peer, "value-add", name, "500"]) for _ in range(2)]
    for _ in range(500):
        with v.get_lock():
            v.value += 1.0
    for p in procs:
        assert p.wait(120) == 0
    assert v.value == 1500.5

    other = name + ".rust"
    p = subprocess.Popen([peer, "value-create", other, "2.25"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        assert shmkit.Value.open(other, "d").value == 2.25
        with pytest.raises(shmkit.WrongTypeError):
            shmkit.Value.open(other, "f")
    finally:
        p.communicate("\n", timeout=60)
    assert p.returncode == 0


def test_array_i32(peer, name):
    a = shmkit.Array("i", range(-5, 5), name=name)
    run(peer, "array-double", name)
    assert a[:] == [2 * i for i in range(-5, 5)]


def test_struct_same_fingerprint_as_derive(peer, name):
    v = shmkit.Value(Job, 9, 1.25, 5, name=name)
    assert run(peer, "job-read", name).split() == ["9", "1.25", "5"]

    other = name + ".rust"
    p = subprocess.Popen([peer, "job-create", other], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        j = shmkit.Value.open(other, Job).value
        assert (j.id, j.weight, j.flags) == (7, 0.5, 3)

        class Renamed(ctypes.Structure):
            _fields_ = [("id", ctypes.c_uint64), ("weight", ctypes.c_uint32), ("flags", ctypes.c_uint32)]
            _shm_name_ = "Job"

        with pytest.raises(shmkit.WrongTypeError, match="weight"):
            shmkit.Value.open(other, Renamed)
    finally:
        p.communicate("\n", timeout=60)
    del v


def test_pipe_bytes_both_ways(peer, name):
    a, _ = shmkit.Pipe(name=name)
    p = subprocess.Popen([peer, "pipe-echo", name, "50"])
    for i in range(50):
        msg = ("message %d" % i).encode()
        a.send_bytes(msg)
        assert a.recv_bytes() == msg[::-1]
    assert p.wait(120) == 0
    with pytest.raises(EOFError):
        a.recv_bytes()


def test_byte_queue_from_rust(peer, name):
    r, _ = shmkit.Pipe(duplex=False, name=name)
    run(peer, "bytes-send", name, "100")
    assert [r.recv_bytes() for _ in range(100)] == [b"msg-%d" % i for i in range(100)]
    with pytest.raises(EOFError):
        r.recv_bytes()


def test_queue_of_struct_both_ways(peer, name):
    q = shmkit.Queue(64, item_type=Job, name=name)
    for i in range(40):
        q.put(Job(i, 0.25, 1))
    assert run(peer, "jobs-sum", name, "40").split() == [str(sum(range(40))), "40"]
    run(peer, "jobs-send", name, "30")
    got = [q.get(timeout=30) for _ in range(30)]
    assert [(j.id, j.weight, j.flags) for j in got] == [(i, i / 2, 2 * i) for i in range(30)]


def test_typed_broadcast_from_rust(peer, name):
    """A Python subscriber of a typed Broadcast (item_type=Job) gets the
    jobs a Rust Broadcast<Job> publisher publishes, then the end."""
    b = shmkit.Broadcast(8, item_type=Job, name=name, lossless=True)
    s = b.subscribe()
    p = subprocess.Popen([peer, "jobs-publish", name, "500"], stderr=subprocess.PIPE, text=True)
    got = [s.get(timeout=30) for _ in range(500)]
    assert p.wait(120) == 0, p.stderr.read()
    assert [(j.id, j.weight, j.flags) for j in got] == [(i, i / 2, 2 * i) for i in range(500)]
    with pytest.raises(shmkit.Disconnected):
        s.get(timeout=30)
    with pytest.raises(shmkit.WrongTypeError):
        shmkit.Broadcast.open(name, item_type="q")
    assert shmkit.Broadcast.open(name, item_type=Job).max_message_size == ctypes.sizeof(Job)


def test_message_queue_bytes(peer, name):
    q = shmkit.Queue(32, name=name, max_message_size=256)
    p = subprocess.Popen([peer, "mq-echo", name, "20"])
    sent = [b"hello %d" % i for i in range(20)]
    for m in sent:
        q.put_bytes(m)
    # Our own messages may come back to us before the peer takes them; the
    # queue is shared, so collect until every message came back upper-cased.
    assert p.wait(120) == 0
    got = []
    while True:
        try:
            got.append(q.get_bytes(timeout=1))
        except Exception:
            break
    assert sorted(got) == sorted(m.upper() for m in sent)


class Point2(ctypes.Structure):
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float)]


class Sample(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint32), ("tags", ctypes.c_uint16 * 4), ("pos", Point2)]


def test_nested_struct_and_array_fingerprint(peer, name):
    v = shmkit.Value(Sample, 3, (1, 2, 3, 4), Point2(0.5, -1.0), name=name)
    assert run(peer, "sample-read", name).split() == ["3", "[1,", "2,", "3,", "4]", "0.5", "-1"]

    class Other(ctypes.Structure):
        _fields_ = [("id", ctypes.c_uint32), ("tags", ctypes.c_uint16 * 4), ("pos", ctypes.c_float * 2)]
        _shm_name_ = "Sample"

    with pytest.raises(shmkit.WrongTypeError, match="pos"):
        shmkit.Value.open(name, Other)
    del v


def test_numpy_structured_dtype_is_the_same_struct(peer, name):
    np = pytest.importorskip("numpy")
    job = np.dtype([("id", "<u8"), ("weight", "<f4"), ("flags", "<u4")], align=True, metadata={"shm_name": "Job"})
    v = shmkit.Value(job, name=name)
    v.value.id, v.value.weight, v.value.flags = 11, 2.5, 6
    assert run(peer, "job-read", name).split() == ["11", "2.5", "6"]
    same = shmkit.Value.open(name, Job)  # the ctypes description of the same layout
    assert same.value.id == 11
    arr = shmkit.Array(job, 4)
    view = np.frombuffer(arr, dtype=job)  # a structured array over the shared memory
    view["id"] = [1, 2, 3, 4]
    assert [arr[i].id for i in range(4)] == [1, 2, 3, 4]


def test_wchar_and_bool_arrays_are_rust_u32_and_u8(peer, name):
    text = shmkit.Array("u", "h\u00e9llo \U0001f600", name=name)
    assert run(peer, "chars-upper", name).strip() == "H\u00c9LLO \U0001f600"
    assert text[:] == "H\u00c9LLO \U0001f600"

    flags = shmkit.Array(ctypes.c_bool, [True, False, False], name=name + ".flags")
    assert run(peer, "flags-not", flags.name).strip() == "[0, 1, 1]"
    assert flags[:] == [False, True, True]


def test_struct_with_bool_and_wchar_fields(peer, name):
    class Flagged(ctypes.Structure):
        _fields_ = [("ok", ctypes.c_bool), ("more", ctypes.c_bool * 3), ("ch", ctypes.c_wchar), ("n", ctypes.c_int)]

    v = shmkit.Value(Flagged, True, (False, True, False), "\u00e9", -4, name=name)
    assert run(peer, "flagged-read", name).split() == ["1", "[0,", "1,", "0]", "\u00e9", "-4"]
    del v
