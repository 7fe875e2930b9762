"""Command-line options of the tracker, shared by ``anonfilter`` (files) and ``anonfilter live``.

Every command that runs the pipeline calls :func:`add_tracker_arguments` on its parser and
builds its tracker with :func:`tracker_from_args`, so the options and their defaults live here.
"""

from __future__ import annotations

import argparse

from anonfilter.tracking.base import Tracker
from anonfilter.tracking.perframe import PerFrameTracker


def add_tracker_arguments(parser: argparse.ArgumentParser, live: bool) -> None:
    """Add the tracker's option group (``live`` selects the options that make sense live)."""
    group = parser.add_argument_group("tracking")
    group.add_argument("--seed", type=int, default=None, help="seed for surrogate identities (default: random per run)")


def tracker_from_args(args: argparse.Namespace, fps: float, live: bool) -> Tracker:
    """The tracker the parsed options ask for, for a stream at ``fps`` frames per second."""
    return PerFrameTracker()
