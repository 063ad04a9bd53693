# The Python side of `shmkit bench`: multiprocessing Queue and Pipe
# (send_bytes/recv_bytes) between two processes, and Lock acquire+release,
# timed by Python itself; the same over the shmkit module (crates/python)
# when this python3 has it: shmkit.Queue (pickles, a MessageQueue), a byte
# queue each way (shmkit.Pipe(duplex=False), send_bytes/recv_bytes), a
# duplex shmkit.Pipe, and shmkit.Lock. Argument: one JSON object (see
# python.rs).
# Output: one JSON object per line, a result row or {"note": "..."}.
import json
import multiprocessing as mp
import os
import sys
import time


def ring_capacity(size):
    """Bytes of a shmkit pipe direction for `size`-byte messages: the
    module's default (64 KiB), or room for four records of that size."""
    return max(1 << 16, 1 << (4 * (size + 16) - 1).bit_length())


def pin(cpu):
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass


def pipe_peer(conn, cpu, ppid, echo, out=None):
    pin(cpu)
    out = out or conn
    while True:
        if not conn.poll(1.0):
            if os.getppid() != ppid:
                return
            continue
        m = conn.recv_bytes()
        if len(m) < 2:  # b"" stops, b"s" syncs: answer both
            out.send_bytes(m)
            if not m:
                return
        elif echo:
            out.send_bytes(m)


def shmkit_module():
    try:
        import shmkit
    except ImportError:
        raise RuntimeError("this python3 has no shmkit module (pip install ./crates/python)") from None
    return shmkit


def queue_peer(inq, outq, cpu, ppid, echo):
    import queue
    pin(cpu)
    while True:
        try:
            m = inq.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != ppid:
                return
            continue
        if m is None or len(m) < 2:
            outq.put(m)
            if m is None:
                return
        elif echo:
            outq.put(m)


def stats(lat, elapsed_ns):
    lat.sort()
    n = len(lat)

    def pct(q):
        i = max(0, min(n - 1, -(-int(q * 1000) * n // 1000) - 1))
        return float(lat[i])

    return {
        "p50_ns": pct(0.5), "p99_ns": pct(0.99), "p999_ns": pct(0.999),
        "max_ns": float(lat[-1]), "mean_ns": sum(lat) / n,
        "msgs_per_s": n / max(elapsed_ns, 1) * 1e9,
    }


def run_pair(kind, pattern, size, a):
    ctx = mp.get_context("fork")
    echo = pattern == "pingpong"
    ppid = os.getpid()
    if kind == "python-pipe":
        mine, theirs = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=pipe_peer, args=(theirs, a["peer_cpu"], ppid, echo), daemon=True)
        send, recv = mine.send_bytes, mine.recv_bytes
        stop, sync = b"", b"s"
    elif kind == "python-shmkit-pipe":
        mine, theirs = shmkit_module().Pipe(duplex=True, capacity=ring_capacity(size))
        proc = ctx.Process(target=pipe_peer, args=(theirs, a["peer_cpu"], ppid, echo), daemon=True)
        send, recv = mine.send_bytes, mine.recv_bytes
        stop, sync = b"", b"s"
    elif kind == "python-shmkit-bytequeue":
        sk = shmkit_module()
        to_r, to_w = sk.Pipe(duplex=False, capacity=ring_capacity(size))
        back_r, back_w = sk.Pipe(duplex=False, capacity=ring_capacity(size))
        proc = ctx.Process(target=pipe_peer, args=(to_r, a["peer_cpu"], ppid, echo, back_w), daemon=True)
        send, recv = to_w.send_bytes, back_r.recv_bytes
        stop, sync = b"", b"s"
    elif kind == "python-shmkit-queue":
        sk = shmkit_module()
        q1, q2 = sk.Queue(64, max_message_size=size + 64), sk.Queue(64, max_message_size=size + 64)
        proc = ctx.Process(target=queue_peer, args=(q1, q2, a["peer_cpu"], ppid, echo), daemon=True)
        send, recv = q1.put, q2.get
        stop, sync = None, b"s"
    else:
        # Bounded, as every other transport is: an unbounded Queue would
        # buffer the whole stream in its feeder thread and time the drain.
        q1, q2 = ctx.Queue(maxsize=64), ctx.Queue(maxsize=64)
        proc = ctx.Process(target=queue_peer, args=(q1, q2, a["peer_cpu"], ppid, echo), daemon=True)
        send, recv = q1.put, q2.get
        stop, sync = None, b"s"
    proc.start()
    try:
        msg = b"x" * size
        pc = time.perf_counter_ns
        warm_end = pc() + int(a["warmup"] * 1e9)
        i = 0
        while i < a["warmup_max"]:
            send(msg)
            if echo:
                recv()
            i += 1
            if pc() >= warm_end:
                break
        send(sync)
        recv()
        limit = int(a["budget"] * 1e9)
        lo, hi = a["min"], a["max"]
        if echo:
            lat = []
            start = t0 = pc()
            while len(lat) < hi:
                send(msg)
                recv()
                t1 = pc()
                lat.append(t1 - t0)
                t0 = t1
                if len(lat) >= lo and t1 - start >= limit:
                    break
            send(stop)
            recv()
            row = stats(lat, t0 - start)
        else:
            n = 0
            start = pc()
            while n < hi:
                send(msg)
                n += 1
                if n >= lo and n % 64 == 0 and pc() - start >= limit:
                    break
            send(stop)
            recv()
            elapsed = pc() - start
            rate = n / max(elapsed, 1) * 1e9
            row = {"p50_ns": None, "p99_ns": None, "p999_ns": None, "max_ns": None,
                   "mean_ns": 1e9 / rate, "msgs_per_s": rate}
    finally:
        proc.join(2.0)
        if proc.is_alive():
            proc.kill()
    row.update({"transport": kind, "pattern": pattern, "size": size, "wait": "block",
                "bytes_per_s": row["msgs_per_s"] * size})
    return row


def lock_ops(a, kind):
    lock = shmkit_module().Lock() if kind == "python-shmkit-lock" else mp.get_context("fork").Lock()
    acq, rel = lock.acquire, lock.release
    batch = 256
    pc = time.perf_counter_ns
    warm_end = pc() + int(a["warmup"] * 1e9)
    while pc() < warm_end:
        acq()
        rel()
    per_op = []
    limit = int(a["budget"] * 1e9)
    start = t0 = pc()
    while len(per_op) * batch < a["max"]:
        for _ in range(batch):
            acq()
            rel()
        t1 = pc()
        per_op.append((t1 - t0) / batch)
        t0 = t1
        if len(per_op) * batch >= a["min"] and t1 - start >= limit:
            break
    row = stats(per_op, t0 - start)
    row["msgs_per_s"] = len(per_op) * batch / max(t0 - start, 1) * 1e9
    row["mean_ns"] = 1e9 / row["msgs_per_s"]
    row.update({"transport": kind, "pattern": "op", "size": 0, "wait": "-", "bytes_per_s": 0.0})
    return row


def main():
    a = json.loads(sys.argv[1])
    pin(a["cpu"])
    for job in a["jobs"]:
        kind, pattern, size = job
        try:
            row = lock_ops(a, kind) if pattern == "op" else run_pair(kind, pattern, size, a)
            print(json.dumps(row), flush=True)
        except Exception as e:  # report and go on with the next job
            print(json.dumps({"note": f"{kind} {pattern} {size} B: {type(e).__name__}: {e}"}), flush=True)


if __name__ == "__main__":
    main()
