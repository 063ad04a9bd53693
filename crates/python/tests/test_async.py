"""asyncio: a queue's get_async awaits a message through a readiness
descriptor the event loop watches (no thread waits, nothing polls)."""

import asyncio
import threading
import time

import pytest

import shmkit


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
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        tick = asyncio.create_task(ticker())
        waiting = asyncio.create_task(q.get_async())
        await asyncio.sleep(0.1)
        assert ticks >= 5, "the loop ran other tasks while get_async waited"
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        q.put("kept")
        got = await asyncio.wait_for(q.get_async(), 20)
        tick.cancel()
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
