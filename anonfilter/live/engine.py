"""The live engine: the CLI's pipeline in live mode, between a frame source and the bridge to OBS.

Each frame goes source -> :class:`~anonfilter.pipeline.Anonymizer` (live tracker: no lookahead,
lost tracks coast) -> the bridge's ``OUT`` slot, stamped with the source frame's index and capture
time so the OBS script can tell how late it is. Only frames returned by the Anonymizer (which has
run the method on them, or obscured them whole) are ever written to ``OUT``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Callable, Optional

import cv2
import numpy as np

from anonfilter.commands.pipeline_options import add_pipeline_arguments, anonymizer_from_args
from anonfilter.errors import AnonfilterError
from anonfilter.live.sources import Captured, FrameSource
from anonfilter.pipeline import Anonymizer
from anonfilter.plugins import PluginHost
from anonfilter.types import FrameInfo
from obs_script.bridge import OUT, RUNNING, STOPPED, Bridge

LIVE_DETECTOR_DEFAULTS = ("resolution=640",)
"""Live, the detector sees frames scaled to 640 pixels on their longer side unless told otherwise
(``-D resolution=...``): about 2.5x faster than full 720p, and faces in a webcam picture are large."""

ORPHAN_SECONDS = 5.0
"""The engine stops when the OBS script has not shown a sign of life for this long."""


def build_live_anonymizer(
    args: Optional[argparse.Namespace] = None, fps: float = 30.0, host: Optional[PluginHost] = None
) -> Anonymizer:
    """The live pipeline for parsed ``anonfilter live`` options (None: all defaults)."""
    if args is None:
        parser = argparse.ArgumentParser()
        add_pipeline_arguments(parser, live=True)
        args = parser.parse_args([])
    return anonymizer_from_args(args, fps, live=True, host=host, detector_defaults=LIVE_DETECTOR_DEFAULTS)


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
    ) -> None:
        self.bridge = bridge
        self.source = source
        self.anonymizer = anonymizer
        self.host = host
        self.report = report
        self.latencies_ms: list[float] = []
        """Per-frame time from having the frame to having written it out (source wait excluded)."""
        self._out = np.frombuffer(bridge.data(OUT), np.uint8).reshape(bridge.height, bridge.width, 4)
        self._method_seq = int(bridge.get("method_seq"))
        self._stamps: dict[int, Captured] = {}
        self._count = 0
        self.script_gone = False
        """Set when :meth:`run` stopped because the OBS script stopped answering (the bridge is then orphaned)."""

    def run(self, max_frames: Optional[int] = None, stop: Optional[threading.Event] = None) -> None:
        """Process frames until ``stop`` is set, ``max_frames`` are done, or the script is gone."""
        self.bridge.set("engine_pid", os.getpid())
        self.bridge.set("message", "running")
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
            del self._out  # the bridge can only be unmapped once no view of it is left
        self.bridge.set("engine_state", STOPPED)
        self.bridge.set("message", "stopped")

    def process(self, captured: Captured) -> None:
        """Anonymize one frame and write every frame the pipeline finishes into ``OUT``."""
        started = time.perf_counter()
        index = self._count
        self._count += 1
        self._stamps[index] = captured
        info = FrameInfo(index, captured.capture_ns / 1e9, self.bridge.width, self.bridge.height, live=True)
        for frame, done in self.anonymizer.push(captured.frame, info):
            stamp = self._stamps.pop(done.index)
            self.bridge.publish(
                OUT, stamp.index, stamp.capture_ns, lambda: cv2.cvtColor(frame, cv2.COLOR_RGB2BGRA, dst=self._out)
            )
            self.bridge.set("frames_done", int(self.bridge.get("frames_done")) + 1)
        elapsed = time.perf_counter() - started
        self.latencies_ms.append(elapsed * 1000)
        self.bridge.set("latency_us", int(elapsed * 1e6))

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
        self.bridge.set("message", f"running, method {name}")
        self.report(f"method is now {name}")
