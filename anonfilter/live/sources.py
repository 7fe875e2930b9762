"""Where the live engine's frames come from: OBS (through the bridge) or a camera it opens itself.

A source's :meth:`next` returns the newest frame not returned before, as RGB (the pipeline's
format) at the bridge's size, with its index and capture time; frames that arrived while the
engine was busy are skipped, so the engine always works on the freshest frame.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Optional, Protocol

import cv2
import numpy as np

from anonfilter.errors import AnonfilterError
from anonfilter.types import Frame
from obs_script.bridge import IN, Bridge

POLL_SECONDS = 0.001


@dataclass
class Captured:
    """One frame from a source: RGB pixels, the source's frame index and capture time (``time.monotonic_ns``)."""

    frame: Frame
    index: int
    capture_ns: int


class FrameSource(Protocol):
    """What the engine reads frames from."""

    fps: float
    """Nominal frame rate (for the tracker's notion of time)."""

    def next(self, timeout: float) -> Optional[Captured]:
        """The newest frame not returned before, or None if none came within ``timeout`` seconds."""

    def close(self) -> None:
        """Release the device or file."""


class BridgeSource:
    """Frames the OBS script reads back from an OBS source and writes into the bridge's ``IN`` slot."""

    def __init__(self, bridge: Bridge, fps: float) -> None:
        self.bridge = bridge
        self.fps = fps
        self._pixels = np.frombuffer(bridge.data(IN), np.uint8).reshape(bridge.height, bridge.width, 4)
        self._frame = np.empty((bridge.height, bridge.width, 3), np.uint8)
        self._seq = 0

    def next(self, timeout: float) -> Optional[Captured]:
        """Copy out the newest complete frame of the ``IN`` slot (BGRA -> RGB)."""
        deadline = time.monotonic() + timeout
        while True:
            stamp = self.bridge.latest(IN, self._seq, lambda: cv2.cvtColor(self._pixels, cv2.COLOR_BGRA2RGB, dst=self._frame))
            if stamp is not None:
                self._seq = stamp.seq
                return Captured(self._frame.copy(), stamp.index, stamp.capture_ns)
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_SECONDS)

    def close(self) -> None:
        """Drop the view of the bridge (so it can be unmapped)."""
        self._pixels = np.empty((0, 0, 4), np.uint8)


class CaptureSource:
    """A camera the engine opens itself (lowest delay), or a video file played in real time, looping.

    ``device`` is a camera number (``0``), a device path (``/dev/video0``) or a video file. A
    reader thread keeps only the newest frame, so camera drivers' queues add no delay. Frames are
    scaled to ``width x height`` when their size differs.
    """

    def __init__(self, device: str, width: int, height: int) -> None:
        self.is_file = os.path.isfile(device)
        target: "int | str" = int(device) if device.isdigit() else device
        self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            raise AnonfilterError(f"cannot open camera or video '{device}'")
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        reported = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = reported if 1 <= reported <= 240 else 30.0
        self.size = (width, height)
        self._newest: Optional[Captured] = None
        self._returned = -1
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self.error: Optional[str] = None
        self._thread = threading.Thread(target=self._read, name="anonfilter-capture", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        index = 0
        period = 1.0 / self.fps
        next_due = time.monotonic()
        while not self._stop.is_set():
            ok, bgr = self._capture.read()
            if not ok and self.is_file and index:  # end of the file: play it again
                self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, bgr = self._capture.read()
            if not ok:
                self.error = "the camera stopped delivering frames"
                with self._ready:
                    self._ready.notify_all()
                return
            if self.is_file:  # a file stands in for a camera: deliver each frame at its time
                next_due += period
                time.sleep(max(0.0, next_due - time.monotonic()))
            captured_ns = time.monotonic_ns()
            if (bgr.shape[1], bgr.shape[0]) != self.size:
                bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
            with self._ready:
                self._newest = Captured(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index, captured_ns)
                self._ready.notify_all()
            index += 1

    def next(self, timeout: float) -> Optional[Captured]:
        """The newest frame read since the last call (waits up to ``timeout`` seconds)."""
        with self._ready:
            fresh = self._ready.wait_for(
                lambda: self.error is not None or (self._newest is not None and self._newest.index != self._returned),
                timeout,
            )
            if self.error is not None:
                raise AnonfilterError(self.error)
            if not fresh or self._newest is None:
                return None
            self._returned = self._newest.index
            return self._newest

    def close(self) -> None:
        """Stop the reader thread and release the device."""
        self._stop.set()
        self._thread.join(timeout=2)
        self._capture.release()
