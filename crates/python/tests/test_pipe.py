"""Pipe and Connection: duplex, one way, poll, bytes, EOF."""

import array
import multiprocessing
import pickle
import threading
import time

import pytest

import _workers
import shmkit


def test_duplex():
    a, b = shmkit.Pipe()
    a.send({"x": [1, 2]})
    assert b.poll(1)
    assert b.recv() == {"x": [1, 2]}
    b.send("back")
    assert a.recv() == "back"
    assert not a.poll()
    assert not a.poll(0.05)


def test_bytes_and_offsets():
    a, b = shmkit.Pipe()
    msg = bytes(range(256)) * 4
    a.send_bytes(msg)
    assert b.recv_bytes() == msg
    a.send_bytes(msg, 10)
    assert b.recv_bytes() == msg[10:]
    a.send_bytes(msg, 10, 20)
    assert b.recv_bytes() == msg[10:30]
    a.send_bytes(b"")
    assert b.recv_bytes() == b""
    with pytest.raises(ValueError):
        a.send_bytes(msg, -1)
    with pytest.raises(ValueError):
        a.send_bytes(msg, 10, len(msg))
    arr = array.array("i", [1, 2, 3])
    a.send_bytes(arr)
    buf = bytearray(20)
    assert b.recv_bytes_into(buf, 4) == 12
    assert array.array("i", bytes(buf[4:16])).tolist() == [1, 2, 3]
    a.send_bytes(b"x" * 30)
    with pytest.raises(multiprocessing.BufferTooShort) as e:
        b.recv_bytes_into(bytearray(10))
    assert e.value.args[0] == b"x" * 30  # consumed and handed over, as multiprocessing does
    a.send_bytes(array.array("d", [1.5, 2.5]))
    into = array.array("d", [0.0, 0.0, 0.0])
    assert b.recv_bytes_into(into) == 16
    assert into.tolist() == [1.5, 2.5, 0.0]
    with pytest.raises(ValueError):
        b.recv_bytes_into(bytearray(4), 5)
    with pytest.raises(ValueError):
        b.recv_bytes_into(b"readonly")


def test_one_way():
    r, w = shmkit.Pipe(duplex=False)
    assert r.readable and not r.writable
    assert w.writable and not w.readable
    w.send([1, 2, 3])
    assert r.recv() == [1, 2, 3]
    with pytest.raises(OSError):
        r.send(1)
    with pytest.raises(OSError):
        w.recv()


@pytest.mark.parametrize("duplex", [True, False])
def test_recv_bytes_that_waits(duplex):
    # A receive that waits: a message of 16 KiB or more is copied once, from
    # the ring into its bytes object, a shorter one through a buffer; the
    # end of the stream that comes while waiting is EOFError.
    r, w = shmkit.Pipe(duplex, capacity=1 << 17)
    msgs = [bytes((i * 3 + n) % 253 for i in range(n)) for n in (0, 8, 4096, 16 * 1024 - 1, 16 * 1024, 65536)]

    def write():
        for m in msgs:
            time.sleep(0.02)  # the reader is waiting by then
            w.send_bytes(m)
        time.sleep(0.02)
        w.close()

    t = threading.Thread(target=write, daemon=True)
    t.start()
    try:
        assert [r.recv_bytes() for _ in msgs] == msgs
        with pytest.raises(EOFError):
            r.recv_bytes()
        t.join(10)
    finally:
        r.close()


@pytest.mark.parametrize("duplex", [True, False])
def test_eof_after_close(duplex):
    r, w = shmkit.Pipe(duplex)
    w.send(1)
    w.close()
    assert r.recv() == 1
    assert r.poll()  # end of stream: readable, recv raises
    with pytest.raises(EOFError):
        r.recv()
    with pytest.raises(OSError):
        w.send(1)


def test_send_to_closed_peer():
    a, b = shmkit.Pipe()
    a.send(0)  # takes a's end
    b.recv()
    b.close()
    with pytest.raises((BrokenPipeError, OSError)):
        for _ in range(5000):
            a.send_bytes(b"x" * 64)


def test_message_too_large():
    a, b = shmkit.Pipe(capacity=1024)
    with pytest.raises(ValueError):
        a.send_bytes(b"x" * 4096)


def test_many_messages_in_order():
    a, b = shmkit.Pipe(capacity=4096)
    import threading

    def sender():
        for i in range(5000):
            a.send(i)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    assert [b.recv() for _ in range(5000)] == list(range(5000))
    t.join(10)


def test_named_attach(name):
    a, b = shmkit.Pipe(name=name)
    a.send("hi")
    c = shmkit.Connection.open(name)  # the free end: b never took it
    assert c.recv() == "hi"
    with pytest.raises(shmkit.BusyError):
        b.recv()


def test_open_a_given_end(name):
    a, b = shmkit.Pipe(name=name)
    one = shmkit.Connection.open(name, 1)  # b's end, which b never took
    a.send("to end 1")
    assert one.recv() == "to end 1"
    with pytest.raises(shmkit.BusyError):
        b.recv()
    with pytest.raises(ValueError):
        shmkit.Connection.open(name, 2)
    assert pickle.loads(pickle.dumps(b))._which == "1", "a pickled end is the same end"


def test_any_end_taken_before_the_first_connection_is_used_leaves_it_busy(name):
    """The documented limit of "any": it takes end 0 if it comes first; the
    creator's first Connection then says so at once (no hang), and the
    second pairs with the newcomer."""
    a, b = shmkit.Pipe(name=name)
    c = shmkit.Connection.open(name)
    c.send("first come")
    with pytest.raises(shmkit.BusyError):
        a.send("end 0 is taken")
    assert b.recv() == "first come"


def test_pickle_unused_end():
    a, b = shmkit.Pipe()
    b2 = pickle.loads(pickle.dumps(b))
    a.send(5)
    assert b2.recv() == 5
    with pytest.raises(TypeError):
        pickle.dumps(a)  # in use here


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_an_end_handed_over_first_and_gone_is_end_of_stream_for_the_other(method):
    """The child takes its end, sends and exits before the parent first uses
    its own: the parent still gets what was sent, then EOFError (it must
    not take the child's freed end and wait on a direction nobody writes)."""
    a, b = shmkit.Pipe()
    p = multiprocessing.get_context(method).Process(target=_workers.send_all_then_exit, args=(b, ["one", "two"]))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert a.poll(10), "what the gone peer sent is there"
    assert [a.recv(), a.recv()] == ["one", "two"]
    with pytest.raises(EOFError):
        a.recv()
    # A peer that exited without closing (fork's children end with
    # os._exit) is found dead within 1024 sends.
    with pytest.raises(OSError):
        for _ in range(5000):
            a.send_bytes(b"nobody there")


def test_each_end_of_a_pipe_is_its_own_whichever_is_used_first():
    a, b = shmkit.Pipe()
    b.send("from b")  # b is used first and still takes end 1
    assert b._end().end == 1
    b.close()
    assert a.recv() == "from b"
    assert a._end().end == 0
    with pytest.raises(EOFError):
        a.recv()
