"""The two output policies: which faces go out for a frame, and when.

*Offline* (files, :class:`OfflineFilling`) the tracker holds frames back for a bounded lookahead,
then fills each gap between two detections of a track by interpolation and extends confirmed
tracks a little before their first and after their last detection. *Live* (OBS,
:class:`LiveCoasting`) each frame goes out at once and a lost track coasts forward on its
predicted motion with a growing box. In both no mask edge moves inwards faster than a face can
move, and every detection is anonymized on its own frame whatever its score.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import replace
from typing import Optional

import numpy as np

from anonfilter.tracking.association import Association
from anonfilter.tracking.base import FinishedFrames, TrackedFace
from anonfilter.tracking.boxes import box_center, box_size, grow, growth, interpolate, limit_shrink
from anonfilter.tracking.identities import TrackIdentities
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.tracking.smoothing import smoothed_box, smoothed_landmarks, smoothing_radius
from anonfilter.tracking.track import Hit, Track
from anonfilter.types import FaceStatus


class OutputPolicy(ABC):
    """Turns the tracks into each frame's :class:`TrackedFace` list, once the tracker has taken the frame in."""

    def __init__(self, settings: TrackerSettings, tracks: Association, identities: TrackIdentities) -> None:
        """Faces of the tracks of ``tracks``, with the keys and keep flags ``identities`` gives them."""
        self.settings = settings
        self.tracks = tracks
        self.identities = identities
        self.tentative = max(settings.frames(settings.extend_tentative), settings.detect_every)
        """Frames an unconfirmed track is shown for around its detections."""
        self.backfill_frames = 0
        """Every new face is anonymized at least this many frames before its first detection."""

    @property
    def held_back(self) -> int:
        """How many frames are waiting for their faces to become final."""
        return 0

    @abstractmethod
    def push(self, index: int) -> FinishedFrames:
        """Frame ``index`` has been taken in: the frames whose faces are now final."""

    @abstractmethod
    def flush(self) -> FinishedFrames:
        """Every track has ended: the frames still held back."""

    def face(
        self, track: Track, index: int, box: np.ndarray, score: float, status: FaceStatus, landmarks: Optional[np.ndarray]
    ) -> TrackedFace:
        """The face of ``track`` at ``index``, its box limited in how fast it shrinks."""
        if track.last_output is not None and track.last_output[0] == index - 1:
            previous = track.last_output[1]
            step = self.settings.max_shrink_per_second * box_size(previous) / self.settings.fps
            box = limit_shrink(previous, box, step)
        track.last_output = (index, box)
        return TrackedFace(
            track_id=track.id,
            identity_key=self.identities.key(track),
            box=tuple(float(v) for v in box),
            score=score,
            status=status,
            landmarks=None if landmarks is None else landmarks.astype(np.float32),
            keep=self.identities.keep(track, index),
        )

    def grown(self, box: np.ndarray, frames_away: int) -> np.ndarray:
        """``box`` grown for a face last seen ``frames_away`` frames ago (it may have moved)."""
        s = self.settings
        return grow(box, growth(frames_away, s.fps, s.grow_per_second, s.max_growth))


class LiveCoasting(OutputPolicy):
    """Live: each frame's faces at once; a missed face coasts on its predicted motion with a growing box."""

    def push(self, index: int) -> FinishedFrames:
        """Frame ``index`` with the faces of the confirmed tracks and of recently seen new ones."""
        shown = [track for track in self.tracks.active if track.confirmed or index - track.last_hit <= self.tentative]
        faces = [self._face(track, index) for track in shown]
        for track in self.tracks.active:
            track.forget(index)
            track.checks.forget(index)
        return [(index, faces)]

    def flush(self) -> FinishedFrames:
        """Nothing: every frame has gone out."""
        return []

    def _face(self, track: Track, index: int) -> TrackedFace:
        """The face of ``track`` at ``index``: its detection, or its predicted box grown with the time since it was seen."""
        hit = track.hits.get(index)
        if hit is not None:
            return self.face(track, index, hit.box, hit.score, FaceStatus.DETECTED, hit.landmarks)
        last = track.hits[track.last_hit]
        size = last.box[2:] - last.box[:2]
        predicted = np.asarray(track.kalman.box)
        center = box_center(predicted)
        half = np.clip(predicted[2:] - predicted[:2], size, 1.5 * size) / 2
        box = self.grown(np.concatenate([center - half, center + half]), index - track.last_hit)
        landmarks = None if last.landmarks is None else last.landmarks + (center - box_center(last.box))
        return self.face(track, index, box, last.score, FaceStatus.COASTING, landmarks)


