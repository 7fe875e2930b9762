"""The batch driver: one Ray task per file, resume, one progress bar, the summary.

Without an address (and no ``RAY_ADDRESS``) it starts an embedded single-node Ray with the
machine's CPUs and stops it at the end; with one (``auto``, ``ray://HEAD:10001``, ``HEAD:6379``) it
joins that cluster. When Ray is already initialized in the process (a notebook, the tests), the
batch uses that connection and leaves it open.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

from tqdm import tqdm

from anonfilter.batch.inputs import BatchItem, discover, fingerprint
from anonfilter.batch.records import finished, options_hash, output_path, report_path
from anonfilter.batch.summary import BatchSummary
from anonfilter.batch.task import Engine, FileResult, TaskSettings, anonymize_file
from anonfilter.config import Config
from anonfilter.errors import AnonfilterError

MAX_RETRIES = 3
"""Times a file's task is started again when its worker or node died (a Python error is the file's failure, not retried)."""
SegmentSeconds = Union[float, str, None]
"""Seconds per segment of a segment-parallel run, ``"auto"``, or None (one task per file)."""


def run_batch(
    inputs: Sequence[str],
    out_dir: Union[str, os.PathLike[str]],
    config: Optional[Config] = None,
    *,
    ray_address: Optional[str] = None,
    cpus_per_task: int = 1,
    gpus_per_task: float = 0.0,
    resume: bool = False,
    overwrite: bool = False,
    check: bool = False,
    progress: bool = True,
    segment_seconds: SegmentSeconds = None,
    max_retries: int = MAX_RETRIES,
    notify: Optional[Callable[[str], None]] = None,
) -> BatchSummary:
    """Anonymize every video of ``inputs`` into ``out_dir`` on Ray, one task per file; returns what happened to each.

    ``inputs``: files, folders (their video files, recursively), ``@list.txt`` files and fsspec
    URLs (see :mod:`anonfilter.batch.inputs`). ``resume``: skip files whose per-file report says
    they were done with the same options. ``overwrite``: replace outputs of earlier runs (without
    it and without ``resume`` existing outputs are refused before anything runs). ``check``: run
    the leak audit on each output. Writes ``summary.json`` and ``summary.html`` into ``out_dir``.

    Raises :class:`AnonfilterError` for what was asked (nothing runs then); a file that fails is
    in the summary (:attr:`BatchSummary.failed`), the other files are still done.
    """
    config = config or Config()
    notify = notify or _to_stderr
    import_ray()  # missing: one line before anything is looked at
    if cpus_per_task < 1 or gpus_per_task < 0:
        raise AnonfilterError("--cpus-per-task must be at least 1 and --gpus-per-task at least 0")
    segmented = segment_engine(segment_seconds) if segment_seconds is not None else None
    out = Path(out_dir)
    items = discover(inputs, exclude=out)
    out.mkdir(parents=True, exist_ok=True)
    settings = TaskSettings(str(out), options_hash(config, check), cpus_per_task, gpus_per_task, check)
    summary = BatchSummary(str(out), check=check)
    pending = _to_run(items, settings, resume, overwrite, summary)
    start = time.monotonic()
    with _bar(len(items), progress) as bar:
        bar.update(len(summary.files))
        with connected(ray_address) if pending else contextlib.nullcontext(False) as own:
            if pending:
                _check_nodes(settings, own, notify)
            files: Iterator[FileResult]
            if segmented is not None:
                files = (anonymize_file(item, config, settings, segmented(cpus_per_task, gpus_per_task)) for item in pending)
            else:
                files = _run_tasks(pending, config, settings, max_retries)
            for result in files:
                summary.files.append(result)
                with bar.external_write_mode(file=sys.stderr):
                    for note in result.notes:
                        notify(f"{result.source}: {note}")
                frames = sum(r.frames for r in summary.files if r.status == "done")
                bar.set_postfix_str(f"{frames} frames, {frames / max(time.monotonic() - start, 1e-6):.1f} frames/s", refresh=False)
                bar.update(1)
    summary.seconds = time.monotonic() - start
    order = {item.source: index for index, item in enumerate(items)}
    summary.files.sort(key=lambda result: order[result.source])
    summary.write()
    for line in summary.lines():
        notify(line)
    return summary


def _to_run(items: list[BatchItem], settings: TaskSettings, resume: bool, overwrite: bool, summary: BatchSummary) -> list[BatchItem]:
    """The items to run; with ``resume`` the finished ones go into ``summary`` as skipped. Existing outputs are refused
    unless ``resume`` or ``overwrite`` allow replacing them."""
    pending, clashes = [], []
    for item in items:
        output = output_path(Path(settings.out_dir), item.relative)
        done = finished(report_path(output), settings.options_hash, fingerprint(item.source)) if resume and output.exists() else None
        skipped = _skipped(done)
        if skipped is not None:
            summary.files.append(skipped)
            continue
        if output.exists() and not (resume or overwrite):
            clashes.append(output)
        pending.append(item)
    if clashes:
        raise AnonfilterError(
            f"{len(clashes)} outputs exist already, e.g. {clashes[0]}; use --resume to skip the files done with the same "
            "options (and redo the others), or --overwrite to redo them all"
        )
    return pending


def _skipped(done: Optional[dict[str, Any]]) -> Optional[FileResult]:
    """The result a done-marker holds, as a skipped file; None when there is none (or one of another version)."""
    if done is None:
        return None
    try:
        return FileResult(**{**done["result"], "status": "skipped", "notes": []})
    except (TypeError, KeyError):
        return None


def _run_tasks(items: list[BatchItem], config: Config, settings: TaskSettings, max_retries: int) -> Iterator[FileResult]:
    """Run a Ray task per item and yield the results as they finish; a task that died too often is its file's failure."""
    ray = import_ray()
    task = ray.remote(anonymize_file).options(
        num_cpus=settings.cpus, num_gpus=settings.gpus, max_retries=max_retries, retry_exceptions=False
    )
    config_ref = ray.put(config)
    sources = {task.remote(item, config_ref, settings): item for item in items}
    waiting = list(sources)
    try:
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            item = sources[ready[0]]
            try:
                yield ray.get(ready[0])
            except ray.exceptions.RayError as error:
                output = output_path(Path(settings.out_dir), item.relative)
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                yield FileResult(item.source, str(output), str(report_path(output)), "failed", f"its task failed: {reason}")
    finally:
        for ref in waiting:  # interrupted: stop what still runs on a cluster
            ray.cancel(ref, force=True)


