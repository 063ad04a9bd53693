"""Independent processes (subprocess: attach by name) and multiprocessing
children (fork and spawn; Process and Pool), with exact totals."""

import json
import multiprocessing as mp
import sys

import pytest

import shmkit

from conftest import popen_py, run_py

sys.path.insert(0, __import__("os").path.dirname(__file__))
import _workers  # noqa: E402

METHODS = ["fork", "spawn", "forkserver"]


def test_independent_processes_count_exactly(name):
    v = shmkit.Value("q", 0, name=name)
    code = """
        import sys, shmkit
        v = shmkit.Value.open(sys.argv[1], "q")
        for _ in range(int(sys.argv[2])):
            with v.get_lock():
                v.value += 1
    """
    procs = [popen_py(code, name, 2000) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert v.value == 8000


def test_independent_array_and_lock(name):
    arr = shmkit.Array("d", 100, name=name)
    lock = shmkit.Lock(name=name + ".lock")
    run_py("""
        import sys, shmkit
        a = shmkit.Array.open(sys.argv[1], "d")
        l = shmkit.Lock.open(sys.argv[1] + ".lock")
        with l:
            for i in range(len(a)):
                a[i] = i / 2
    """, name)
    assert arr[:] == [i / 2 for i in range(100)]
    assert lock.acquire(timeout=5)
    lock.release()


def test_independent_queue_every_message_once(name):
    q = shmkit.Queue(64, name=name)
    producer = """
        import sys, shmkit
        q = shmkit.Queue.open(sys.argv[1])
        p, n = int(sys.argv[2]), int(sys.argv[3])
        for i in range(n):
            q.put((p, i))
    """
    consumer = """
        import sys, json, shmkit
        q = shmkit.Queue.open(sys.argv[1])
        got = []
        while True:
            item = q.get(timeout=60)
            if item is None:
                break
            got.append(item)
        print(json.dumps(got))
    """
    n_prod, n_each, n_cons = 3, 1000, 2
    cons = [popen_py(consumer, name) for _ in range(n_cons)]
    prods = [popen_py(producer, name, p, n_each) for p in range(n_prod)]
    for p in prods:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for _ in cons:
        q.put(None)
    got = []
    for c in cons:
        out, err = c.communicate(timeout=120)
        assert c.returncode == 0, err
        got.extend(tuple(x) for x in json.loads(out))
    assert sorted(got) == [(p, i) for p in range(n_prod) for i in range(n_each)]


def test_independent_pipe(name):
    a, _ = shmkit.Pipe(name=name)
    child = popen_py("""
        import sys, shmkit
        c = shmkit.Connection.open(sys.argv[1])
        for _ in range(100):
            c.send(c.recv() * 2)
    """, name)
    for i in range(100):
        a.send(i)
        assert a.recv() == 2 * i
    child.communicate(timeout=60)
    assert child.returncode == 0
    with pytest.raises(EOFError):
        a.recv()  # the child exited: its end is gone


def test_independent_sync_objects(name):
    ev = shmkit.Event(name=name + ".ev")
    sem = shmkit.Semaphore(0, name=name + ".sem")
    child = popen_py("""
        import sys, shmkit
        ev = shmkit.Event.open(sys.argv[1] + ".ev")
        sem = shmkit.Semaphore.open(sys.argv[1] + ".sem")
        assert ev.wait(60)
        sem.release()
    """, name)
    ev.set()
    assert sem.acquire(timeout=60)
    child.communicate(timeout=60)
    assert child.returncode == 0


@pytest.mark.parametrize("method", METHODS)
def test_process_children(method):
    ctx = mp.get_context(method)
    counter = shmkit.Value("i", 0)
    arr = shmkit.Array("i", 40)
    procs = [ctx.Process(target=_workers.add_under_lock, args=(counter, 300)) for _ in range(3)]
    procs += [ctx.Process(target=_workers.fill_array, args=(arr, k * 10, k * 10 + 10)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert counter.value == 900
    assert arr[:] == [i * i for i in range(40)]


@pytest.mark.parametrize("method", METHODS)
def test_process_queue_pipe_event(method):
    ctx = mp.get_context(method)
    q = shmkit.Queue()
    producers = [ctx.Process(target=_workers.produce, args=(q, p, 200)) for p in range(3)]
    for p in producers:
        p.start()
    got = [q.get(timeout=60) for _ in range(600)]
    for p in producers:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(got) == [(p, i) for p in range(3) for i in range(200)]
    for p in range(3):
        assert [i for (pp, i) in got if pp == p] == list(range(200))  # FIFO per producer

    parent, child = shmkit.Pipe()
    p = ctx.Process(target=_workers.echo_conn, args=(child, 5))
    p.start()
    child.close()  # the parent's copy: the idiom of multiprocessing
    for i in range(5):
        parent.send({"i": i})
        assert parent.recv() == {"i": i}
    p.join(60)
    assert p.exitcode == 0

    e1, e2 = shmkit.Event(), shmkit.Event()
    p = ctx.Process(target=_workers.event_then_set, args=(e1, e2))
    p.start()
    e1.set()
    assert e2.wait(60)
    p.join(60)
    assert p.exitcode == 0


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_lock_and_barrier_children(method):
    ctx = mp.get_context(method)
    lock = shmkit.Lock()
    shared = shmkit.Value("i", 0, lock=False)
    procs = [ctx.Process(target=_workers.lock_and_count, args=(lock, shared, 500)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert shared.value == 1500

    barrier = shmkit.Barrier(3)
    out = shmkit.Queue()
    procs = [ctx.Process(target=_workers.barrier_party, args=(barrier, out, i)) for i in range(3)]
    for p in procs:
        p.start()
    assert sorted(out.get(timeout=60) for _ in range(3)) == [0, 1, 2]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_use_queue_and_array(method):
    ctx = mp.get_context(method)
    q = shmkit.Queue()
    arr = shmkit.Array("q", 32)
    with ctx.Pool(2) as pool:
        res = pool.map(_workers.square_into, [(q, arr, i) for i in range(32)])
    assert res == list(range(32))
    assert arr[:] == [i * i for i in range(32)]
    got = sorted(q.get(timeout=30)[1] for _ in range(32))
    assert got == list(range(32))


def test_independent_condition(name):
    cond = shmkit.Condition(name=name)
    state = shmkit.Value("i", 0, lock=False, name=name + ".state")
    child = popen_py("""
        import sys, shmkit
        cond = shmkit.Condition.open(sys.argv[1])
        state = shmkit.Value.open(sys.argv[1] + ".state", "i", lock=False)
        with cond:
            state.value = 1
            cond.notify_all()
            assert cond.wait_for(lambda: state.value == 2, timeout=60)
            state.value = 3
            cond.notify_all()
    """, name)
    with cond:
        assert cond.wait_for(lambda: state.value == 1, timeout=60)
        state.value = 2
        cond.notify_all()
        assert cond.wait_for(lambda: state.value == 3, timeout=60)
    child.communicate(timeout=60)
    assert child.returncode == 0