class OfflineFilling(OutputPolicy):
    """Offline: frames are held back for the lookahead, then gaps are filled and tracks extended.

    Every detection is first smoothed over time (:mod:`~anonfilter.tracking.smoothing`): its box
    and landmarks are fitted through the track's detections within a few frames on both sides,
    the box never smaller than the detected one.
    """

    def __init__(self, settings: TrackerSettings, tracks: Association, identities: TrackIdentities) -> None:
        """As :class:`OutputPolicy`, with the extensions before and after a track from ``settings``."""
        super().__init__(settings, tracks, identities)
        self._before = settings.frames(settings.extend_before)
        self._after = settings.frames(settings.extend_after)
        self.backfill_frames = min(self._before, self.tentative)
        self._pending: deque[int] = deque()
        self._sigma = settings.smooth * settings.fps
        self._radius = min(smoothing_radius(self._sigma), settings.lookahead - 1)

    @property
    def held_back(self) -> int:
        """How many frames are waiting for their faces to become final."""
        return len(self._pending)

    def push(self, index: int) -> FinishedFrames:
        """The frames now beyond the lookahead."""
        self._pending.append(index)
        finished = []
        while self._pending and index - self._pending[0] >= self.settings.lookahead:
            finished.append(self._finish(self._pending.popleft()))
        return finished

    def flush(self) -> FinishedFrames:
        """Every frame still held back."""
        finished = [self._finish(index) for index in self._pending]
        self._pending.clear()
        return finished

    def _finish(self, index: int) -> tuple[int, list[TrackedFace]]:
        """The final faces of frame ``index``, then forget what no later frame needs."""
        faces = []
        for track in self.tracks.all():
            face = self._face(track, index)
            if face is not None:
                faces.append(face)
        self.tracks.finishing = [track for track in self.tracks.finishing if track.last_hit + self._extension(track)[1] > index]
        for track in self.tracks.all():
            track.forget(index + 1, self._radius)
            track.checks.forget(index + 1)
        return index, faces

    def _hit(self, track: Track, index: int) -> Hit:
        """The detection of ``track`` at ``index``, smoothed over the detections around it."""
        hit = track.hits[index]
        frames = track.frames_near(index, self._radius)
        if len(frames) < 2:
            return hit
        known = track.smoothed.get(index)
        if known is not None and known[0] == tuple(frames):
            return known[1]
        hits = [track.hits[frame] for frame in frames]
        box = smoothed_box(frames, np.stack([other.box for other in hits]), index, self._sigma, hit.box)
        landmarks = smoothed_landmarks(frames, [other.landmarks for other in hits], index, self._sigma)
        smoothed = replace(hit, box=box, landmarks=landmarks)
        track.smoothed[index] = (tuple(frames), smoothed)
        return smoothed

    def _extension(self, track: Track) -> tuple[int, int]:
        """Frames a track is extended by before its first and after its last detection."""
        return (self._before, self._after) if track.confirmed else (self.tentative, self.tentative)

    def _face(self, track: Track, index: int) -> Optional[TrackedFace]:
        """The face of ``track`` at ``index``: detected, interpolated, extended, or None outside its extent or scene."""
        before, after = self._extension(track)
        scene_start, scene_end = track.scene
        if track.from_cut:
            before = track.first_hit - scene_start
        if index < max(track.first_hit - before, scene_start) or index > track.last_hit + after:
            return None
        if scene_end is not None and index > scene_end:
            return None
        if index in track.hits:
            hit = self._hit(track, index)
            return self.face(track, index, hit.box, hit.score, FaceStatus.DETECTED, hit.landmarks)
        previous, following = track.neighbours(index)
        if previous is None:  # before the first detection: moved back along its first steps
            first = self._hit(track, following)
            shift = track.early_velocity() * (index - following)
            box = self.grown(first.box + np.tile(shift, 2), following - index)
            landmarks = None if first.landmarks is None else first.landmarks + shift
            return self.face(track, index, box, first.score, FaceStatus.FILLED, landmarks)
        last = self._hit(track, previous)
        if following is None:  # after the last detection: carried on at its last velocity
            frames = index - previous
            shift = last.velocity * min(frames, self._after)
            box = self.grown(last.box + np.tile(shift, 2), frames)
            landmarks = None if last.landmarks is None else last.landmarks + shift
            return self.face(track, index, box, last.score, FaceStatus.FILLED, landmarks)
        nxt = self._hit(track, following)
        t = (index - previous) / (following - previous)
        box = self.grown(interpolate(last.box, nxt.box, t), min(index - previous, following - index))
        landmarks = None
        if last.landmarks is not None and nxt.landmarks is not None:
            landmarks = interpolate(last.landmarks, nxt.landmarks, t)
        return self.face(track, index, box, min(last.score, nxt.score), FaceStatus.FILLED, landmarks)
