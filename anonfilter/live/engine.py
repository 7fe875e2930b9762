"""The live engine: the CLI's pipeline in live mode, between a frame source and the bridge to OBS.

Each frame goes source -> :class:`~anonfilter.pipeline.Anonymizer` (live tracker: no lookahead,
lost tracks coast) -> the bridge's ``OUT`` slot, stamped with the source frame's index and capture
time so the OBS script can tell how late it is. Only frames returned by the Anonymizer (which has
run the method on them, or obscured them whole) are ever written to ``OUT``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from typing import Callable, Optional

import cv2
import numpy as np

from anonfilter.commands.pipeline_options import add_pipeline_arguments, anonymizer_from_args
from anonfilter.detection.guarantee import DETECTOR_SMALLEST_FACE
from anonfilter.errors import AnonfilterError
from anonfilter.live.recorder import LiveRecorder
from anonfilter.live.sources import Captured, FrameSource
from anonfilter.pipeline import DEFAULT_DETECT_EVERY, Anonymizer, default_detect_every
from anonfilter.plugins import PluginHost
from anonfilter.schema import check_arguments, range_of
from anonfilter.tracking.options import DEFAULTS
from anonfilter.types import FrameInfo
from obs_script.bridge import OUT, RUNNING, STOPPED, Bridge

LIVE_DETECTOR_DEFAULTS = ("resolution=640",)
"""Live without a delay, the detector sees frames scaled to 640 pixels on their longer side unless
told otherwise (``-D resolution=...``): about 2.5x faster than full 720p. It finds faces from
about :data:`~anonfilter.detection.guarantee.DETECTOR_SMALLEST_FACE` pixels as it sees them, so
at 1080p from about 48 px (:func:`protection`; measured with bench/live_coverage.py, see
docs/obs.md). With ``--delay`` the detector runs as it does for files."""

ORPHAN_SECONDS = 5.0
"""The engine stops when the OBS script has not shown a sign of life for this long."""


def build_live_anonymizer(
    args: Optional[argparse.Namespace] = None,
    fps: float = 30.0,
    host: Optional[PluginHost] = None,
    frame_size: Optional[tuple[int, int]] = None,
) -> Anonymizer:
    """The live pipeline for parsed ``anonfilter live`` options (None: all defaults).

    Without a delay: a live tracker (no lookahead, lost faces coast) and detection on every frame.
    With ``--delay``: the file pipeline (:func:`delayed_options`), frames held back as long as the
    delay allows so that a face is covered from its first frame.
    """
    if args is None:
        args = default_live_options()
    if args.delay:
        return anonymizer_from_args(delayed_options(args, fps, frame_size), fps, live=False, host=host, frame_size=frame_size)
    return anonymizer_from_args(args, fps, live=True, host=host, detector_defaults=LIVE_DETECTOR_DEFAULTS)


def default_live_options() -> argparse.Namespace:
    """The options of ``anonfilter live`` with nothing given (no delay)."""
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, live=True)
    add_delay_argument(parser)
    return parser.parse_args([])


def add_delay_argument(parser: argparse.ArgumentParser) -> None:
    """``--delay SECONDS``: the delayed live mode."""
    parser.add_argument(
        "--delay", type=float, default=0.0, metavar="SECONDS",
        help="hold frames this long and use the file pipeline's lookahead, so that a face is covered from its first "
        f"frame even when the detector finds it later (default: 0, no delay; 1-2 s gives the protection of a file"
        f"{range_of('delay')})",
    )


def delayed_options(args: argparse.Namespace, fps: float, frame_size: Optional[tuple[int, int]]) -> argparse.Namespace:
    """The file pipeline's options for a live stream delayed by ``args.delay`` seconds.

    The delay in frames is spent on waiting for the next detector run (``--detect-every``, by
    frame size as for files; frames wait for it only when it is more than 1) and on the offline
    tracker's lookahead: ``--max-gap`` is as long as the rest allows, and ``--extend`` before a
    face's first detection at most that long.
    """
    check_arguments(args)
    detect_every = args.detect_every or (default_detect_every(*frame_size) if frame_size else DEFAULT_DETECT_EVERY)
    lookahead = round(args.delay * fps) - (detect_every if detect_every > 1 else 0)
    if lookahead < 2:
        shortest = (round(args.delay * fps) - lookahead + 2) / fps
        raise AnonfilterError(f"--delay {args.delay:g} is too short at {fps:g} fps: at least {shortest:.2f} s")
    max_gap = (lookahead - 1) / fps
    extend_before = min(DEFAULTS.extend_before, max_gap)
    return argparse.Namespace(
        **{**vars(args), "detect_every": detect_every, "max_gap": max_gap, "extend": (extend_before, DEFAULTS.extend_after)}
    )


def protection(args: argparse.Namespace, width: int, height: int) -> str:
    """What the live engine protects with these options, in words (shown in the OBS script's status)."""
    if args.delay:
        return f"delay {args.delay:g} s: faces covered from their first frame"
    resolution = 0
    for option in (*LIVE_DETECTOR_DEFAULTS, *args.detector_option):
        key, _, value = option.partition("=")
        if key == "resolution" and value.isdigit():
            resolution = int(value)
    if args.detector != "centerface" or not resolution:
        return "no delay"
    smallest = math.ceil(DETECTOR_SMALLEST_FACE * max(1.0, max(width, height) / resolution))
    return f"no delay: faces from {smallest} px"


def percentiles(latencies_ms: list[float]) -> str:
    """``"p50 X ms, p95 Y ms"`` of per-frame latencies (or a note that there were none)."""
    if not latencies_ms:
        return "no frames"
    p50, p95 = np.percentile(latencies_ms, [50, 95])
    return f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(latencies_ms):.1f} ms"


