"""asyncio: a queue's get_async and put_async await a message or room
through a readiness descriptor the event loop watches (no thread waits,
nothing polls)."""

import asyncio
import queue
import threading
import time

import pytest

import shmkit

from conftest import popen_py


class Ticker:
    """A task of the running loop that counts its turns: other tasks ran
    while an await waited."""

    def __init__(self):
        self.ticks = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self):
        while True:
            self.ticks += 1
            await asyncio.sleep(0.005)

    def stop(self):
        self._task.cancel()


def test_get_async_awaits_a_message_put_from_another_thread():
    q = shmkit.Queue(8)
    q.hold_sender()

    def later():
        time.sleep(0.05)
        q.put({"n": 1})
        time.sleep(0.05)
        q.put_bytes(b"raw")

    t = threading.Thread(target=later)
    t.start()

    async def main():
        first = await asyncio.wait_for(q.get_async(), 20)
        second = await asyncio.wait_for(q.get_bytes_async(), 20)
        return first, second

    assert asyncio.run(main()) == ({"n": 1}, b"raw")
    t.join()


def test_other_tasks_run_while_get_async_waits_and_cancelling_loses_nothing():
    q = shmkit.Queue(8)
    q.hold_sender()

    async def main():
        ticker = Ticker()
        waiting = asyncio.create_task(q.get_async())
        await asyncio.sleep(0.1)
        assert ticker.ticks >= 5, "the loop ran other tasks while get_async waited"
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        q.put("kept")
        got = await asyncio.wait_for(q.get_async(), 20)
        ticker.stop()
        return got

    assert asyncio.run(main()) == "kept"


def test_get_async_raises_disconnected_when_every_sender_is_gone():
    owner = shmkit.Queue(4)
    owner.close()  # the creator gives its ends back
    consumer = shmkit.Queue.open(owner.name)
    consumer.hold_receiver()
    producer = shmkit.Queue.open(owner.name)
    producer.put(7)
    producer.close()

    async def main():
        assert await asyncio.wait_for(consumer.get_async(), 20) == 7
        with pytest.raises(shmkit.Disconnected):
            await asyncio.wait_for(consumer.get_async(), 20)

    asyncio.run(main())
    consumer.close()


def test_a_pipe_end_receives_in_asyncio_and_sees_the_end_of_the_stream():
    a, b = shmkit.Pipe()

    def later():
        time.sleep(0.05)
        b.send({"x": 2})
        time.sleep(0.05)
        b.send_bytes(b"tail")
        b.close()

    t = threading.Thread(target=later)
    t.start()

    async def main():
        first = await asyncio.wait_for(a.recv_async(), 20)
        second = await asyncio.wait_for(a.recv_bytes_async(), 20)
        with pytest.raises(EOFError):
            await asyncio.wait_for(a.recv_bytes_async(), 20)
        return first, second

    assert asyncio.run(main()) == ({"x": 2}, b"tail")
    t.join()
    a.close()


def test_put_async_waits_for_room_made_by_another_process(name):
    q = shmkit.Queue(1, name=name)
    q.put("first")
    p = popen_py("""
        import sys, time, shmkit
        q = shmkit.Queue.open(sys.argv[1])
        time.sleep(0.2)
        print(q.get(timeout=30), flush=True)
        print(q.get(timeout=30), flush=True)
    """, name)

    async def main():
        ticker = Ticker()
        await asyncio.wait_for(q.put_async("second"), 30)
        ticker.stop()
        return ticker.ticks

    try:
        ticks = asyncio.run(main())
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(30)
    assert p.returncode == 0, err
    assert out.split() == ["first", "second"]
    assert ticks >= 5, "the loop ran other tasks while put_async waited"


def test_cancelling_put_async_puts_nothing():
    q = shmkit.Queue(1)
    q.put_bytes(b"there")

    async def main():
        waiting = asyncio.create_task(q.put_bytes_async(b"never"))
        await asyncio.sleep(0.1)
        assert not waiting.done(), "no room: still waiting"
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert q.get_bytes(timeout=5) == b"there"
        with pytest.raises(queue.Empty):
            q.get_bytes(False)  # the cancelled put put nothing
        await asyncio.wait_for(q.put_async({"a": 1}), 20)  # room now: at once
        return q.get(timeout=5)

    assert asyncio.run(main()) == {"a": 1}


def test_put_async_on_a_typed_queue_and_bad_values():
    q = shmkit.Queue(1, item_type="i")
    q.put(1)

    def later():
        time.sleep(0.05)
        assert q.get(timeout=10) == 1

    t = threading.Thread(target=later)
    t.start()

    async def main():
        await asyncio.wait_for(q.put_async(2), 20)
        with pytest.raises(Exception):
            await q.put_async("not an int")
        with pytest.raises(ValueError):
            await shmkit.Queue(1, max_message_size=16).put_async("x" * 100)

    asyncio.run(main())
    t.join()
    assert q.get(timeout=5) == 2


def test_put_async_raises_disconnected_when_every_receiver_is_gone(name):
    owner = shmkit.Queue(1, name=name)
    owner.close()
    producer = shmkit.Queue.open(name)
    consumer = shmkit.Queue.open(name)
    consumer.hold_receiver()
    producer.put(1)

    async def main():
        waiting = asyncio.create_task(producer.put_async(2))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        consumer.close()  # the last receiver goes
        with pytest.raises(shmkit.Disconnected):
            await asyncio.wait_for(waiting, 20)

    asyncio.run(main())
    producer.close()
