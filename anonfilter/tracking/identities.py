"""The tracks' identities: surrogate keys, re-identification and keep-list checks.

A copy of each track's face is kept now and then; it is embedded (dlib, per track, not per
frame) only when a new face might be someone seen before, so that a face that comes back gets
its old key. Keep-list candidates are embedded every few frames, and left visible only when the
match is confident over several checks. Live, the embeddings are computed by a background
worker and its answers are applied on later frames.

This is tracker-side glue, so it lives here and not in :mod:`anonfilter.identity`: it works on
:class:`~anonfilter.tracking.track.Track` objects and the tracker's frame timing, while
``anonfilter.identity`` knows nothing of tracks (its :class:`~anonfilter.identity.registry.Identities`
is the one object this module talks to), and ``track.py`` already imports from it.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from anonfilter.identity.registry import FaceSample, Identities
from anonfilter.identity.worker import EmbeddingWorker
from anonfilter.tracking.association import Association
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.tracking.track import Track
from anonfilter.types import Frame


class TrackIdentities:
    """Gives the tracks of ``tracks`` their identity keys and keep flags, through ``identities``."""

    def __init__(
        self,
        settings: TrackerSettings,
        identities: Identities,
        tracks: Association,
        live: bool,
        worker: Optional[EmbeddingWorker] = None,
    ) -> None:
        """``live``: keys are provisional until settled; ``worker``: live, embeds in another process."""
        self.settings = settings
        self.identities = identities
        self.tracks = tracks
        self.live = live
        self.worker = worker
        self._waiting: dict[tuple, Track] = {}
        self._keep_hold = 2 * max(1, settings.frames(settings.keep_every))

    def identify(self, index: int, frame: Frame) -> None:
        """Sample faces for re-identification, settle live keys, check keep-list candidates."""
        s = self.settings
        seen = [track for track in self.tracks.active if track.last_hit == index and track.size >= s.embed_min_size]
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

    def collect(self) -> None:
        """Live: apply the background worker's answers (keep-list checks, re-identification)."""
        if self.worker is None:
            return
        for tag, embeddings in self.worker.poll():
            track = self._waiting.pop(tag, None)
            if track is None:
                continue
            if tag[0] == "keep":
                self._record_check(track, tag[2], embeddings[0] if embeddings else None)
            else:
                self._assign_key(track, self.identities.recognise(embeddings, self._exclude(track)), embeddings)

    def close(self) -> None:
        """End of stream: stop the background worker, if any."""
        if self.worker is not None:
            self.worker.close()

    def key(self, track: Track) -> int:
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
        return {other.key for other in self.tracks.all() if other is not track and other.key is not None and other.overlaps(track)}

    def _assign_key(self, track: Track, earlier: Optional[int], embeddings: list[np.ndarray]) -> None:
        """Give ``track`` the key ``earlier`` (a new one when None) for good, and remember its embeddings under it."""
        if earlier is not None:
            track.key = earlier
        elif track.key is None:
            track.key = self.identities.new_key()
        track.key_final = True
        for embedding in embeddings:
            self.identities.remember(track.key, embedding)
        if track.samples and not embeddings:
            self.identities.offer(track.key, list(track.samples))

    def keep(self, track: Track, index: int) -> bool:
        """Whether frame ``index`` of ``track`` stays visible (a keep-list person; offline whole passing runs count)."""
        s = self.settings
        if not track.confirmed or not self.identities.keep_list:
            return False
        return track.checks.kept(index, s.keep_matches, self._keep_hold, whole_runs=not self.live)
