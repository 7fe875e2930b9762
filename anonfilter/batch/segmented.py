"""SEGMENT-PARALLEL HOOK (issue 20, part B): ``--segment-seconds`` runs one file in segments on Ray.

The seam is :func:`segment_engine`: it calls ``anonfilter.segments.anonymize_segmented`` (part B)
with :func:`~anonfilter.batch.raytools.ray_map` as its ``map_tasks``; until that module exists,
asking for segments is one line (exit 2).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Union

from anonfilter.batch.raytools import ray_map
from anonfilter.batch.task import Engine
from anonfilter.config import Config
from anonfilter.errors import AnonfilterError

SegmentSeconds = Union[float, str, None]
"""Seconds per segment of a segment-parallel run, ``"auto"``, or None (one task per file)."""


def segment_engine(segment_seconds: SegmentSeconds) -> Callable[[int, float], Engine]:
    """SEGMENT-PARALLEL HOOK (issue 20, part B): the engine that writes one file in segments on Ray.

    Returns, for a task's CPUs and GPUs, an engine calling
    ``anonfilter.segments.anonymize_segmented(config, input_path, output_path, segment_seconds, map_tasks)``
    with :func:`ray_map` as ``map_tasks``. Until that module exists, asking for segments is an
    :class:`AnonfilterError`.
    """
    try:
        from anonfilter.segments import anonymize_segmented  # noqa: PLC0415 - issue 20, part B
    except ModuleNotFoundError as error:
        if error.name != "anonfilter.segments":  # the module is there, but something it needs is not
            raise
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
