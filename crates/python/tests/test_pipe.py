"""Pipe and Connection: duplex, one way, poll, bytes, EOF."""

import array
import multiprocessing
import pickle

import pytest

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


def test_pickle_unused_end():
    a, b = shmkit.Pipe()
    b2 = pickle.loads(pickle.dumps(b))
    a.send(5)
    assert b2.recv() == 5
    with pytest.raises(TypeError):
        pickle.dumps(a)  # in use here
