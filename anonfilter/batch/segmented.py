"""``--segment-seconds``: one file of a batch anonymized in segments, the segments run as Ray tasks.

:func:`segment_engine` gives the batch an engine (see :data:`anonfilter.batch.task.Engine`)
that calls :func:`anonfilter.segments.anonymize_segmented` with :func:`~anonfilter.batch.raytools.ray_map`
as its ``map_tasks``; docs/scaling.md, "One long file in segments", says what it guarantees.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Union

from anonfilter.api import Report
from anonfilter.batch.raytools import import_ray, ray_map
from anonfilter.batch.task import Engine
from anonfilter.config import Config
from anonfilter.segments import anonymize_segmented

SegmentSeconds = Union[float, str, None]
"""Seconds per segment of a segment-parallel run, ``"auto"``, or None (one task per file)."""


def segment_engine(segment_seconds: Union[float, str]) -> Callable[[int, float], Engine]:
    """The engine that writes one file in segments of ``segment_seconds`` on Ray, for a task's CPUs and GPUs.

    With ``"auto"`` the segments are planned for as many workers as the cluster has CPUs for
    tasks of that size. The engine writes the file's audit report as a single run does.
    """

    def engine_for(cpus: int, gpus: float) -> Engine:
        map_tasks = functools.partial(ray_map, num_cpus=cpus, num_gpus=gpus)

        def engine(input: str, output: Path, config: Config, report: Path, notify: Callable[[str], None]) -> Report:
            def note(message: str) -> None:  # the batch names the file before each of its notes
                notify(message.removeprefix(f"{input}: "))

            workers = segment_workers(cpus)
            return anonymize_segmented(
                config, input, output, segment_seconds, map_tasks, workers=workers, overwrite=True, audit_report=report, notify=note
            )

        return engine

    return engine_for


def segment_workers(cpus: int) -> int:
    """How many segment tasks of ``cpus`` CPUs the connected Ray cluster runs at once (what ``"auto"`` plans for)."""
    return max(1, int(import_ray().cluster_resources().get("CPU", cpus) // cpus))
