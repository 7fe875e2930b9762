"""Surrogate identity keys: stable 63-bit numbers per person, unrelated to how the face looks."""

from __future__ import annotations

import hashlib
import secrets
from typing import Optional

KEY_BITS = 63


class IdentityKeys:
    """Hands out a new key per new identity: a hash of a per-run salt and a counter.

    The salt is random (:mod:`secrets`) unless ``seed`` is given, in which case the same seed gives
    the same keys in the same order (reproducible runs). Nothing about the face goes in, so a key
    says nothing about who the person is.
    """

    def __init__(self, seed: Optional[int] = None) -> None:
        if seed is None:
            self._salt = secrets.token_bytes(16)
        else:
            self._salt = hashlib.sha256(f"anonfilter identity seed {int(seed)}".encode()).digest()[:16]
        self.issued = 0

    def new_key(self) -> int:
        """The next key: a non-zero integer below ``2**63``."""
        self.issued += 1
        digest = hashlib.blake2b(self.issued.to_bytes(8, "little"), key=self._salt, digest_size=8).digest()
        key = int.from_bytes(digest, "little") & ((1 << KEY_BITS) - 1)
        return key or 1
