"""The driver: plan a long video into segments, run them as tasks, stitch identities, join, report.

:func:`anonymize_segmented` is :func:`anonfilter.api.anonymize` for one long file, its segments
run by any executor (``map_tasks``): in this process (:func:`serial_map`), in local processes
(:func:`process_pool_map`), or on a cluster (the batch command's Ray tasks). Its output is the
single run's in frame count, timestamps, size and streams; docs/scaling.md ("One long file in
segments") says what else is guaranteed, and why.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from anonfilter.api import (
    Report,
    anonymize,
    as_ran,
    check_plugin_options,
    check_report_path,
    check_strict,
    end_notes,
    plugin_host,
    write_audit_report,
)
from anonfilter.assembly import detection_schedule
from anonfilter.config import Config
from anonfilter.errors import AnonfilterError, RunFailure
from anonfilter.pipeline import Failure, report_to_stderr
from anonfilter.plugins import PluginHost
from anonfilter.report import RunReport
from anonfilter.segments.executors import MapTasks, serial_map
from anonfilter.segments.join import join_segments
from anonfilter.segments.plan import (
    PacketIndex,
    SegmentLength,
    check_segment_length,
    index_packets,
    plan_segments,
    segment_frames,
    tracker_lookahead,
    warmup_frames,
)
from anonfilter.segments.stitch import stitch
from anonfilter.segments.task import (
    SegmentJob,
    SegmentStats,
    TrackResult,
    anonymize_segment,
    merged_seconds,
    render_segment,
    track_segment,
)
from anonfilter.tracking.settings import TrackerSettings
from ffmpeg_bridge.outputfile import PARTIAL, check_output
from ffmpeg_bridge.reading import InputDamage, probe
from ffmpeg_bridge.source import STDIO, VideoInfo, is_url
from ffmpeg_bridge.transcoder import check_damage


def anonymize_segmented(
    config: Optional[Config],
    input_path: Union[str, os.PathLike[str]],
    output_path: Union[str, os.PathLike[str]],
    segment_seconds: SegmentLength,
    map_tasks: MapTasks = serial_map,
    *,
    workers: Optional[int] = None,
    overwrite: bool = False,
    container_format: Optional[str] = None,
    audit_report: Optional[Path] = None,
    host: Optional[PluginHost] = None,
    notify: Optional[Callable[[str], None]] = None,
) -> Report:
    """Anonymize ``input_path`` into ``output_path`` in segments of ``segment_seconds`` run by ``map_tasks``.

    ``segment_seconds``: seconds, or ``"auto"`` (from the video's length and ``workers``, see
    :func:`~anonfilter.segments.plan.segment_frames`). ``map_tasks(fn, items)`` runs the
    picklable module-level ``fn`` over the picklable ``items`` and returns the results in
    order; the tasks read the input and write into a temporary folder beside the output, so
    workers on other machines must see both paths. ``audit_report``: also write the audit
    report there (a face's track is split at each segment border it crosses). A video that makes one segment, or whose
    packets cannot be planned on, is run as :func:`anonfilter.api.anonymize` runs it (with a
    note). Errors are :func:`~anonfilter.api.anonymize`'s: :class:`AnonfilterError` for what
    was asked (nothing written), :class:`RunFailure` for a failure while running (nothing
    written, every temporary file removed).
    """
    started = time.perf_counter()
    config = config or Config()
    notify = notify or report_to_stderr
    host = host or plugin_host(notify)
    check_plugin_options(config, host)
    if audit_report is not None:
        check_report_path(audit_report)
    check_segment_length(segment_seconds)
    input_name, output_name = str(input_path), str(output_path)
    if STDIO in (input_name, output_name) or is_url(input_name):
        raise AnonfilterError("segments need a local input file and output file (not standard input or output, nor a URL)")
    info = probe(input_name)
    format_name = check_output(input_name, output_name, overwrite, container_format)
    config.encoder.codec_or_error()
    if config.expect_faces:  # checked over the whole video below, not per segment
        config = dataclasses.replace(config, expect_faces=False)
        expect_faces = True
    else:
        expect_faces = False
    index = index_packets(input_name)
    detect_every, mode = detection_schedule(config, host, info.display_size)
    per_segment = segment_frames(segment_seconds, index.frames if index else info.frames or 0, info.fps, workers)
    if index is None or per_segment >= index.frames:
        notify(f"{input_name} is run in one piece ({'its packets cannot be planned on' if index is None else 'one segment'})")
        return anonymize(
            input_name,
            output_name,
            dataclasses.replace(config, expect_faces=expect_faces),
            overwrite=overwrite,
            container_format=container_format,
            audit_report=audit_report,
            host=host,
            notify=notify,
        )
    lookahead = tracker_lookahead(config, info.fps)
    warmup = warmup_frames(info.fps, lookahead, detect_every)
    segments = plan_segments(index, per_segment, warmup, lookahead, detect_every)
    notify(f"{input_name}: {len(segments)} segments of about {per_segment / info.fps:.0f} s")
    work = _work_folder(Path(output_name))
    try:
        jobs = [SegmentJob(config, input_name, info, index, segment, str(work), format_name) for segment in segments]
        stats, extra = _run(jobs, config, host, map_tasks)
        audit = merged_audit([part.audit for part in stats])
        if expect_faces and not audit.frames_with_faces:
            raise RunFailure(
                f"no face was found in {index.frames} frames (--expect-faces); nothing written. "
                "Check the detector and its options (-D), or leave out --expect-faces for a video without people"
            )
        refused = join_segments(
            input_name,
            output_name,
            info,
            config,
            [job.packets for job in jobs],
            [part.extradata for part in stats],
            format_name,
            overwrite,
            notify,
            lambda refused: check_damage(input_damage(index, stats, refused).summary(info), config.strict, notify),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = _report(dataclasses.replace(config, expect_faces=expect_faces), info, index, stats, extra, refused, detect_every, mode)
    report.seconds["total"] = time.perf_counter() - started
    for note in end_notes(report):
        notify(note)
    if audit_report is not None:
        write_audit_report(audit, report, input_name, output_name, audit_report, host, notify)
    check_strict(report, output_name)
    return report


def makes_segments(input_path: Union[str, os.PathLike[str]], segment_seconds: SegmentLength, workers: Optional[int] = None) -> bool:
    """Whether :func:`anonymize_segmented` would cut this file into more than one segment (False for what it cannot
    plan on: a URL, standard input, a file FFmpeg cannot read or whose packets give no plan).

    Cheap enough to ask of every file of an archive: the frame count the container states (or its
    estimate from duration and rate) decides; only where there is none are the packets counted.
    """
    name = str(input_path)
    if name == STDIO or is_url(name):
        return False
    try:
        info = probe(name)
        if info.frames:
            frames = info.frames
        else:
            index = index_packets(name)
            if index is None:
                return False
            frames = index.frames
    except (AnonfilterError, OSError):
        return False
    return segment_frames(segment_seconds, frames, info.fps, workers) < frames


def _run(jobs: list[SegmentJob], config: Config, host: PluginHost, map_tasks: MapTasks) -> tuple[list[SegmentStats], list[SegmentStats]]:
    """Run the segment tasks: one pass, or, for a method that uses identity keys, track, stitch, render.

    Returns the stats of the tasks that wrote the segments, and of the tracking pass (if any).
    """
    if not host.method_spec(config.method).uses_identity or config.tracking.tracker == "none":
        return map_tasks(anonymize_segment, jobs), []
    tracks: list[TrackResult] = map_tasks(track_segment, jobs)
    keys = stitch([job.segment for job in jobs], tracks, config.identity.seed, TrackerSettings.reid_distance)
    renders = []
    for job, result in zip(jobs, tracks):
        segment = job.segment
        faces = {
            index: [dataclasses.replace(face, identity_key=keys[segment.number, face.identity_key]) for face in result.faces.get(index, [])]
            for index in range(segment.start, segment.end)
        }
        renders.append(dataclasses.replace(job, faces=faces))
    return map_tasks(render_segment, renders), [result.stats for result in tracks]


def _report(
    config: Config,
    info: VideoInfo,
    index: PacketIndex,
    stats: Sequence[SegmentStats],
    tracking: Sequence[SegmentStats],
    refused: int,
    detect_every: int,
    mode: str,
) -> Report:
    """The single run's :class:`Report` from the segments' stats (busy seconds and detector runs of every pass summed)."""
    failures: dict[str, Failure] = {}
    for part in stats:
        for failure in part.failures:
            known = failures.get(failure.message)
            if known is None:
                failures[failure.message] = dataclasses.replace(failure)
            else:
                known.frames += failure.frames
                known.first_frame = min(known.first_frame, failure.first_frame)
    runs: dict[str, int] = {}
    for part in [*stats, *tracking]:
        for kind, count in part.detector_runs.items():
            runs[kind] = runs.get(kind, 0) + count
    damage = input_damage(index, stats, refused)
    searched = next((part.search for part in [*tracking, *stats] if part.search is not None), None)
    return Report(
        as_ran(config, detect_every, mode),
        info,
        sum(part.frames for part in stats),
        sum(part.audit.frames_with_faces for part in stats),
        sorted(frame for part in stats for frame in part.obscured_frames),
        list(failures.values()),
        merged_seconds([part.seconds for part in [*stats, *tracking]]),
        damage.as_dict(info),
        runs if mode == "focused" else {},
        searched,
    )


def input_damage(index: PacketIndex, stats: Sequence[SegmentStats], refused: int) -> InputDamage:
    """What the segments found wrong with the input, counted as a single run's reader counts it.

    A segment task stops at a packet it cannot decode, so what is left to find is a video that
    ends before the container says (a cut-off file: the summary compares the end with the
    declared length), frames decoded with errors concealed, and packets the muxer refused.
    """
    start = float(index.pts[0] * index.time_base)
    return InputDamage(
        corrupt=sum(part.corrupt for part in stats),
        unmuxable=refused,
        decoded=index.frames,
        end=max(part.end_time for part in stats) - start,
    )


def merged_audit(parts: Sequence[RunReport]) -> RunReport:
    """The segments' audit collectors as one, in order; each segment's track ids moved past the previous segments'."""
    merged = RunReport()
    for part in parts:
        offset = max(merged.tracks, default=-1) + 1
        for track in part.tracks.values():
            merged.tracks[offset + track.track_id] = dataclasses.replace(track, track_id=offset + track.track_id)
        merged.low_confidence_frames += [{**low, "track_id": offset + low["track_id"]} for low in part.low_confidence_frames]
        merged.frames += part.frames
        merged.frames_with_faces += part.frames_with_faces
    return merged


def _work_folder(output: Path) -> Path:
    """A new hidden folder beside ``output`` for the segments' packet files (removed at the end, whatever happens).

    Named as an unfinished output file is (``.NAME.RANDOM.partial.EXT``), so that one a killed
    driver left behind is reported by later runs to the same output (it is not a video: remove it).
    """
    try:
        return Path(tempfile.mkdtemp(prefix=f".{output.stem}.", suffix=f"{PARTIAL}{output.suffix}", dir=output.parent))
    except OSError as error:
        raise AnonfilterError(f"cannot write to output folder {output.parent} ({error.strerror})") from None
