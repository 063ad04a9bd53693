"""shmkit.wait, as multiprocessing.connection.wait: the ready objects among
queues, pipe ends, subscribers, events and semaphores, nothing consumed;
woken by other threads and processes."""

import queue
import threading
import time

import pytest

import shmkit

from conftest import popen_py


def test_nothing_ready_times_out_with_an_empty_list():
    q = shmkit.Queue(4)
    a, b = shmkit.Pipe()
    ev = shmkit.Event()
    sem = shmkit.Semaphore(0)
    sub = shmkit.Broadcast(8).subscribe()
    t0 = time.monotonic()
    assert shmkit.wait([q, a, ev, sem, sub], timeout=0.05) == []
    assert time.monotonic() - t0 >= 0.04, "it waited the timeout"
    assert shmkit.wait([q, a, ev, sem, sub], timeout=0) == []


def test_it_returns_every_ready_object_in_order_and_consumes_nothing():
    q = shmkit.Queue(4)
    a, b = shmkit.Pipe()
    ev = shmkit.Event()
    sem = shmkit.BoundedSemaphore(1)
    sem.acquire()
    bc = shmkit.Broadcast(8)
    sub = bc.subscribe()
    pub = bc.publisher()
    objs = [q, a, ev, sem, sub]

    q.put("job")
    assert shmkit.wait(objs, 10) == [q]
    b.send("msg")
    ev.set()
    assert shmkit.wait(objs, 10) == [q, a, ev]
    sem.release()
    pub.publish("news")
    assert shmkit.wait(objs, 10) == objs
    assert shmkit.wait(objs) == objs, "no timeout: returns at once when something is ready"
    # Nothing was taken by the waits.
    assert q.get(timeout=1) == "job"
    assert a.recv() == "msg"
    assert sem.acquire(False)
    assert sub.get(timeout=1) == "news"
    assert shmkit.wait(objs, 0) == [ev]
    # The same object twice is reported twice (and does not deadlock).
    assert shmkit.wait([ev, q, ev], 0) == [ev, ev]


def test_typed_and_joinable_queues_and_one_way_pipes():
    tq = shmkit.Queue(4, item_type="i")
    jq = shmkit.JoinableQueue()
    r, w = shmkit.Pipe(duplex=False)
    assert shmkit.wait([tq, jq, r], 0) == []
    tq.put(7)
    w.send(1)
    assert shmkit.wait([tq, jq, r], 10) == [tq, r]
    jq.put(2)
    assert shmkit.wait([jq], 10) == [jq]
    assert (tq.get(), jq.get(), r.recv()) == (7, 2, 1)
    with pytest.raises(OSError):
        shmkit.wait([w], 0)


def test_a_thread_wakes_it():
    q = shmkit.Queue(4)
    ev = shmkit.Event()

    def later():
        time.sleep(0.1)
        ev.set()

    t = threading.Thread(target=later)
    t.start()
    assert shmkit.wait([q, ev], 30) == [ev]
    t.join()


def test_another_process_wakes_it_by_name(name):
    q = shmkit.Queue(4, name=name + ".q")
    ev = shmkit.Event(name=name + ".ev")
    a, b = shmkit.Pipe(name=name + ".pipe")
    p = popen_py("""
        import sys, time, shmkit
        name, what = sys.argv[1], sys.argv[2]
        time.sleep(0.2)
        if what == "queue":
            shmkit.Queue.open(name + ".q").put("from afar")
        elif what == "event":
            shmkit.Event.open(name + ".ev").set()
        else:
            c = shmkit.Connection.open(name + ".pipe", 1)
            c.send("hi")
            c.close()
    """, name, "pipe")
    try:
        assert shmkit.wait([q, ev, a], 60) == [a]
        assert a.recv() == "hi"
        assert p.wait(60) == 0
        # The peer closed its end: the end of the stream is ready too.
        assert shmkit.wait([q, ev, a], 60) == [a]
        with pytest.raises(EOFError):
            a.recv()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(30)
    for what, obj in (("queue", q), ("event", ev)):
        p = popen_py("""
            import sys, time, shmkit
            name, what = sys.argv[1], sys.argv[2]
            time.sleep(0.2)
            if what == "queue":
                shmkit.Queue.open(name + ".q").put("from afar")
            else:
                shmkit.Event.open(name + ".ev").set()
        """, name, what)
        try:
            assert shmkit.wait([q, ev], 60) == [obj], what
        finally:
            assert p.wait(60) == 0
        if obj is q:
            assert q.get(timeout=1) == "from afar"


def test_a_queue_whose_senders_are_gone_is_ready(name):
    owner = shmkit.Queue(4, name=name)
    owner.close()
    consumer = shmkit.Queue.open(name)
    consumer.hold_receiver()  # or the put would find no receiver
    p = popen_py("""
        import sys, shmkit
        shmkit.Queue.open(sys.argv[1]).put("last")
    """, name)
    assert p.wait(60) == 0
    assert shmkit.wait([consumer], 30) == [consumer]
    assert consumer.get(timeout=1) == "last"
    assert shmkit.wait([consumer], 30) == [consumer], "every sender gone: a get would not block"
    with pytest.raises(shmkit.Disconnected):
        consumer.get(timeout=1)
    consumer.close()


def test_two_waits_over_the_same_ends_in_opposite_orders_both_return():
    a1, b1 = shmkit.Pipe()
    a2, b2 = shmkit.Pipe()
    results = {}

    def waiter(key, objs):
        results[key] = shmkit.wait(objs, 60)

    threads = [threading.Thread(target=waiter, args=("x", [a1, a2])),
               threading.Thread(target=waiter, args=("y", [a2, a1]))]
    for t in threads:
        t.start()
    for _ in range(20):
        time.sleep(0.01)  # let both slice through their locks for a while
    b1.send(1)
    b2.send(2)
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a wait hung"
    assert set(map(id, results["x"])) <= {id(a1), id(a2)} and results["x"]
    assert set(map(id, results["y"])) <= {id(a1), id(a2)} and results["y"]
    assert (a1.recv(), a2.recv()) == (1, 2)


def test_bad_input_is_a_clear_exception():
    with pytest.raises(TypeError, match="cannot wait on"):
        shmkit.wait([object()])
    with pytest.raises(TypeError, match="cannot wait on"):
        shmkit.wait([shmkit.Lock()], 0)
    with pytest.raises(ValueError, match="for ever"):
        shmkit.wait([])
    assert shmkit.wait([], 0.01) == []
    with pytest.raises(ValueError):
        shmkit.wait([shmkit.Event()], float("nan"))
    q = shmkit.Queue()
    q.close()
    with pytest.raises(ValueError):
        shmkit.wait([q], 0)
    a, b = shmkit.Pipe()
    a.close()
    with pytest.raises(OSError):
        shmkit.wait([a], 0)
    with pytest.raises(TypeError):
        shmkit.wait(5)
    assert shmkit.wait([shmkit.Event()], -1) == [], "a negative timeout is zero"
