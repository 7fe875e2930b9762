"""The temporal-consistency tracker: no face leaks through a missed detection.

Per frame, after a scene-cut check (offline), the tracker hands its parts one job each:

- :mod:`~anonfilter.tracking.association` matches the detections to the tracks (Kalman
  prediction, two-pass Hungarian matching) and starts and ends tracks;
- :mod:`~anonfilter.tracking.identities` gives the tracks their surrogate identity keys
  (re-identification) and keep flags (keep-list checks), live through a background worker;
- an output policy from :mod:`~anonfilter.tracking.output` decides which faces go out, and when:
  offline gap filling over a bounded lookahead, or live coasting, chosen by ``live``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from anonfilter.identity.registry import Identities
from anonfilter.identity.worker import EmbeddingWorker
from anonfilter.scenes import SceneCuts
from anonfilter.tracking.association import Association
from anonfilter.tracking.base import FinishedFrames
from anonfilter.tracking.identities import TrackIdentities
from anonfilter.tracking.output import LiveCoasting, OfflineFilling, OutputPolicy
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.types import Detections, Frame


class TemporalTracker:
    """Kalman + two-pass Hungarian tracker with gap filling (offline) or coasting (live)."""

    def __init__(
        self, settings: TrackerSettings, identities: Identities, live: bool = False, worker: Optional[EmbeddingWorker] = None
    ) -> None:
        """``live``: each frame's faces at once, lost faces coast; ``worker`` (live only) embeds faces in the background."""
        if worker is not None and not live:
            raise ValueError("a background embedding worker is for live mode (offline runs stay reproducible)")
        self.settings = settings
        self.identities = identities
        self.live = live
        self.worker = worker
        """Live: computes embeddings in another process; answers are picked up on later frames."""
        s = settings
        self._tracks = Association(s, s.frames(s.coast if live else s.max_gap), keep_ended=not live)
        self._track_identities = TrackIdentities(s, identities, self._tracks, live, worker)
        self._output: OutputPolicy = (LiveCoasting if live else OfflineFilling)(s, self._tracks, self._track_identities)
        self.backfill_frames = self._output.backfill_frames
        """Offline: every new face is anonymized at least this many frames before its first detection."""
        self._cuts = SceneCuts() if s.scene_cuts and not live else None

    @property
    def held_back(self) -> int:
        """How many frames are waiting for their faces to become final."""
        return self._output.held_back

    def push(self, index: int, frame: Frame, detections: Optional[Detections]) -> FinishedFrames:
        """Add frame ``index``; live: its faces at once; offline: frames now beyond the lookahead."""
        self._track_identities.collect()
        if self._cuts is not None and self._cuts.is_cut(frame) and index > 0:
            self._tracks.end_scene(index)
        self._tracks.predict()
        if detections is not None:
            self._tracks.associate(index, detections)
        self._tracks.end_lost(index)
        if self.identities.embeds:
            self._track_identities.identify(index, frame)
        return self._output.push(index)

    def flush(self) -> FinishedFrames:
        """End of stream: end every track and return the frames still held back."""
        self._track_identities.close()
        self._tracks.end_all()
        return self._output.flush()

    def expected_boxes(self) -> np.ndarray:
        """The active tracks' boxes as their motion models predict them for the next frame."""
        return self._tracks.expected_boxes()
