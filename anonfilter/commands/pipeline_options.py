"""Options of the pipeline (method, mask, detector, tracker) shared by the commands that run it."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from anonfilter.masks import MASK_SHAPES, MaskStyle
from anonfilter.pipeline import DEFAULT_DETECT_EVERY, Anonymizer, default_detect_every
from anonfilter.plugins import PluginHost
from anonfilter.schema import check_arguments, range_of
from anonfilter.tracking.options import add_tracker_arguments, tracker_from_args

LANDMARK_DETECTOR_DEFAULTS = ("precision=fp32",)
"""Detector defaults for methods that align faces on their landmarks (``uses_landmarks``): the
full-precision CenterFace. With the 8-bit one, ``anonfilter evaluate -m synthetic --seed 1`` on
facenet, hamilton and armwrestling gave de-identification 0.950, 0.950 and 0.957 instead of
0.950, 0.975 and 1.000, and stability 0.967 instead of 1.000 on facenet. ``-D precision=int8``
overrides it."""


def add_pipeline_arguments(parser: argparse.ArgumentParser, live: bool, detect_every: Optional[int] = None) -> None:
    """Add the method, mask, detector and tracker option groups (``detect_every``: another default)."""
    method = parser.add_argument_group("anonymization")
    method.add_argument("-m", "--method", default="blur", help="anonymization method (default: blur; see `anonfilter plugins`)")
    method.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE", help="option for the method (repeatable)")
    method.add_argument("--mask", choices=MASK_SHAPES, default="ellipse", help="mask shape (default: ellipse)")
    method.add_argument("--margin", type=float, default=0.3, help=f"mask margin around the face box, fraction of its size per side (default: 0.3{range_of('margin')})")

    detection = parser.add_argument_group("detection")
    detection.add_argument("--detector", default="centerface", help="face detector (default: centerface)")
    detection.add_argument("-D", "--detector-option", action="append", default=[], metavar="KEY=VALUE", help="option for the detector (repeatable)")
    # Live without a delay the tracker cannot look ahead: a face that appears between two detector
    # runs would be shown until the next one, so the live engine detects on every frame by default
    # (with --delay it looks ahead like a file). Files: by frame size (None: decided by
    # default_detect_every once the size is known).
    by_size = f"every frame for frames of at most 960 px, every {DEFAULT_DETECT_EVERY}th for larger ones"
    if live:
        default_help = f"every frame; with --delay as for files: {by_size}"
    else:
        default_help = str(detect_every) if detect_every is not None else by_size
    detection.add_argument(
        "--detect-every", type=int, default=detect_every, metavar="N",
        help=f"run the detector on every N-th frame only; the tracker fills the others (default: {default_help}{range_of('detect_every')})",
    )
    detection.add_argument(
        "--detection", choices=("focused", "whole"), default=None,
        help="focused: the whole frame at low resolution, crops around small tracked faces and one full-resolution "
        "tile in turn (fast; boxes and landmarks of mid-size faces are coarser); whole: the whole frame at the "
        "detector's resolution every time (default: whole live without --delay; for files and delayed live "
        "focused with methods that use only the face box (blur, pixelate, solid), whole with methods that align "
        "a face on its landmarks)",
    )
    add_tracker_arguments(parser, live=live)


def anonymizer_from_args(
    args: argparse.Namespace,
    fps: float,
    live: bool,
    host: Optional[PluginHost] = None,
    detector_defaults: tuple[str, ...] = (),
    frame_size: Optional[tuple[int, int]] = None,
) -> Anonymizer:
    """The :class:`Anonymizer` the parsed options ask for.

    ``detector_defaults`` are ``KEY=VALUE`` detector options applied before the user's own (only
    those the chosen detector has), e.g. a lower detection resolution for live use. A method that
    aligns faces on their landmarks also gets :data:`LANDMARK_DETECTOR_DEFAULTS`.
    ``frame_size`` (width, height) picks the default ``--detect-every`` for files. ``live`` is a
    pipeline without lookahead (the live engine without ``--delay``): by default it searches every
    frame whole.
    """
    check_arguments(args)
    if host is None:
        host = PluginHost()
        for problem in host.problems:
            print(f"anonfilter: {problem}", file=sys.stderr)
    method_spec = host.method_spec(args.method)
    detection = args.detection or ("whole" if live or method_spec.uses_landmarks else "focused")
    detect_every = args.detect_every
    if detect_every is None:  # live without lookahead: every frame (a face between runs would be shown)
        detect_every = 1 if live else default_detect_every(*frame_size) if frame_size else DEFAULT_DETECT_EVERY
    method = host.create_method(args.method, args.option)
    spec = host.detector_spec(args.detector)
    known = {option.name for option in spec.options}
    if method_spec.uses_landmarks:
        detector_defaults = (*detector_defaults, *LANDMARK_DETECTOR_DEFAULTS)
    defaults = [raw for raw in detector_defaults if raw.partition("=")[0] in known]
    detector = host.create_detector(args.detector, defaults + list(args.detector_option))
    return Anonymizer(
        detector,
        tracker_from_args(args, fps, live=live, identities_matter=method_spec.uses_identity, detect_every=detect_every),
        method,
        args.method,
        MaskStyle(shape=args.mask, margin=args.margin),
        detect_every=detect_every,
        focused=detection == "focused",
        looks_ahead=not live,
    )
