"""Queue, SimpleQueue, JoinableQueue: FIFO, Full/Empty, timeouts, task_done/join,
many producers and consumers (threads here; processes in test_processes)."""

import ctypes
import pickle
import queue
import threading
import time

import pytest

import shmkit


def test_fifo_and_sizes():
    q = shmkit.Queue()
    assert q.empty() and q.qsize() == 0 and not q.full()
    for i in range(10):
        q.put(i)
    assert q.qsize() == 10 and not q.empty()
    assert [q.get() for _ in range(10)] == list(range(10))
    assert q.empty()


def test_objects_round_trip():
    q = shmkit.Queue()
    items = [None, 1, "two", b"three", [4, {"five": (6,)}], 7.5, ValueError("x")]
    for it in items:
        q.put(it)
    got = [q.get() for _ in items]
    assert got[:-1] == items[:-1]
    assert isinstance(got[-1], ValueError)


def test_full_and_empty():
    q = shmkit.Queue(4)
    assert q.maxsize == 4
    for i in range(4):
        q.put_nowait(i)
    assert q.full()
    with pytest.raises(queue.Full):
        q.put_nowait(4)
    with pytest.raises(queue.Full):
        q.put(4, False)
    t0 = time.monotonic()
    with pytest.raises(queue.Full):
        q.put(4, True, 0.2)
    assert time.monotonic() - t0 >= 0.18
    for i in range(4):
        assert q.get_nowait() == i
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(False)
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    assert time.monotonic() - t0 >= 0.18


def test_maxsize_rounds_up_to_power_of_two():
    assert shmkit.Queue(3).maxsize == 4
    assert shmkit.Queue(0).maxsize == 1024


def test_too_large_names_the_parameter():
    q = shmkit.Queue(max_message_size=100)
    with pytest.raises(ValueError, match="max_message_size"):
        q.put(b"x" * 1000)
    q.put(b"x" * 50)
    with pytest.raises(ValueError, match="max_message_size"):
        q.put_bytes(b"x" * 101)


def test_bytes_skip_pickle():
    q = shmkit.Queue()
    q.put_bytes(b"raw")
    q.put_bytes(memoryview(b"view"))
    assert q.get_bytes() == b"raw"
    assert q.get_bytes() == b"view"


def test_get_bytes_with_reads_in_place():
    np = pytest.importorskip("numpy")
    q = shmkit.Queue(max_message_size=4096)
    q.put_bytes(np.arange(100, dtype=np.int32).tobytes())
    total = q.get_bytes_with(lambda view: int(np.frombuffer(view, dtype=np.int32).sum()))
    assert total == sum(range(100))
    q.put_bytes(b"abc")
    with pytest.raises(TypeError):
        q.get_bytes_with(lambda view: view.__setitem__(0, 1))  # read-only
    assert q.empty()  # consumed although the callback raised
    with pytest.raises(queue.Empty):
        q.get_bytes_with(bytes, timeout=0.01)
    q.put_bytes(b"xyz")
    assert q.get_bytes_with(bytes) == b"xyz"
    t = shmkit.Queue(2, item_type="i")
    with pytest.raises(TypeError):
        t.get_bytes_with(bytes, block=False)


def test_blocking_get_wakes():
    q = shmkit.Queue()
    got = []
    t = threading.Thread(target=lambda: got.append(q.get(timeout=10)), daemon=True)
    t.start()
    time.sleep(0.05)
    q.put("late")
    t.join(10)
    assert got == ["late"]


def test_blocking_get_of_short_and_long_messages():
    # A get that waits: a message longer than 16 KiB is copied into its
    # bytes object as it lies in the queue, a shorter one through a buffer.
    sizes = [0, 8, 16 * 1024 - 1, 16 * 1024, 65536]
    q = shmkit.Queue(4, max_message_size=65536)
    msgs = [bytes((i * 7 + n) % 251 for i in range(n)) for n in sizes]

    def produce():
        for m in msgs:
            time.sleep(0.02)  # the consumer is waiting by then
            q.put_bytes(m)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        got = [q.get_bytes(timeout=10) for _ in msgs]
        t.join(10)
        assert got == msgs
        with pytest.raises(queue.Empty):
            q.get_bytes(timeout=0.05)
    finally:
        q.close()


