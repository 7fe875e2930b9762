"""Ways to run the segment tasks: in this process, or in a pool of local processes.

Any function with the signature of :data:`MapTasks` will do (the batch command passes one that
runs them as Ray tasks): it runs a picklable module-level function over picklable items,
anywhere, and returns the results in the items' order.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Optional, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MapTasks(Protocol):
    """``map_tasks(fn, items)``: ``[fn(item) for item in items]``, run however the caller likes."""

    def __call__(self, fn: Callable[[T], R], items: list[T], /) -> list[R]:
        """The results of ``fn`` on each of ``items``, in their order."""


def serial_map(fn: Callable[[T], R], items: list[T]) -> list[R]:
    """Run the tasks one after the other in this process."""
    return [fn(item) for item in items]


def process_pool_map(fn: Callable[[T], R], items: list[T], workers: Optional[int] = None) -> list[R]:
    """Run the tasks in ``workers`` new processes (default: the CPU count), at most that many at a time.

    The processes are started fresh (``spawn``), not forked: the caller may hold threads
    (onnxruntime's, a transcode's), which a forked child would inherit in an unknown state.
    When a task fails, the tasks not started yet are not started, and the error is raised once
    the running ones have ended. Use ``functools.partial(process_pool_map, workers=N)`` as a
    :data:`MapTasks`.
    """
    count = max(1, min(workers or os.cpu_count() or 1, len(items)))
    pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))
    try:
        return list(pool.map(fn, items))
    finally:  # after a failure: the tasks not started are dropped, the running ones finish before the caller cleans up
        pool.shutdown(wait=True, cancel_futures=True)