def ray_map(
    fn: Callable[[Any], Any], items: Sequence[Any], *, num_cpus: float = 1, num_gpus: float = 0, max_retries: int = MAX_RETRIES
) -> list[Any]:
    """``[fn(item) for item in items]`` as Ray tasks, in order (``fn`` and ``items`` picklable); the first error is raised.

    The ``map_tasks`` of segment-parallel runs; Ray must be connected (:func:`connected`).
    """
    ray = import_ray()
    task = ray.remote(_apply).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries)
    function = ray.put(fn)
    return list(ray.get([task.remote(function, item) for item in items]))


def _apply(fn: Callable[[Any], Any], item: Any) -> Any:
    """``fn(item)``: the Ray task of :func:`ray_map` (any picklable callable, a builtin or a ``functools.partial`` too)."""
    return fn(item)


def segment_engine(segment_seconds: SegmentSeconds) -> Callable[[int, float], Engine]:
    """SEGMENT-PARALLEL HOOK (issue 20, part B): the engine that writes one file in segments on Ray.

    Returns, for a task's CPUs and GPUs, an engine calling
    ``anonfilter.segments.anonymize_segmented(config, input_path, output_path, segment_seconds, map_tasks)``
    with :func:`ray_map` as ``map_tasks``. Until that module exists, asking for segments is an
    :class:`AnonfilterError`.
    """
    try:
        from anonfilter.segments import anonymize_segmented  # noqa: PLC0415 - issue 20, part B
    except ImportError:
        raise AnonfilterError(
            "--segment-seconds is not available in this build (segment-parallel runs come with issue 20, part B)"
        ) from None

    def engine_for(cpus: int, gpus: float) -> Engine:
        map_tasks = functools.partial(ray_map, num_cpus=cpus, num_gpus=gpus)

        def engine(input: str, output: Path, config: Config, report: Path, notify: Callable[[str], None]) -> Any:
            output.unlink(missing_ok=True)  # an unfinished output of an earlier run (the batch checked it may go)
            return anonymize_segmented(config, input, output, segment_seconds, map_tasks)

        return engine

    return engine_for


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


def _check_nodes(settings: TaskSettings, own: bool, notify: Callable[[str], None]) -> None:
    """Refuse tasks no node of our own Ray can run (they would wait for ever); on a cluster, say they wait (it may grow)."""
    problem = too_small(import_ray().nodes(), settings.cpus, settings.gpus)
    if problem is not None and own:
        raise AnonfilterError(problem)
    if problem is not None:
        notify(f"{problem} now; the tasks wait until the cluster has such a node")


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


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise AnonfilterError("anonfilter batch needs Ray: pip install 'anonfilter[ray]'") from None
    return ray


def _bar(total: int, progress: bool) -> tqdm:
    """The batch's one progress bar (files; frames and frames/s after them), on stderr when it is a terminal."""
    return tqdm(total=total, unit="file", desc="batch", disable=not progress or not sys.stderr.isatty(), dynamic_ncols=True)


def _to_stderr(message: str) -> None:
    print(f"anonfilter: {message}", file=sys.stderr)
