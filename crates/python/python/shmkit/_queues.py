"""Queues (pending the library's MessageQueue)."""


class Queue:
    def __init__(self, *a, **k):
        raise NotImplementedError


SimpleQueue = JoinableQueue = Queue