class LiveEngine:
    """Anonymizes frames from ``source`` into ``bridge``'s ``OUT`` slot until stopped.

    It also keeps the bridge header current: engine state and heartbeat, frames done, the last
    frame's latency, and switches method when the script asks for another one.
    """

    def __init__(
        self,
        bridge: Bridge,
        source: FrameSource,
        anonymizer: Anonymizer,
        host: PluginHost,
        report: Callable[[str], None] = lambda message: print(f"anonfilter live: {message}", file=sys.stderr),
        protection: str = "",
        recorder: Optional[LiveRecorder] = None,
    ) -> None:
        self.bridge = bridge
        self.protection = protection
        """What this engine protects, in words (:func:`protection`); part of the status message."""
        self.recorder = recorder
        """Also encodes every published frame into a file (``--record``)."""
        self.source = source
        self.anonymizer = anonymizer
        self.host = host
        self.report = report
        self.latencies_ms: list[float] = []
        """Per-frame time from having the frame to having written it out (source wait excluded)."""
        self.output_delays_ms: list[float] = []
        """Per published frame: time from its capture to its publication (with ``--delay``, the delay)."""
        self._out = np.frombuffer(bridge.data(OUT), np.uint8).reshape(bridge.height, bridge.width, 4)
        self._method_seq = int(bridge.get("method_seq"))
        self._stamps: dict[int, Captured] = {}
        self._last_index = -1
        self._first_ns: Optional[int] = None
        self.script_gone = False
        """Set when :meth:`run` stopped because the OBS script stopped answering (the bridge is then orphaned)."""

    def run(self, max_frames: Optional[int] = None, stop: Optional[threading.Event] = None) -> None:
        """Process frames until ``stop`` is set, ``max_frames`` are done, or the script is gone."""
        self.bridge.set("engine_pid", os.getpid())
        self.bridge.set("message", self._status())
        self.bridge.set("engine_state", RUNNING)
        try:
            while not (stop is not None and stop.is_set()):
                if max_frames is not None and len(self.latencies_ms) >= max_frames:
                    break
                self.bridge.beat("engine_heartbeat_ns")
                if self._script_gone():
                    self.report("the OBS script stopped answering; exiting")
                    self.script_gone = True
                    break
                self._switch_method_if_asked()
                captured = self.source.next(timeout=0.1)
                if captured is not None:
                    self.process(captured)
        finally:
            self.release()
        self.bridge.set("engine_state", STOPPED)
        self.bridge.set("message", "stopped")

    def process(self, captured: Captured) -> None:
        """Anonymize one frame and write every frame the pipeline finishes into ``OUT``."""
        started = time.perf_counter()
        index = self._index(captured.capture_ns)
        self._stamps[index] = captured
        info = FrameInfo(index, captured.capture_ns / 1e9, self.bridge.width, self.bridge.height, live=True)
        for frame, done in self.anonymizer.push(captured.frame, info):
            stamp = self._stamps.pop(done.index)
            self.bridge.publish(
                OUT, stamp.index, stamp.capture_ns, lambda: cv2.cvtColor(frame, cv2.COLOR_RGB2BGRA, dst=self._out)
            )
            self.output_delays_ms.append((time.monotonic_ns() - stamp.capture_ns) / 1e6)
            if self.recorder is not None:
                self.recorder.write(frame, stamp.index)
            self.bridge.set("frames_done", int(self.bridge.get("frames_done")) + 1)
        elapsed = time.perf_counter() - started
        self.latencies_ms.append(elapsed * 1000)
        self.bridge.set("latency_us", int(elapsed * 1e6))

    def _index(self, capture_ns: int) -> int:
        """The pipeline's index of a frame. Without lookahead, frames are counted. With it (``--delay``)
        the index is the frame's capture time in frames of the nominal rate, so frames the engine
        skipped leave gaps and the lookahead lasts the delay in time, however many frames arrive."""
        if self._first_ns is None:
            self._first_ns = capture_ns
        index = self._last_index + 1
        if self.anonymizer.looks_ahead:
            index = max(index, round((capture_ns - self._first_ns) * self.source.fps / 1e9))
        self._last_index = index
        return index

    def release(self) -> None:
        """Drop the engine's view of the bridge's output slot (the bridge can be unmapped only then)."""
        self._out = np.empty((0, 0, 4), np.uint8)

    def _status(self) -> str:
        """The status message: running, the method, and what is protected."""
        return "; ".join(part for part in (f"running, method {self.anonymizer.method_name}", self.protection) if part)

    def _script_gone(self) -> bool:
        beat = int(self.bridge.get("script_heartbeat_ns"))
        return beat != 0 and time.monotonic_ns() - beat > ORPHAN_SECONDS * 1e9

    def _switch_method_if_asked(self) -> None:
        seq = int(self.bridge.get("method_seq"))
        if seq == self._method_seq:
            return
        self._method_seq = seq
        name = str(self.bridge.get("method"))
        try:
            self.anonymizer.method = self.host.create_method(name)
        except AnonfilterError as error:
            self.bridge.set("message", str(error))
            self.report(str(error))
            return
        self.anonymizer.method_name = name
        self.bridge.set("message", self._status())
        self.report(f"method is now {name}")
