"""Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier: the
semantics CPython's test_multiprocessing checks, within one process (threads)."""

import pickle
import threading
import time

import pytest

import shmkit


def start(fn, *args):
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


def test_lock():
    lock = shmkit.Lock()
    assert lock.acquire()
    assert not lock.acquire(False)
    assert not lock.acquire(timeout=0.05)
    assert lock.locked()
    lock.release()
    assert not lock.locked()
    with pytest.raises(ValueError):
        lock.release()
    with lock:
        assert lock.locked()
    assert not lock.owner_died


def test_lock_released_by_another_thread():
    lock = shmkit.Lock()
    lock.acquire()
    t = start(lock.release)
    t.join(10)
    assert lock.acquire(timeout=5)
    lock.release()


def test_lock_blocks_other_thread():
    lock = shmkit.Lock()
    lock.acquire()
    got = []
    t = start(lambda: got.append(lock.acquire(timeout=10)))
    time.sleep(0.1)
    assert got == []
    lock.release()
    t.join(10)
    assert got == [True]
    lock.release()


def test_rlock():
    lock = shmkit.RLock()
    assert lock.acquire()
    assert lock.acquire()
    assert lock.acquire(False)
    lock.release()
    lock.release()
    lock.release()
    with pytest.raises((AssertionError, RuntimeError)):
        lock.release()
    lock.acquire()
    got = []
    t = start(lambda: got.append(lock.acquire(timeout=0.1)))
    t.join(10)
    assert got == [False]
    lock.release()


def test_lock_open_and_pickle(name):
    lock = shmkit.Lock(name=name)
    other = shmkit.Lock.open(name)
    assert other.acquire(timeout=1)
    assert not lock.acquire(timeout=0.05)
    other.release()
    copy = pickle.loads(pickle.dumps(lock))
    assert copy.name == name
    with pytest.raises(shmkit.WrongTypeError):
        shmkit.Semaphore.open(name)


def test_semaphore():
    sem = shmkit.Semaphore(2)
    assert sem.get_value() == 2
    assert sem.acquire()
    assert sem.acquire()
    assert sem.get_value() == 0
    assert not sem.acquire(False)
    assert not sem.acquire(timeout=0.05)
    sem.release()
    assert sem.get_value() == 1
    sem.release()
    sem.release()  # an unbounded semaphore may go past its start
    assert sem.get_value() == 3
    with sem:
        assert sem.get_value() == 2


def test_semaphore_timeout_elapsed():
    sem = shmkit.Semaphore(0)
    t0 = time.monotonic()
    assert not sem.acquire(timeout=0.2)
    assert time.monotonic() - t0 >= 0.18


def test_bounded_semaphore():
    sem = shmkit.BoundedSemaphore(2)
    sem.acquire()
    sem.release()
    with pytest.raises(ValueError):
        sem.release()
    assert sem.get_value() == 2


def test_semaphore_wakes_waiter():
    sem = shmkit.Semaphore(0)
    got = []
    t = start(lambda: got.append(sem.acquire(timeout=10)))
    time.sleep(0.05)
    sem.release()
    t.join(10)
    assert got == [True]


def test_event():
    e = shmkit.Event()
    assert not e.is_set()
    assert e.wait(0.01) is False
    e.set()
    assert e.is_set()
    assert e.wait() is True
    assert e.wait(0) is True
    e.clear()
    assert not e.is_set()
    got = []
    t = start(lambda: got.append(e.wait(10)))
    time.sleep(0.05)
    e.set()
    t.join(10)
    assert got == [True]
    assert shmkit.Event.open(e.name).is_set()


@pytest.mark.parametrize("lock_cls", [None, shmkit.Lock, shmkit.RLock])
def test_condition_notify(lock_cls):
    cond = shmkit.Condition(lock_cls() if lock_cls else None)
    woken = []
    ready = threading.Semaphore(0)

    def waiter():
        with cond:
            ready.release()
            woken.append(cond.wait(10))

    threads = [start(waiter) for _ in range(3)]
    for _ in threads:
        ready.acquire()
    time.sleep(0.05)
    with cond:
        cond.notify()
    deadline = time.monotonic() + 10
    while len(woken) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert woken == [True]
    with cond:
        cond.notify_all()
    for t in threads:
        t.join(10)
    assert woken == [True] * 3


def test_condition_wait_timeout_and_unowned():
    cond = shmkit.Condition()
    with pytest.raises(RuntimeError):
        cond.wait(0.01)
    with pytest.raises(RuntimeError):
        cond.notify()
    with cond:
        t0 = time.monotonic()
        assert cond.wait(0.1) is False
        assert time.monotonic() - t0 >= 0.09


def test_condition_wait_for():
    cond = shmkit.Condition()
    state = shmkit.Value("i", 0, lock=False)
    with cond:
        assert not cond.wait_for(lambda: state.value == 4, timeout=0.1)

    def bump():
        for _ in range(4):
            time.sleep(0.01)
            with cond:
                state.value += 1
                cond.notify_all()

    t = start(bump)
    with cond:
        assert cond.wait_for(lambda: state.value == 4, timeout=10)
    t.join(10)


def test_condition_rlock_recursion_restored():
    cond = shmkit.Condition(shmkit.RLock())
    with cond:
        with cond:
            assert cond.wait(0.01) is False
        # still held once
        assert cond._lock._is_owned()
    assert not cond._lock._is_owned()


def test_barrier():
    b = shmkit.Barrier(3)
    results = []
    threads = [start(lambda: results.append(b.wait(10))) for _ in range(3)]
    for t in threads:
        t.join(10)
    assert sorted(results)[0] == 0 and len(results) == 3
    assert results.count(0) == 1
    assert b.parties == 3 and b.n_waiting == 0 and not b.broken


def test_barrier_action():
    calls = []
    b = shmkit.Barrier(2, action=lambda: calls.append(1))
    seen = []

    def party():
        b.wait(10)
        seen.append(len(calls))

    threads = [start(party) for _ in range(2)]
    for t in threads:
        t.join(10)
    assert calls == [1]
    assert seen == [1, 1]  # nobody went on before the action ran


def test_barrier_timeout_breaks():
    b = shmkit.Barrier(2)
    with pytest.raises(shmkit.BrokenBarrierError):
        b.wait(0.05)
    assert b.broken
    with pytest.raises(shmkit.BrokenBarrierError):
        b.wait(1)
    b.reset()
    assert not b.broken


def test_barrier_abort_and_reset():
    b = shmkit.Barrier(3)
    errors = []

    def party():
        try:
            b.wait(10)
        except shmkit.BrokenBarrierError:
            errors.append(1)

    t = start(party)
    time.sleep(0.05)
    b.abort()
    t.join(10)
    assert errors == [1]
    assert b.broken
    b.reset()
    assert not b.broken
    threads = [start(party) for _ in range(3)]
    for t in threads:
        t.join(10)
    assert errors == [1]


def test_barrier_default_timeout():
    b = shmkit.Barrier(2, timeout=0.05)
    with pytest.raises(shmkit.BrokenBarrierError):
        b.wait()
