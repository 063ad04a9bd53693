"""asyncio over a readiness descriptor (``shmkit::ReadyFd``): the event
loop watches the descriptor, so no thread waits and nothing polls."""

import os as _os


async def wait_ready(owner, make_fd, attr="_ready"):
    """Awaits until the descriptor of ``owner`` (made by ``make_fd()`` once
    per process and kept as ``owner.<attr>``: the descriptor is served by a
    thread of the process that made it, so a forked child makes its own)
    is readable, then clears it. Cancelling it changes nothing but the
    descriptor's signal."""
    import asyncio

    loop = asyncio.get_running_loop()
    ready, pid = owner.__dict__.get(attr, (None, None))
    if ready is None or pid != _os.getpid():
        ready = make_fd()
        setattr(owner, attr, (ready, _os.getpid()))
    fd = ready.fileno()
    woken = loop.create_future()
    loop.add_reader(fd, lambda: woken.done() or woken.set_result(None))
    try:
        await woken
    finally:
        loop.remove_reader(fd)
    ready.clear()
