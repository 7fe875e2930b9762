"""The batch driver: one Ray task per file, resume, one progress bar, the summary.

Ray is connected by :func:`anonfilter.batch.raytools.connected`: an embedded single-node Ray,
a cluster, or the process's own connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

from tqdm import tqdm

from anonfilter.batch.inputs import BatchItem, discover, fingerprint
from anonfilter.batch.raytools import MAX_RETRIES, connected, import_ray, too_small
from anonfilter.batch.records import finished, options_hash, output_path, report_path
from anonfilter.batch.segmented import SegmentSeconds, segment_engine, segment_workers
from anonfilter.batch.summary import BatchSummary
from anonfilter.batch.task import FileResult, TaskSettings, anonymize_file
from anonfilter.config import Config
from anonfilter.errors import AnonfilterError
from anonfilter.segments import makes_segments


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
    out = Path(out_dir).absolute()
    config = dataclasses.replace(
        config, identity=dataclasses.replace(config.identity, keep=tuple(map(os.path.abspath, config.identity.keep)))
    )
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
            if pending:
                summary.forget()  # an interrupted batch leaves no summary of an earlier one behind
            whole, in_segments = _split(pending, segment_seconds, settings)
            files: Iterator[FileResult] = _run_tasks(whole, config, settings, max_retries) if whole else iter(())
            if in_segments and segmented is not None:  # one file after another, each one's segments over the whole cluster
                engine = segmented(cpus_per_task, gpus_per_task)
                files = itertools.chain(files, (anonymize_file(item, config, settings, engine) for item in in_segments))
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


def _split(items: list[BatchItem], segment_seconds: SegmentSeconds, settings: TaskSettings) -> tuple[list[BatchItem], list[BatchItem]]:
    """The items to run whole, one Ray task each, and those long enough to run in segments (``--segment-seconds``)."""
    if segment_seconds is None or not items:
        return items, []
    workers = segment_workers(settings.cpus)
    whole: list[BatchItem] = []
    in_segments: list[BatchItem] = []
    for item in items:
        (in_segments if makes_segments(item.source, segment_seconds, workers) else whole).append(item)
    return whole, in_segments


def _check_nodes(settings: TaskSettings, own: bool, notify: Callable[[str], None]) -> None:
    """Refuse tasks no node of our own Ray can run (they would wait for ever); on a cluster, say they wait (it may grow)."""
    problem = too_small(import_ray().nodes(), settings.cpus, settings.gpus)
    if problem is not None and own:
        raise AnonfilterError(problem)
    if problem is not None:
        notify(f"{problem} now; the tasks wait until the cluster has such a node")


def _bar(total: int, progress: bool) -> tqdm:
    """The batch's one progress bar (files; frames and frames/s after them), on stderr when it is a terminal."""
    return tqdm(total=total, unit="file", desc="batch", disable=not progress or not sys.stderr.isatty(), dynamic_ncols=True)


def _to_stderr(message: str) -> None:
    print(f"anonfilter: {message}", file=sys.stderr)
