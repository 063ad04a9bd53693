"""asyncio over a readiness descriptor (``shmkit::ReadyFd``): the event
loop watches the descriptor, so no thread waits and nothing polls."""

import os as _os


async def wait_ready(owner, make_fd):
    """Awaits until the descriptor of ``owner`` (made by ``make_fd()`` once
    per process: the descriptor is served by a thread of the process that
    made it, so a forked child makes its own) is readable, then clears it."""
    import asyncio

    loop = asyncio.get_running_loop()
    ready, pid = owner.__dict__.get("_ready", (None, None))
    if ready is None or pid != _os.getpid():
        ready = make_fd()
        owner._ready = (ready, _os.getpid())
    fd = ready.fileno()
    woken = loop.create_future()
    loop.add_reader(fd, lambda: woken.done() or woken.set_result(None))
    try:
        await woken
    finally:
        loop.remove_reader(fd)
    ready.clear()
