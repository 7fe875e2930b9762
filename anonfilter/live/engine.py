"""The live engine: the CLI's pipeline in live mode, between a frame source and the bridge to OBS.

Each frame goes source -> :class:`~anonfilter.pipeline.Anonymizer` (live tracker: no lookahead,
lost tracks coast) -> the bridge's ``OUT`` slot, stamped with the source frame's index and capture
time so the OBS script can tell how late it is. Only frames returned by the Anonymizer (which has
run the method on them, or obscured them whole) are ever written to ``OUT``.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from typing import Callable, Optional

import cv2
import numpy as np

from anonfilter.assembly import LIVE_DETECTOR_DEFAULTS, build_anonymizer
from anonfilter.config import Config
from anonfilter.detection.guarantee import DETECTOR_SMALLEST_FACE
from anonfilter.errors import AnonfilterError
from anonfilter.live.recorder import LiveRecorder
from anonfilter.live.sources import Captured, FrameSource
from anonfilter.pipeline import Anonymizer
from anonfilter.plugins import PluginHost
from anonfilter.types import FrameInfo
from obs_script.bridge import OUT, RUNNING, STOPPED, Bridge

ORPHAN_SECONDS = 5.0
"""The engine stops when the OBS script has not shown a sign of life for this long."""


def build_live_anonymizer(config: Optional[Config], host: PluginHost, fps: float, frame_size: tuple[int, int]) -> Anonymizer:
    """The live pipeline ``config`` asks for (None: the defaults, no delay), for frames of ``frame_size`` at ``fps``.

    Without a delay: a live tracker (no lookahead, lost faces coast) and detection on every
    frame. With ``config.delay``: the file pipeline, frames held back as long as the delay
    allows so that a face is covered from its first frame (:func:`anonfilter.assembly.delayed`).
    """
    return build_anonymizer(config or Config(), host, fps, frame_size, live=True)


def protection(config: Config, width: int, height: int) -> str:
    """What the live engine protects with ``config``, in words (shown in the OBS script's status)."""
    if config.delay:
        return f"delay {config.delay:g} s: faces covered from their first frame"
    resolution = 0
    for option in (*LIVE_DETECTOR_DEFAULTS, *config.detection.options):
        key, _, value = option.partition("=")
        if key == "resolution" and value.isdigit():
            resolution = int(value)
    if config.detection.detector != "centerface" or not resolution:
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
        for frame, done, _ in self.anonymizer.push(captured.frame, info):
            stamp = self._stamps.pop(done.index)
            self.bridge.publish(OUT, stamp.index, stamp.capture_ns, lambda: cv2.cvtColor(frame, cv2.COLOR_RGB2BGRA, dst=self._out))
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
