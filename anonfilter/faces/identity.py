"""Identity key -> a stable, well-spread choice.

The tracker's identity keys are arbitrary integers (consecutive in tests, salted hashes in real
runs). These helpers mix a key with a method-specific ``salt`` through a hash, so neighbouring
keys give unrelated choices and two methods never pick in lock-step.
"""

from __future__ import annotations

import hashlib

import numpy as np


def key_seed(identity_key: int, salt: str) -> int:
    """A 64-bit seed derived from ``identity_key`` and ``salt`` (same inputs, same seed, on any machine)."""
    digest = hashlib.blake2b(f"{salt}:{int(identity_key)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def key_rng(identity_key: int, salt: str) -> np.random.Generator:
    """A numpy generator seeded by :func:`key_seed`: draw targets, noise or latent codes from it."""
    return np.random.default_rng(key_seed(identity_key, salt))


def key_choice(identity_key: int, count: int, salt: str) -> int:
    """An index in ``range(count)`` chosen by the key."""
    if count <= 0:
        raise ValueError("count must be positive")
    return key_seed(identity_key, salt) % count
