"""Association: which track each detection belongs to, and when tracks start and end.

Per frame every track's box is predicted with its Kalman filter; high-score detections are
matched to the tracks (Hungarian algorithm on overlap and distance), then low-score detections to
the tracks left over (ByteTrack's second pass); unmatched detections start tentative tracks.
A track is confirmed after a few detections and ended after a miss that lasts too long, or at a
scene cut.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from anonfilter.geometry import iou_matrix
from anonfilter.tracking.assignment import assign, match_cost
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.tracking.track import Track
from anonfilter.types import Detections

NO_DISTANCE_MATCH = -1.0
"""``match_distance`` that leaves only overlap-based matches (second pass)."""


class Association:
    """The tracks of a stream: ``active`` ones take detections, ``finishing`` ones have ended but still have frames to go out."""

    def __init__(self, settings: TrackerSettings, max_gap: int, keep_ended: bool) -> None:
        """``max_gap``: frames a track may be missed before it ends; ``keep_ended``: ended tracks go to ``finishing`` (offline)."""
        self.settings = settings
        self.max_gap = max_gap
        self.keep_ended = keep_ended
        self.active: list[Track] = []
        self.finishing: list[Track] = []
        self._next_id = 0
        self._scene_start = 0
        self._before_cut = np.zeros((0, 4))
        """The last boxes of the tracks the latest scene cut ended."""

    def all(self) -> list[Track]:
        """The active tracks, then the finishing ones."""
        return self.active + self.finishing

    def predict(self) -> None:
        """Move every active track's motion model on by one frame."""
        for track in self.active:
            track.kalman.predict()

    def expected_boxes(self) -> np.ndarray:
        """The active tracks' boxes as their motion models predict them for the next frame."""
        boxes = []
        for track in self.active:
            box = np.asarray(track.kalman.box, np.float64)
            shift = np.tile(track.kalman.velocity[:2], 2)
            boxes.append(box + shift)
        return np.array(boxes).reshape(-1, 4)

    def associate(self, index: int, detections: Detections) -> None:
        """Add frame ``index``'s detections to the tracks they match, and start a track for each other one."""
        s = self.settings
        boxes = detections.boxes.astype(np.float64)
        high = np.flatnonzero(detections.scores >= s.high_score)
        low = np.flatnonzero(detections.scores < s.high_score)
        tracks = self.active
        predicted = np.array([track.kalman.box for track in tracks]).reshape(-1, 4)
        pairs, left, unmatched_high = assign(match_cost(predicted, boxes[high], s.match_iou, s.match_distance))
        matches = [(tracks[row], high[col]) for row, col in pairs]
        pairs, _, unmatched_low = assign(match_cost(predicted[left], boxes[low], s.low_match_iou, NO_DISTANCE_MATCH))
        matches += [(tracks[left[row]], low[col]) for row, col in pairs]
        for track, detection in matches:
            track.add_hit(index, boxes[detection], *self._detection(detections, detection))
            track.confirm_if(s.confirm_hits, s.confirm_low_hits)
        for detection in list(high[unmatched_high]) + list(low[unmatched_low]):
            score, landmarks, strong = self._detection(detections, detection)
            track = Track(self._next_id, index, boxes[detection], score, landmarks, strong, s.samples_per_track)
            track.scene = (self._scene_start, None)
            track.from_cut = self._continues_across_cut(index, boxes[detection])
            self._next_id += 1
            track.confirm_if(s.confirm_hits, s.confirm_low_hits)
            self.active.append(track)

    def _continues_across_cut(self, index: int, box: np.ndarray) -> bool:
        """True for a new face, soon after a cut, where a face was just before it: the same person
        if the "cut" was a flash or a jolt. Its track is covered from the cut on, as the old track
        would have been filled in up to it."""
        if not len(self._before_cut) or index - self._scene_start > self.max_gap:
            return False
        return bool(iou_matrix(box[None], self._before_cut).max() >= self.settings.match_iou)

    def _detection(self, detections: Detections, i: int) -> tuple[float, Optional[np.ndarray], bool]:
        """Score, landmarks and whether it is a high-score one, of detection ``i``."""
        landmarks = None if detections.landmarks is None else detections.landmarks[i].astype(np.float64)
        score = float(detections.scores[i])
        return score, landmarks, score >= self.settings.high_score

    def end_lost(self, index: int) -> None:
        """End tracks missed for longer than ``max_gap`` (the gap offline, the coasting time live).

        Unconfirmed tracks live as long for matching, so a face detected twice with a few misses
        in between becomes one confirmed track; they are only *shown* for a shorter time.
        """
        still = []
        for track in self.active:
            if index - track.last_hit > self.max_gap:
                track.ended = True
                if self.keep_ended:
                    self.finishing.append(track)
            else:
                still.append(track)
        self.active = still

    def end_scene(self, index: int) -> None:
        """A scene cut before frame ``index``: every track ends on the frame before it."""
        for track in self.active:
            track.scene = (track.scene[0], index - 1)
        self._before_cut = np.array([track.hits[track.last_hit].box for track in self.active]).reshape(-1, 4)
        self.end_all()
        self._scene_start = index

    def end_all(self) -> None:
        """End every active track (end of stream or scene); they go on to ``finishing``."""
        for track in self.active:
            track.ended = True
        self.finishing.extend(self.active)
        self.active = []
