"""Functions run in multiprocessing children (importable under spawn)."""

import os


def add_under_lock(counter, n):
    for _ in range(n):
        with counter.get_lock():
            counter.value += 1


def fill_array(arr, start, stop):
    for i in range(start, stop):
        arr[i] = i * i


def produce(q, p, n):
    for i in range(n):
        q.put((p, i))


def square_into(args):
    q, arr, i = args
    arr[i] = i * i
    q.put((os.getpid(), i))
    return i


def echo_conn(conn, n):
    for _ in range(n):
        conn.send(conn.recv())
    conn.close()


def event_then_set(ev_in, ev_out):
    assert ev_in.wait(30)
    ev_out.set()


def lock_and_count(lock, shared, n):
    for _ in range(n):
        with lock:
            shared.value += 1


def barrier_party(barrier, out, i):
    barrier.wait(30)
    out.put(i)


def send_all_then_exit(conn, items):
    for item in items:
        conn.send(item)
