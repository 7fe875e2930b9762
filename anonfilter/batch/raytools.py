"""Ray for the batch: imported when needed, connected (embedded, or a cluster), its nodes' sizes, and :func:`ray_map`.

Without an address (and no ``RAY_ADDRESS``) :func:`connected` starts an embedded single-node Ray
with the machine's CPUs and stops it at the end; with one (``auto``, ``ray://HEAD:10001``,
``HEAD:6379``) it joins that cluster. When Ray is already initialized in the process (a notebook,
the tests), that connection is used and left open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Any, Callable, Iterator, Optional, Sequence

from anonfilter.errors import AnonfilterError

MAX_RETRIES = 3
"""Times a file's task is started again when its worker or node died (a Python error is the file's failure, not retried)."""


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise AnonfilterError("anonfilter batch needs Ray: pip install 'anonfilter[ray]'") from None
    return ray


@contextlib.contextmanager
def connected(address: Optional[str]) -> Iterator[bool]:
    """Ray connected for the block: the process's connection if there is one, else ``address`` (or ``RAY_ADDRESS``)
    joined, else an embedded single-node Ray with the machine's CPUs, stopped after the block (then it yields True)."""
    ray = import_ray()
    if ray.is_initialized():
        yield False
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    local = {} if address else {"include_dashboard": False}  # "local": a Ray of our own, not one another program started here
    with _own_sigterm():
        try:
            ray.init(address=address or "local", log_to_driver=False, logging_level=logging.ERROR, **local)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise AnonfilterError(
                f"cannot {'join the Ray cluster at ' + address if address else 'start Ray'}: {error}".splitlines()[0]
            ) from None
    try:
        yield not address
    finally:
        ray.shutdown()


def too_small(nodes: Sequence[dict[str, Any]], cpus: float, gpus: float) -> Optional[str]:
    """Why no node of ``nodes`` (``ray.nodes()``) can run a task of ``cpus`` CPUs and ``gpus`` GPUs; None when one can."""
    alive = [node.get("Resources", {}) for node in nodes if node.get("Alive")]
    if any(node.get("CPU", 0) >= cpus and node.get("GPU", 0) >= gpus for node in alive):
        return None
    most_cpus = max((node.get("CPU", 0) for node in alive), default=0)
    most_gpus = max((node.get("GPU", 0) for node in alive), default=0)
    return (
        f"a file's task needs {cpus:g} CPUs and {gpus:g} GPUs (--cpus-per-task, --gpus-per-task), but the largest Ray node "
        f"has {most_cpus:g} CPUs and {most_gpus:g} GPUs"
    )


@contextlib.contextmanager
def _own_sigterm() -> Iterator[None]:
    """Keep the process's SIGTERM handler through the block: ``ray.init`` replaces it with an exit that skips the
    command's clean stop (cancelling the tasks, stopping the embedded Ray, one line)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, handler)


def ray_map(
    fn: Callable[[Any], Any], items: Sequence[Any], *, num_cpus: float = 1, num_gpus: float = 0, max_retries: int = MAX_RETRIES
) -> list[Any]:
    """``[fn(item) for item in items]`` as Ray tasks, in order (``fn`` and ``items`` picklable); the first error is raised,
    after the tasks still running are cancelled.

    The ``map_tasks`` of segment-parallel runs; Ray must be connected (:func:`connected`).
    """
    ray = import_ray()
    task = ray.remote(_apply).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries)
    function = ray.put(fn)
    refs = [task.remote(function, item) for item in items]
    try:
        return list(ray.get(refs))
    except BaseException:
        for ref in refs:  # the others' work is lost anyway: stop it before the caller removes their folder
            ray.cancel(ref, force=True)
        raise


def _apply(fn: Callable[[Any], Any], item: Any) -> Any:
    """``fn(item)``: the Ray task of :func:`ray_map` (any picklable callable, a builtin or a ``functools.partial`` too)."""
    return fn(item)
