"""One tracked face: its detections (hits), motion model, state and identity."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from typing import Optional

import numpy as np

from anonfilter.identity.keeplist import KeepChecks
from anonfilter.identity.registry import FaceSample
from anonfilter.tracking.boxes import box_center, box_size
from anonfilter.tracking.kalman import BoxKalman

TENTATIVE, CONFIRMED, COASTING, ENDED = "tentative", "confirmed", "coasting", "ended"
"""Track states: new and unproven; seen often enough to trust; missed on the last detector run;
gone (no more detections will join it)."""


@dataclass(frozen=True)
class Hit:
    """A detection that joined a track: box ``x0, y0, x1, y1``, score, landmarks and the velocity
    (``dcx, dcy`` per frame) the motion model had after it."""

    box: np.ndarray
    score: float
    landmarks: Optional[np.ndarray]
    velocity: np.ndarray


class Track:
    """A face followed through frames.

    ``hits`` holds the detections by frame index; the oldest ones are dropped with :meth:`forget`
    once their frames are final, so a track that lasts for hours takes constant memory.
    """

    def __init__(
        self, track_id: int, index: int, box: np.ndarray, score: float, landmarks: Optional[np.ndarray], high: bool, samples: int = 3
    ) -> None:
        self.id = track_id
        self.kalman = BoxKalman(tuple(float(v) for v in box))
        self.hits: dict[int, Hit] = {}
        self._frames: list[int] = []
        self.first_hit = index
        self.last_hit = index
        self.hit_count = 0
        self.high_hits = 0
        self.confirmed = False
        self.ended = False
        self.key: Optional[int] = None
        self.key_final = False
        self.samples: deque[FaceSample] = deque(maxlen=samples)
        self.sample_frame: Optional[int] = None
        self.last_embed: Optional[int] = None
        self.checks = KeepChecks()
        self.last_output: Optional[tuple[int, np.ndarray]] = None
        self.scene = (0, None)
        """First and last frame (None: open) of the scene the track lives in; it is never filled
        in or extended beyond them."""
        self.from_cut = False
        """True when the track began soon after a scene cut where a track ended at it; it is
        then covered back to the cut, whatever the usual extension."""
        self.smoothed: dict[int, tuple[tuple[int, ...], Hit]] = {}
        """Hits smoothed over the hits near them (offline), by frame, with the frames of the hits
        they were fitted through: a filled frame needs the hits on both sides of its gap, so each
        is asked for again on every frame of the gap; while those frames are the same, so is the fit.
        Dropped with the hit by :meth:`forget`."""
        self.add_hit(index, box, score, landmarks, high, update=False)

    def add_hit(self, index: int, box: np.ndarray, score: float, landmarks: Optional[np.ndarray], high: bool, update: bool = True) -> None:
        """Record a detection of this track at frame ``index`` (and correct the motion model)."""
        if update:
            self.kalman.update(tuple(float(v) for v in box))
        self.hits[index] = Hit(np.asarray(box, np.float64), float(score), landmarks, self.kalman.velocity[:2])
        self._frames.append(index)
        self.last_hit = index
        self.hit_count += 1
        self.high_hits += bool(high)

    def confirm_if(self, hits: int, low_hits: int) -> None:
        """Confirm the track once it has ``hits`` detections with a high-score one, or ``low_hits`` in all."""
        if self.hit_count >= low_hits or (self.hit_count >= hits and self.high_hits):
            self.confirmed = True

    def state(self, index: int) -> str:
        """``tentative``, ``confirmed``, ``coasting`` or ``ended`` as of frame ``index``."""
        if self.ended:
            return ENDED
        if not self.confirmed:
            return TENTATIVE
        return CONFIRMED if self.last_hit == index else COASTING

    def neighbours(self, index: int) -> tuple[Optional[int], Optional[int]]:
        """The frames of the last hit before ``index`` and the first hit after it (None if none)."""
        position = bisect.bisect_left(self._frames, index)
        before = self._frames[position - 1] if position > 0 else None
        position = bisect.bisect_right(self._frames, index)
        after = self._frames[position] if position < len(self._frames) else None
        return before, after

    def frames_near(self, index: int, radius: int) -> list[int]:
        """The frames of the hits held within ``radius`` frames of ``index`` (both sides), in order."""
        return self._frames[bisect.bisect_left(self._frames, index - radius) : bisect.bisect_right(self._frames, index + radius)]

    def early_velocity(self) -> np.ndarray:
        """``dcx, dcy`` per frame between the first two hits (zero with one hit), at most a face size
        per frame; only meaningful while the first hit is still held."""
        if len(self._frames) < 2 or self._frames[0] != self.first_hit:
            return np.zeros(2)
        first, second = self.hits[self._frames[0]], self.hits[self._frames[1]]
        velocity = (box_center(second.box) - box_center(first.box)) / (self._frames[1] - self._frames[0])
        limit = box_size(first.box)
        return np.clip(velocity, -limit, limit)

    def forget(self, index: int, radius: int = 0) -> None:
        """Drop the hits before frame ``index`` except the last one (still needed to fill a gap) and
        those within ``radius`` frames before that one (its smoothing needs them)."""
        position = bisect.bisect_left(self._frames, index) - 1
        if position > 0:
            position = bisect.bisect_left(self._frames, self._frames[position] - radius)
        if position > 0:
            for frame in self._frames[:position]:
                del self.hits[frame]
                self.smoothed.pop(frame, None)
            del self._frames[:position]

    @property
    def size(self) -> float:
        """The face size (longer box side) at the last hit."""
        return box_size(self.hits[self.last_hit].box)

    def overlaps(self, other: "Track") -> bool:
        """True when the two tracks were detected at the same time (so they are different people)."""
        return self.first_hit <= other.last_hit and other.first_hit <= self.last_hit
