"""The one way tests reach the shared test data (../shared/data beside the checkout).

The data cannot be committed (see its README for licences); a test that needs it skips with a
clear message when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("ANONFILTER_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def shared_path(relative: str) -> Path:
    """Path of ``relative`` inside the shared data folder; skips the calling test when it is missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared test data not found: {path} (set ANONFILTER_SHARED_DATA to its folder)")
    return path
