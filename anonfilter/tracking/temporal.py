"""The temporal-consistency tracker: no face leaks through a missed detection.

Per frame: every track's box is predicted with a Kalman filter; high-score detections are
matched to the tracks (Hungarian algorithm on overlap and distance), then low-score detections to
the tracks left over (ByteTrack's second pass); unmatched detections start tentative tracks.
A track is confirmed after a few detections and ended after a miss that lasts too long.

*Offline* (files) the tracker holds frames back for a bounded lookahead, then fills each gap
between two detections of a track by interpolation and extends confirmed tracks a little before
their first and after their last detection. *Live* (OBS) each frame comes back at once and a lost
track coasts forward on its predicted motion with a growing box. In both modes no mask edge
moves inwards faster than a face can move, and every detection is anonymized on its own frame
whatever its score.

Each track carries a surrogate identity key. A copy of each track's face is kept now and then;
it is embedded (dlib, per track, not per frame) only when a new face might be someone seen
before, so that a face that comes back gets its old key. Keep-list candidates are embedded every
few frames, and left visible only when the match is confident over several checks.
"""

from __future__ import annotations

from collections import deque
from typing import Optional

import numpy as np

from anonfilter.geometry import iou_matrix
from anonfilter.identity.registry import FaceSample, Identities
from anonfilter.identity.worker import EmbeddingWorker
from anonfilter.scenes import SceneCuts
from anonfilter.tracking.assignment import assign, match_cost
from anonfilter.tracking.base import FinishedFrames, TrackedFace
from anonfilter.tracking.boxes import box_center, box_size, grow, growth, interpolate, limit_shrink
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.tracking.track import Track
from anonfilter.types import Detections, FaceStatus, Frame

NO_DISTANCE_MATCH = -1.0
"""``match_distance`` that leaves only overlap-based matches (second pass)."""


