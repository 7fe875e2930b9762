"""The tracker's one door to identities: surrogate keys, re-identification and the keep-list.

Re-identification is lazy: the tracker hands over a :class:`FaceSample` (a copy of the pixels
around a face) per identity, and a sample is embedded only when there is a question to answer:
a new track appears while someone who is not visible any more could be the same person. A
streamer alone in front of the camera is never embedded at all (unless there is a keep-list).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import numpy as np

from anonfilter.identity.embedder import FaceEmbedder
from anonfilter.identity.gallery import Gallery
from anonfilter.identity.keeplist import KeepList
from anonfilter.identity.keys import IdentityKeys
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.types import Frame

SAMPLE_MARGIN = 0.5
"""A sample keeps this fraction of the face size around the box on each side (for alignment)."""
MAX_PENDING = 256
"""At most this many identities wait with a sample that has not been embedded yet."""


@dataclass(frozen=True)
class FaceSample:
    """A copy of the pixels around one detected face (``box`` in the copy's coordinates)."""

    image: np.ndarray
    box: np.ndarray

    @classmethod
    def cut(cls, frame: Frame, box: np.ndarray) -> "FaceSample":
        """Copy the face in ``box`` and a margin around it out of ``frame``."""
        height, width = frame.shape[:2]
        margin = SAMPLE_MARGIN * max(box[2] - box[0], box[3] - box[1])
        x0, y0 = int(max(0, box[0] - margin)), int(max(0, box[1] - margin))
        x1, y1 = int(min(width, box[2] + margin + 1)), int(min(height, box[3] + margin + 1))
        return cls(frame[y0:y1, x0:x1].copy(), np.asarray(box, np.float64) - [x0, y0, x0, y0])


class Identities:
    """Hands out identity keys, re-identifies returning faces and tells keep-list people apart.

    Without an ``embedder`` there is no re-identification and no keep-list: every track gets a
    new key. ``reid_distance`` and ``keep_distance`` are embedding distances (dlib's
    same-person threshold is 0.6).
    """

    def __init__(
        self,
        keys: IdentityKeys,
        embedder: Optional[FaceEmbedder] = None,
        keep_list: KeepList = KeepList(),
        reid_distance: float = TrackerSettings.reid_distance,
        keep_distance: float = TrackerSettings.keep_distance,
    ) -> None:
        if keep_list and embedder is None:
            raise ValueError("a keep-list needs an embedder")
        self.keys = keys
        self.embedder = embedder
        self.keep_list = keep_list
        self.gallery = Gallery()
        self.reid_distance = reid_distance
        self.keep_distance = keep_distance
        self._pending: OrderedDict[int, list[FaceSample]] = OrderedDict()

    @property
    def embeds(self) -> bool:
        """True when faces are embedded at all (re-identification or a keep-list)."""
        return self.embedder is not None

    def embed(self, sample: FaceSample) -> Optional[np.ndarray]:
        """The sample's embedding (None when its box is unusable or there is no embedder)."""
        if self.embedder is None:
            return None
        return self.embedder.embed(sample.image, tuple(float(v) for v in sample.box))

    def new_key(self) -> int:
        """A fresh key for a new person."""
        return self.keys.new_key()

    def offer(self, key: int, samples: list[FaceSample]) -> None:
        """Samples of identity ``key``, embedded only if a later question needs them."""
        if self.embedder is None or key in self.gallery or not samples:
            return
        self._pending.pop(key, None)
        self._pending[key] = samples
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

    def remember(self, key: int, embedding: np.ndarray) -> None:
        """Add an embedding of identity ``key`` to the re-identification gallery."""
        self._pending.pop(key, None)
        self.gallery.add(key, embedding)

    def match(self, samples: list[FaceSample], exclude: set[int]) -> tuple[Optional[int], list[np.ndarray]]:
        """The earlier identity the face in ``samples`` belongs to (never one in ``exclude``), or None,
        and the samples' embeddings (none when nothing had to be compared, so nothing was embedded)."""
        candidates = (set(self.gallery.keys()) | set(self._pending)) - exclude
        if not candidates or not samples or self.embedder is None:
            return None, []
        embeddings = self._embed_all(samples)
        if not embeddings:
            return None, []
        for key in candidates & set(self._pending):
            for earlier in self._embed_all(self._pending.pop(key)):
                self.gallery.add(key, earlier)
        return self.recognise(embeddings, exclude), embeddings

    def embeddings_of(self, key: int) -> list[np.ndarray]:
        """Every embedding of identity ``key``: those remembered, and its waiting samples embedded now."""
        for embedding in self._embed_all(self._pending.pop(key, [])):
            self.gallery.add(key, embedding)
        return self.gallery.embeddings(key)

    def recognise(self, embeddings: list[np.ndarray], exclude: set[int]) -> Optional[int]:
        """The remembered identity (not in ``exclude``) that ``embeddings`` are close to, or None."""
        return self.gallery.best_match(embeddings, self.reid_distance, exclude) if embeddings else None

    def _embed_all(self, samples: list[FaceSample]) -> list[np.ndarray]:
        return [embedding for embedding in map(self.embed, samples) if embedding is not None]

    def is_kept_person(self, embedding: np.ndarray) -> bool:
        """True when ``embedding`` is confidently one of the keep-list people."""
        return self.keep_list.distance(embedding) < self.keep_distance
