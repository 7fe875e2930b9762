"""The tracker's one door to identities: surrogate keys, re-identification and the keep-list."""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from anonfilter.identity.embedder import FaceEmbedder
from anonfilter.identity.gallery import Gallery
from anonfilter.identity.keeplist import KeepList
from anonfilter.identity.keys import IdentityKeys
from anonfilter.types import Frame


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
        reid_distance: float = 0.5,
        keep_distance: float = 0.45,
    ) -> None:
        if keep_list and embedder is None:
            raise ValueError("a keep-list needs an embedder")
        self.keys = keys
        self.embedder = embedder
        self.keep_list = keep_list
        self.gallery = Gallery()
        self.reid_distance = reid_distance
        self.keep_distance = keep_distance
        self.reidentified = 0
        """How many tracks took an earlier track's key."""

    @property
    def embeds(self) -> bool:
        """True when faces are embedded at all (re-identification or a keep-list)."""
        return self.embedder is not None

    def embed(self, frame: Frame, box: np.ndarray) -> Optional[np.ndarray]:
        """The face's embedding (None when the box is unusable or there is no embedder)."""
        if self.embedder is None:
            return None
        return self.embedder.embed(frame, tuple(float(v) for v in box))

    def key_for(self, embeddings: Iterable[np.ndarray], exclude: set[int]) -> Optional[int]:
        """An earlier identity the ``embeddings`` match (never one in ``exclude``), or None."""
        key = self.gallery.best_match(embeddings, self.reid_distance, exclude)
        self.reidentified += key is not None
        return key

    def new_key(self) -> int:
        """A fresh key for a new person."""
        return self.keys.new_key()

    def remember(self, key: int, embedding: np.ndarray) -> None:
        """Add an embedding of identity ``key`` to the re-identification gallery."""
        self.gallery.add(key, embedding)

    def is_kept_person(self, embedding: np.ndarray) -> bool:
        """True when ``embedding`` is confidently one of the keep-list people."""
        return self.keep_list.distance(embedding) < self.keep_distance