class TemporalTracker:
    """Kalman + two-pass Hungarian tracker with gap filling (offline) or coasting (live)."""

    def __init__(
        self, settings: TrackerSettings, identities: Identities, live: bool = False, worker: Optional[EmbeddingWorker] = None
    ) -> None:
        if worker is not None and not live:
            raise ValueError("a background embedding worker is for live mode (offline runs stay reproducible)")
        self.settings = settings
        self.identities = identities
        self.live = live
        self.worker = worker
        """Live: computes embeddings in another process; answers are picked up on later frames."""
        self._waiting: dict[tuple, Track] = {}
        self._active: list[Track] = []
        self._finishing: list[Track] = []
        self._pending: deque[int] = deque()
        self._next_id = 0
        s = settings
        self._before = s.frames(s.extend_before)
        self._after = s.frames(s.extend_after)
        self._tentative = max(s.frames(s.extend_tentative), s.detect_every)
        self.backfill_frames = 0 if live else min(self._before, self._tentative)
        """Offline: every new face is anonymized at least this many frames before its first detection."""
        self._max_gap = s.frames(s.coast if live else s.max_gap)
        self._keep_hold = 2 * max(1, s.frames(s.keep_every))
        self._cuts = SceneCuts() if s.scene_cuts and not live else None
        self._scene_start = 0
        self._before_cut = np.zeros((0, 4))
        """The last boxes of the tracks the latest scene cut ended."""

    @property
    def held_back(self) -> int:
        """How many frames are waiting for their faces to become final."""
        return len(self._pending)

    def push(self, index: int, frame: Frame, detections: Optional[Detections]) -> FinishedFrames:
        """Add frame ``index``; live: its faces at once; offline: frames now beyond the lookahead."""
        if self.worker is not None:
            self._collect()
        if self._cuts is not None and self._cuts.is_cut(frame) and index > 0:
            self._end_scene(index)
        for track in self._active:
            track.kalman.predict()
        if detections is not None:
            self._associate(index, detections)
        self._end_lost(index)
        if self.identities.embeds:
            self._identify(index, frame)
        if self.live:
            shown = [track for track in self._active if track.confirmed or index - track.last_hit <= self._tentative]
            faces = [self._live_face(track, index) for track in shown]
            for track in self._active:
                track.forget(index)
                track.checks.forget(index)
            return [(index, faces)]
        self._pending.append(index)
        finished = []
        while self._pending and index - self._pending[0] >= self.settings.lookahead:
            finished.append(self._finish(self._pending.popleft()))
        return finished

    def flush(self) -> FinishedFrames:
        """End of stream: end every track and return the frames still held back."""
        if self.worker is not None:
            self.worker.close()
        for track in self._active:
            track.ended = True
        self._finishing.extend(self._active)
        self._active = []
        finished = [self._finish(index) for index in self._pending]
        self._pending.clear()
        return finished

    def expected_boxes(self) -> np.ndarray:
        """The active tracks' boxes as their motion models predict them for the next frame."""
        boxes = []
        for track in self._active:
            box = np.asarray(track.kalman.box, np.float64)
            shift = np.tile(track.kalman.velocity[:2], 2)
            boxes.append(box + shift)
        return np.array(boxes).reshape(-1, 4)

    def _end_scene(self, index: int) -> None:
        """A scene cut before frame ``index``: every track ends on the frame before it."""
        for track in self._active:
            track.ended = True
            track.scene = (track.scene[0], index - 1)
        self._before_cut = np.array([track.hits[track.last_hit].box for track in self._active]).reshape(-1, 4)
        self._finishing.extend(self._active)
        self._active = []
        self._scene_start = index

    # -- association -------------------------------------------------------------------------

    def _associate(self, index: int, detections: Detections) -> None:
        s = self.settings
        boxes = detections.boxes.astype(np.float64)
        high = np.flatnonzero(detections.scores >= s.high_score)
        low = np.flatnonzero(detections.scores < s.high_score)
        tracks = self._active
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
            self._active.append(track)

    def _continues_across_cut(self, index: int, box: np.ndarray) -> bool:
        """True for a new face, soon after a cut, where a face was just before it: the same person
        if the "cut" was a flash or a jolt. Its track is covered from the cut on, as the old track
        would have been filled in up to it."""
        if not len(self._before_cut) or index - self._scene_start > self._max_gap:
            return False
        return bool(iou_matrix(box[None], self._before_cut).max() >= self.settings.match_iou)

    def _detection(self, detections: Detections, i: int) -> tuple[float, Optional[np.ndarray], bool]:
        landmarks = None if detections.landmarks is None else detections.landmarks[i].astype(np.float64)
        score = float(detections.scores[i])
        return score, landmarks, score >= self.settings.high_score

    def _end_lost(self, index: int) -> None:
        """End tracks missed for longer than the gap (offline) or coasting time (live) allows.

        Unconfirmed tracks live as long for matching, so a face detected twice with a few misses
        in between becomes one confirmed track; they are only *shown* for a shorter time.
        """
        still = []
        for track in self._active:
            if index - track.last_hit > self._max_gap:
                track.ended = True
                if not self.live:
                    self._finishing.append(track)
            else:
                still.append(track)
        self._active = still

    # -- identities ----------------------------------------------------------------------------

    def _identify(self, index: int, frame: Frame) -> None:
        """Sample faces for re-identification, settle live keys, check keep-list candidates."""
        s = self.settings
        seen = [track for track in self._active if track.last_hit == index and track.size >= s.embed_min_size]
        for track in seen:
            hit = track.hits[index]
            stale = track.sample_frame is None or index - track.sample_frame >= s.frames(s.embed_every)
            if hit.score >= s.high_score and stale:
                track.samples.append(FaceSample.cut(frame, hit.box))
                track.sample_frame = index
                if track.key_final:
                    self.identities.offer(track.key, list(track.samples))
        if self.live:  # a provisional key becomes an earlier person's once the face is seen well
            for track in seen:
                if track.confirmed and track.samples and not track.key_final:
                    if self.worker is None:
                        self._settle_key(track)
                    elif ("key", track.id) not in self._waiting and self.worker.submit(("key", track.id), list(track.samples)):
                        self._waiting[("key", track.id)] = track
        if self.identities.keep_list:
            self._check_keep_list(index, frame, [track for track in seen if track.confirmed])

    def _check_keep_list(self, index: int, frame: Frame, tracks: list[Track]) -> None:
        """Embed a few due tracks and record whether they are keep-list people."""
        s = self.settings
        due = []
        for track in tracks:
            if track.last_embed is None or index - track.last_embed >= s.frames(s.keep_every):
                # candidates first (latest check passed, then never checked), oldest first
                rank = (0 if track.checks.runs else 1) if track.checks.promising else 2
                due.append((rank, track.last_embed or -1, track))
        due.sort(key=lambda item: item[:2])
        for _, _, track in due[: s.embeds_per_frame]:
            sample = FaceSample.cut(frame, track.hits[index].box)
            if self.worker is None:
                self._record_check(track, index, self.identities.embed(sample))
            elif self.worker.submit(("keep", track.id, index), [sample]):
                self._waiting[("keep", track.id, index)] = track
                track.last_embed = index

    def _record_check(self, track: Track, index: int, embedding: Optional[np.ndarray]) -> None:
        """A keep-list check of ``track`` on frame ``index`` (none when the face could not be embedded)."""
        if embedding is None:
            return
        track.last_embed = index
        track.checks.add(index, self.identities.is_kept_person(embedding))
        if track.key_final:
            self.identities.remember(track.key, embedding)

    def _collect(self) -> None:
        """Live: apply the background worker's answers (keep-list checks, re-identification)."""
        for tag, embeddings in self.worker.poll():
            track = self._waiting.pop(tag, None)
            if track is None:
                continue
            if tag[0] == "keep":
                self._record_check(track, tag[2], embeddings[0] if embeddings else None)
            else:
                self._assign_key(track, self.identities.recognise(embeddings, self._exclude(track)), embeddings)

    def _key(self, track: Track) -> int:
        """The track's key, settled the first time a frame of it goes out (live: provisional)."""
        if track.key is None:
            if self.live:
                track.key = self.identities.new_key()
            else:
                self._settle_key(track)
        return track.key

    def _settle_key(self, track: Track) -> None:
        """Give ``track`` the key of an earlier person it matches, or a new one, for good."""
        earlier, embeddings = self.identities.match(list(track.samples), self._exclude(track))
        self._assign_key(track, earlier, embeddings)

    def _exclude(self, track: Track) -> set[int]:
        """Keys of the people seen at the same time as ``track`` (so not the same person)."""
        others = self._active + self._finishing
        return {other.key for other in others if other is not track and other.key is not None and other.overlaps(track)}

    def _assign_key(self, track: Track, earlier: Optional[int], embeddings: list[np.ndarray]) -> None:
        if earlier is not None:
            track.key = earlier
        elif track.key is None:
            track.key = self.identities.new_key()
        track.key_final = True
        for embedding in embeddings:
            self.identities.remember(track.key, embedding)
        if track.samples and not embeddings:
            self.identities.offer(track.key, list(track.samples))

    def _keep(self, track: Track, index: int) -> bool:
        s = self.settings
        if not track.confirmed or not self.identities.keep_list:
            return False
        return track.checks.kept(index, s.keep_matches, self._keep_hold, whole_runs=not self.live)

    # -- output --------------------------------------------------------------------------------

    def _face(
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
            identity_key=self._key(track),
            box=tuple(float(v) for v in box),
            score=score,
            status=status,
            landmarks=None if landmarks is None else landmarks.astype(np.float32),
            keep=self._keep(track, index),
        )

    def _grown(self, box: np.ndarray, frames_away: int) -> np.ndarray:
        s = self.settings
        return grow(box, growth(frames_away, s.fps, s.grow_per_second, s.max_growth))

    def _live_face(self, track: Track, index: int) -> TrackedFace:
        hit = track.hits.get(index)
        if hit is not None:
            return self._face(track, index, hit.box, hit.score, FaceStatus.DETECTED, hit.landmarks)
        last = track.hits[track.last_hit]
        size = last.box[2:] - last.box[:2]
        predicted = np.asarray(track.kalman.box)
        center = box_center(predicted)
        half = np.clip(predicted[2:] - predicted[:2], size, 1.5 * size) / 2
        box = self._grown(np.concatenate([center - half, center + half]), index - track.last_hit)
        landmarks = None if last.landmarks is None else last.landmarks + (center - box_center(last.box))
        return self._face(track, index, box, last.score, FaceStatus.COASTING, landmarks)

    def _finish(self, index: int) -> tuple[int, list[TrackedFace]]:
        """The final faces of frame ``index`` (offline), then forget what no later frame needs."""
        faces = []
        for track in self._active + self._finishing:
            face = self._offline_face(track, index)
            if face is not None:
                faces.append(face)
        self._finishing = [track for track in self._finishing if track.last_hit + self._extension(track)[1] > index]
        for track in self._active + self._finishing:
            track.forget(index + 1)
            track.checks.forget(index + 1)
        return index, faces

    def _extension(self, track: Track) -> tuple[int, int]:
        """Frames a track is extended by before its first and after its last detection."""
        return (self._before, self._after) if track.confirmed else (self._tentative, self._tentative)

    def _offline_face(self, track: Track, index: int) -> Optional[TrackedFace]:
        before, after = self._extension(track)
        scene_start, scene_end = track.scene
        if track.from_cut:
            before = track.first_hit - scene_start
        if index < max(track.first_hit - before, scene_start) or index > track.last_hit + after:
            return None
        if scene_end is not None and index > scene_end:
            return None
        hit = track.hits.get(index)
        if hit is not None:
            return self._face(track, index, hit.box, hit.score, FaceStatus.DETECTED, hit.landmarks)
        previous, following = track.neighbours(index)
        if previous is None:  # before the first detection: moved back along its first steps
            first = track.hits[following]
            shift = track.early_velocity() * (index - following)
            box = self._grown(first.box + np.tile(shift, 2), following - index)
            landmarks = None if first.landmarks is None else first.landmarks + shift
            return self._face(track, index, box, first.score, FaceStatus.FILLED, landmarks)
        last = track.hits[previous]
        if following is None:  # after the last detection: carried on at its last velocity
            frames = index - previous
            shift = last.velocity * min(frames, self._after)
            box = self._grown(last.box + np.tile(shift, 2), frames)
            landmarks = None if last.landmarks is None else last.landmarks + shift
            return self._face(track, index, box, last.score, FaceStatus.FILLED, landmarks)
        nxt = track.hits[following]
        t = (index - previous) / (following - previous)
        box = self._grown(interpolate(last.box, nxt.box, t), min(index - previous, following - index))
        landmarks = None
        if last.landmarks is not None and nxt.landmarks is not None:
            landmarks = interpolate(last.landmarks, nxt.landmarks, t)
        return self._face(track, index, box, min(last.score, nxt.score), FaceStatus.FILLED, landmarks)
