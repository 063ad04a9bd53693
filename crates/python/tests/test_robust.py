"""Robustness: a holder SIGKILLed with a lock held, producers that die, a
peer that dies, a party that dies; Ctrl-C interrupts every wait."""

import os
import pickle
import queue
import signal
import threading
import time
import zlib

import pytest

import shmkit

from conftest import popen_py


def wait_line(p, expect):
    line = p.stdout.readline()
    assert line.strip() == expect, (line, p.stderr.read() if p.poll() is not None else "")


def kill(p):
    p.send_signal(signal.SIGKILL)
    p.wait(30)


def test_killed_lock_holder_is_reported(name):
    lock = shmkit.Lock(name=name)
    p = popen_py("""
        import sys, time, shmkit
        lock = shmkit.Lock.open(sys.argv[1])
        lock.acquire()
        print("held", flush=True)
        time.sleep(600)
    """, name)
    wait_line(p, "held")
    assert not lock.acquire(timeout=0.05)
    kill(p)
    with pytest.warns(shmkit.OwnerDiedWarning):
        assert lock.acquire(timeout=30)
    assert lock.owner_died
    lock.release()
    assert lock.acquire(timeout=5)  # works as before, nothing more to report
    assert not lock.owner_died
    lock.release()


def test_killed_rlock_and_value_holders(name):
    v = shmkit.Value("i", 0, name=name)
    r = shmkit.RLock(name=name + ".r")
    p = popen_py("""
        import sys, time, shmkit
        v = shmkit.Value.open(sys.argv[1], "i")
        r = shmkit.RLock.open(sys.argv[1] + ".r")
        r.acquire(); r.acquire()
        v.get_lock().acquire()
        v.value = 41  # half of an update
        print("held", flush=True)
        time.sleep(600)
    """, name)
    wait_line(p, "held")
    kill(p)
    with pytest.warns(shmkit.OwnerDiedWarning):
        with v.get_lock():
            assert v.get_lock().owner_died
            v.value += 1  # repair
    assert v.value == 42
    with pytest.warns(shmkit.OwnerDiedWarning):
        assert r.acquire(timeout=30)
    r.release()


def test_open_does_not_wait_for_a_holder(name):
    v = shmkit.Value("i", 7, name=name)
    with v.get_lock():
        p = popen_py("""
            import sys, shmkit
            v = shmkit.Value.open(sys.argv[1], "i")  # the lock is held: opening does not wait
            print("opened", flush=True)
            print(v.value, flush=True)                # this waits for the lock
        """, name)
        wait_line(p, "opened")
        time.sleep(0.1)
        assert p.poll() is None  # still waiting for the value
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out.strip() == "7"


