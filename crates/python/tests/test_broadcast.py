"""Broadcast: every subscriber sees every message, in this process and in
independent ones; lossy subscribers are told how many they missed."""

import asyncio
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

import shmkit


def test_every_subscriber_gets_every_object_and_then_the_end():
    b = shmkit.Broadcast(16, lossless=True)
    subs = [b.subscribe() for _ in range(3)]
    pub = b.publisher()
    for i in range(40):
        if i >= 16:
            for s in subs:
                assert s.get(timeout=5) == {"i": i - 16}
        pub.publish({"i": i})
    for s in subs:
        got = [s.get(timeout=5) for _ in range(16)]
        assert got == [{"i": i} for i in range(24, 40)]
        with pytest.raises(queue.Empty):
            s.get(timeout=0.01)
    del pub  # the publisher is gone: the end of the stream
    import gc

    gc.collect()
    for s in subs:
        with pytest.raises(shmkit.Disconnected):
            s.get(timeout=5)


def test_a_lossy_subscriber_is_told_how_many_it_missed():
    b = shmkit.Broadcast(8)
    s = b.subscribe()
    pub = b.publisher()
    for i in range(20):
        pub.publish_bytes(bytes([i]))
    with pytest.raises(shmkit.Lagged) as e:
        s.get_bytes(False)
    assert e.value.args[0] == 12
    assert [s.get_bytes(False) for _ in range(8)] == [bytes([i]) for i in range(12, 20)]
    late = b.subscribe(last=3)
    assert [late.get_bytes(False) for _ in range(3)] == [bytes([i]) for i in range(17, 20)]


def test_a_subscriber_in_another_process_receives_by_name():
    b = shmkit.Broadcast(64, lossless=True)
    code = (
        "import shmkit, sys\n"
        "s = shmkit.Broadcast.open(sys.argv[1]).subscribe()\n"
        "print('READY', flush=True)\n"
        "n = 0\n"
        "while True:\n"
        "    try:\n"
        "        assert s.get(timeout=20) == n\n"
        "    except shmkit.Disconnected:\n"
        "        break\n"
        "    n += 1\n"
        "print('GOT', n, flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, b.name], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "READY"
        pub = b.publisher()
        for i in range(500):
            pub.publish(i, timeout=20)
        del pub
        import gc

        gc.collect()
        assert child.stdout.readline().split() == ["GOT", "500"]
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()


def test_get_async_awaits_a_published_message():
    b = shmkit.Broadcast(8)
    s = b.subscribe()
    pub = b.publisher()

    def later():
        time.sleep(0.05)
        pub.publish("news")

    t = threading.Thread(target=later)
    t.start()
    assert asyncio.run(asyncio.wait_for(s.get_async(), 20)) == "news"
    t.join()


def test_a_subscriber_made_before_fork_refuses_in_the_child():
    b = shmkit.Broadcast(8)
    s = b.subscribe()
    pid = os.fork()
    if pid == 0:
        try:
            s.get(False)
        except RuntimeError:
            os._exit(0)
        except BaseException:
            os._exit(2)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_a_typed_broadcast_carries_values_of_its_type():
    b = shmkit.Broadcast(8, item_type="d", lossless=True)
    assert b.max_message_size == 8 and b.item_type == "d"
    s = b.subscribe()
    pub = b.publisher()
    for x in (0.5, -2.25, 1e300):
        pub.publish(x)
    assert [s.get(False) for _ in range(3)] == [0.5, -2.25, 1e300]
    with pytest.raises(ValueError):
        pub.publish_bytes(b"short")
    with pytest.raises(struct_error()):
        pub.publish("not a float")
    again = shmkit.Broadcast.open(b.name, item_type="d")
    assert again.subscribe(last=3).get(False) == 0.5


def struct_error():
    import struct

    return struct.error
