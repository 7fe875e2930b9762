"""Re-identification: the embeddings seen so far for each identity key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

import numpy as np

from anonfilter.identity.embedder import distance


@dataclass
class _Identity:
    key: int
    embeddings: list[np.ndarray] = field(default_factory=list)


class Gallery:
    """Embeddings per identity key, for giving a re-appearing face its earlier key.

    Each identity keeps at most ``per_identity`` embeddings (the oldest are dropped) and at most
    ``max_identities`` identities are remembered (the least recently updated are forgotten), so
    memory stays bounded on long videos.
    """

    def __init__(self, per_identity: int = 12, max_identities: int = 2000) -> None:
        self.per_identity = per_identity
        self.max_identities = max_identities
        self._identities: dict[int, _Identity] = {}

    def __len__(self) -> int:
        return len(self._identities)

    def __contains__(self, key: int) -> bool:
        return key in self._identities

    def keys(self) -> list[int]:
        """The identity keys remembered, least recently updated first."""
        return list(self._identities)

    def embeddings(self, key: int) -> list[np.ndarray]:
        """The embeddings remembered for identity ``key`` (none when it is not remembered)."""
        identity = self._identities.get(key)
        return list(identity.embeddings) if identity is not None else []

    def add(self, key: int, embedding: np.ndarray) -> None:
        """Remember ``embedding`` under identity ``key``."""
        identity = self._identities.pop(key, None) or _Identity(key)
        identity.embeddings = (identity.embeddings + [embedding])[-self.per_identity :]
        self._identities[key] = identity  # re-inserted: most recently updated last
        while len(self._identities) > self.max_identities:
            del self._identities[next(iter(self._identities))]

    def best_match(self, embeddings: Iterable[np.ndarray], max_distance: float, exclude: set[int]) -> Optional[int]:
        """The key whose embeddings are nearest to ``embeddings`` (median over them) if under ``max_distance``.

        Identities in ``exclude`` (people visible at the same time) are not considered.
        """
        queries = np.array(list(embeddings))
        if len(queries) == 0:
            return None
        best_key, best_distance = None, max_distance
        for key, identity in self._identities.items():
            if key in exclude or not identity.embeddings:
                continue
            nearest = distance(queries, np.array(identity.embeddings)).min(axis=1)
            score = float(np.median(nearest))
            if score < best_distance:
                best_key, best_distance = key, score
        return best_key