def test_consumer_of_dead_producers_is_told(name):
    owner = shmkit.Queue(name=name)
    owner.close()  # the creator lets its ends go; the name stays while it lives
    q = shmkit.Queue.open(name)
    q.hold_receiver()  # else the producer's put finds every receiver gone
    p = popen_py("""
        import os, signal, sys, shmkit
        q = shmkit.Queue.open(sys.argv[1])
        for i in range(3):
            q.put(i)
        os.kill(os.getpid(), signal.SIGKILL)
    """, name)
    p.wait(60)
    assert p.returncode == -signal.SIGKILL
    assert [q.get(timeout=30) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(shmkit.Disconnected):
        q.get()  # no timeout: would hang for ever in multiprocessing
    with pytest.raises(EOFError):
        q.get()


def test_killed_producer_never_tears_a_message(name):
    owner = shmkit.Queue(16, name=name, max_message_size=70000)
    owner.close()
    q = shmkit.Queue.open(name)
    q.hold_receiver()
    producer = """
        import sys, zlib, os, shmkit
        q = shmkit.Queue.open(sys.argv[1])
        i = 0
        while True:
            body = os.urandom(1000 + (i * 7919) % 60000)
            q.put_bytes(zlib.crc32(body).to_bytes(4, "little") + body)
            i += 1
    """
    seen = 0
    for _ in range(3):
        p = popen_py(producer, name)
        deadline = time.monotonic() + 30
        while seen < 50 and time.monotonic() < deadline:
            try:
                msg = q.get_bytes(timeout=0.5)
            except queue.Empty:
                continue
            assert zlib.crc32(msg[4:]).to_bytes(4, "little") == msg[:4], "torn message"
            seen += 1
        kill(p)
        while True:  # drain what it left
            try:
                msg = q.get_bytes(timeout=5)
            except shmkit.Disconnected:
                break
            assert zlib.crc32(msg[4:]).to_bytes(4, "little") == msg[:4], "torn message"
            seen += 1
        seen = 0


def test_pipe_peer_killed_gives_eof(name):
    a, _ = shmkit.Pipe(name=name)
    p = popen_py("""
        import sys, time, shmkit
        c = shmkit.Connection.open(sys.argv[1])
        c.send("hello")
        time.sleep(600)
    """, name)
    assert a.recv() == "hello"
    kill(p)
    with pytest.raises(EOFError):
        a.recv()


def test_barrier_party_killed_breaks_it(name):
    b = shmkit.Barrier(3, name=name)
    p = popen_py("""
        import sys, shmkit
        b = shmkit.Barrier.open(sys.argv[1])
        print("waiting", flush=True)
        b.wait()
    """, name)
    wait_line(p, "waiting")
    time.sleep(0.2)
    kill(p)
    t0 = time.monotonic()
    with pytest.raises(shmkit.BrokenBarrierError):
        b.wait(60)
    assert time.monotonic() - t0 < 50, "broken by the death, not by the timeout"


WAITS = {
    "lock": "o = shmkit.Lock(); o.acquire(); print('ready', flush=True); o.acquire()",
    "rlock-other-thread": (
        "import threading; o = shmkit.RLock(); t = threading.Thread(target=o.acquire); t.start(); t.join();"
        " print('ready', flush=True); o.acquire()"
    ),
    "semaphore": "o = shmkit.Semaphore(0); print('ready', flush=True); o.acquire()",
    "event": "o = shmkit.Event(); print('ready', flush=True); o.wait()",
    "condition": "o = shmkit.Condition(); o.acquire(); print('ready', flush=True); o.wait()",
    "queue": "o = shmkit.Queue(); print('ready', flush=True); o.get()",
    "joinable-join": "o = shmkit.JoinableQueue(); o.put(1); print('ready', flush=True); o.join()",
    "pipe": "a, b = shmkit.Pipe(); a.send(0); b.recv(); print('ready', flush=True); b.recv()",
    "value-lock": "o = shmkit.Value('i'); o.get_lock().acquire(); import threading;"
    " t = threading.Thread(target=lambda: None); print('ready', flush=True); o._acquire(True, None)",
    "wait": "o = shmkit.Queue(); e = shmkit.Event(); print('ready', flush=True); shmkit.wait([o, e])",
    "barrier": "o = shmkit.Barrier(2); print('ready', flush=True); o.wait()",
    "barrier-timeout": "o = shmkit.Barrier(2); print('ready', flush=True); o.wait(600)",
    "barrier-action": "o = shmkit.Barrier(2, action=print); print('ready', flush=True); o.wait()",
}


@pytest.mark.parametrize("what", sorted(WAITS))
def test_ctrl_c_interrupts_wait(what):
    p = popen_py("""
        import shmkit, signal, sys
        # Python leaves SIGINT alone if it started ignored (a background job
        # of a shell without job control): take the default handler.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            %s
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """ % WAITS[what])
    wait_line(p, "ready")
    time.sleep(0.1)
    interrupt(p)


def interrupt(p):
    """Ctrl-C for the child `p`, which must then print "interrupted" and
    exit with 3 (within a generous bound). Returns its (stdout, stderr)."""
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            kill(p)
    assert p.returncode == 3 and "interrupted" in out, (out, err)
    return out, err


def test_ctrl_c_in_a_barrier_wait_breaks_it_for_the_others(name):
    """As threading.Barrier: an interrupted wait breaks the barrier and raises."""
    b = shmkit.Barrier(3, name=name)
    p = popen_py("""
        import shmkit, signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)
        b = shmkit.Barrier.open(sys.argv[1])
        print("ready", flush=True)
        try:
            b.wait()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            print(b.broken, file=sys.stderr)
            sys.exit(3)
    """, name)
    outcome = []

    def other():
        try:
            b.wait(60)
            outcome.append("passed")
        except shmkit.BrokenBarrierError:
            outcome.append("broken")

    wait_line(p, "ready")
    t = threading.Thread(target=other)
    t.start()
    deadline = time.monotonic() + 30
    while b.n_waiting < 2:
        assert time.monotonic() < deadline and p.poll() is None, "both parties arrive"
        time.sleep(0.005)
    out, err = interrupt(p)
    t.join(60)
    assert err.strip().endswith("True"), "the interrupted party broke the barrier: %r" % err
    assert outcome == ["broken"], "the other waiter got BrokenBarrierError, not a hang"
    assert b.broken
    with pytest.raises(shmkit.BrokenBarrierError):
        b.wait(1)
    b.reset()
    assert not b.broken and b.n_waiting == 0


def test_forked_copy_of_creator_does_not_unlink(name):
    v = shmkit.Value("i", 5, name=name)
    pid = os.fork()
    if pid == 0:
        try:
            del v
            import gc

            gc.collect()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert shmkit.Value.open(name, "i").value == 5


def test_pickled_names_attach_not_own(name):
    v = shmkit.Value("i", 1, name=name)
    copy = pickle.loads(pickle.dumps(v))
    del copy  # an attached copy never unlinks (gh-82300)
    import gc

    gc.collect()
    assert shmkit.Value.open(name, "i").value == 1