def test_many_producers_and_consumers_threads():
    q = shmkit.Queue(64)
    n_prod, n_each = 4, 500
    got = []
    lock = threading.Lock()

    def produce(p):
        for i in range(n_each):
            q.put((p, i))

    def consume():
        while True:
            item = q.get(timeout=10)
            if item is None:
                return
            with lock:
                got.append(item)

    consumers = [threading.Thread(target=consume, daemon=True) for _ in range(3)]
    producers = [threading.Thread(target=produce, args=(p,), daemon=True) for p in range(n_prod)]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join(30)
    for _ in consumers:
        q.put(None)
    for t in consumers:
        t.join(30)
    assert sorted(got) == [(p, i) for p in range(n_prod) for i in range(n_each)]
    # FIFO per producer, as seen by all consumers together
    for p in range(n_prod):
        seq = [i for (pp, i) in got if pp == p]
        assert len(seq) == n_each


def test_disconnected_when_senders_gone():
    owner = shmkit.Queue()
    with pytest.raises(queue.Empty) as e:
        owner.get(timeout=0.05)  # the creator holds a sender: just empty
    assert not isinstance(e.value, shmkit.Disconnected)
    owner.close()
    consumer = shmkit.Queue.open(owner.name)
    with pytest.raises(queue.Empty) as e:
        consumer.get(timeout=0.05)  # no sender now, but none came yet: just empty
    q = shmkit.Queue.open(owner.name)
    q.put(1)
    q.close()
    assert consumer.get(timeout=1) == 1
    with pytest.raises(shmkit.Disconnected):
        consumer.get()  # would hang in multiprocessing
    with pytest.raises(EOFError):
        consumer.get(timeout=5)
    with pytest.raises(ValueError):
        q.put(2)  # closed here
    consumer.close()
    with pytest.raises(shmkit.Disconnected):
        shmkit.Queue.open(owner.name).put(3)  # every receiver is gone


def test_joinable_queue():
    q = shmkit.JoinableQueue()
    for i in range(3):
        q.put(i)
    assert q.join(0.05) is False
    done = []

    def worker():
        for _ in range(3):
            q.get(timeout=10)
            time.sleep(0.01)
            done.append(1)
            q.task_done()

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    assert q.join(10) is True
    assert len(done) == 3
    t.join(10)
    with pytest.raises(ValueError):
        q.task_done()


def test_joinable_open_checks():
    q = shmkit.Queue()
    with pytest.raises(ValueError):
        shmkit.JoinableQueue.open(q.name)
    j = shmkit.JoinableQueue()
    assert isinstance(shmkit.JoinableQueue.open(j.name), shmkit.JoinableQueue)


def test_simple_queue():
    q = shmkit.SimpleQueue()
    assert q.empty()
    q.put([1])
    assert not q.empty()
    assert q.get() == [1]
    q.close()


def test_noops_and_pickle(name):
    q = shmkit.Queue(name=name)
    q.join_thread()
    q.cancel_join_thread()
    q2 = pickle.loads(pickle.dumps(q))
    q.put("x")
    assert q2.get(timeout=1) == "x"
    with pytest.raises(FileExistsError):
        shmkit.Queue(name=name)
    assert shmkit.Queue.open_or_create(name).name == name


class Job(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("weight", ctypes.c_float), ("flags", ctypes.c_uint32)]


def test_typed_queue():
    q = shmkit.Queue(8, item_type=Job)
    q.put(Job(1, 0.5, 3))
    q.put((2, 1.5, 4))
    a, b = q.get(), q.get()
    assert (a.id, a.weight, a.flags) == (1, 0.5, 3)
    assert (b.id, b.flags) == (2, 4)
    assert q.max_message_size == ctypes.sizeof(Job)
    with pytest.raises(shmkit.WrongTypeError):
        shmkit.Queue.open(q.name, item_type="d")
    with pytest.raises(shmkit.WrongTypeError):
        shmkit.Queue.open(q.name)  # a typed queue is not a message queue
    n = shmkit.Queue(4, item_type="i")
    n.put(-7)
    assert n.get() == -7
