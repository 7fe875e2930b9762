"""Anonymize every face in a video file, keeping its other streams, timing and metadata."""

from __future__ import annotations

import argparse
import sys

from anonfilter.masks import MASK_SHAPES, MaskStyle
from anonfilter.pipeline import Anonymizer
from anonfilter.plugins import PluginHost, parse_options
from anonfilter.tracking.perframe import PerFrameTracker
from ffmpeg_bridge import EncoderSettings, transcode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input/output, method, detector, mask and encoder options."""
    io = parser.add_argument_group("input and output")
    io.add_argument("-i", "--input", required=True, metavar="IN", help="video file to anonymize (never modified)")
    io.add_argument("-o", "--output", required=True, metavar="OUT", help="where to write the result (container from its extension)")
    io.add_argument("-y", "--overwrite", action="store_true", help="replace OUT if it exists")
    io.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    method = parser.add_argument_group("anonymization")
    method.add_argument("-m", "--method", default="blur", help="anonymization method (default: blur; see `anonfilter plugins`)")
    method.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE", help="option for the method (repeatable)")
    method.add_argument("--mask", choices=MASK_SHAPES, default="ellipse", help="mask shape (default: ellipse)")
    method.add_argument("--margin", type=float, default=0.3, help="mask margin around the face box, fraction of its size per side (default: 0.3)")

    detection = parser.add_argument_group("detection")
    detection.add_argument("--detector", default="centerface", help="face detector (default: centerface)")
    detection.add_argument("-D", "--detector-option", action="append", default=[], metavar="KEY=VALUE", help="option for the detector (repeatable)")

    encoder = parser.add_argument_group("video encoder (other streams are copied)")
    encoder.add_argument("--codec", default=EncoderSettings.codec, help=f"video encoder (default: {EncoderSettings.codec})")
    encoder.add_argument("--crf", type=int, default=EncoderSettings.crf, help=f"quality, lower is better (default: {EncoderSettings.crf})")
    encoder.add_argument("--preset", default=EncoderSettings.preset, help=f"encoder speed preset (default: {EncoderSettings.preset})")


def run(args: argparse.Namespace) -> int:
    """Build the pipeline from the plugins and transcode IN to OUT."""
    host = PluginHost()
    for problem in host.problems:
        print(f"anonfilter: {problem}", file=sys.stderr)
    method = host.create_method(args.method, args.option)
    detector_spec = host.detector_spec(args.detector)
    detector = detector_spec.create(**parse_options(detector_spec, args.detector_option))
    anonymizer = Anonymizer(
        detector, PerFrameTracker(), method, args.method, MaskStyle(shape=args.mask, margin=args.margin)
    )
    transcode(
        args.input,
        args.output,
        anonymizer,
        overwrite=args.overwrite,
        encoder=EncoderSettings(codec=args.codec, crf=args.crf, preset=args.preset),
        progress=not args.quiet,
    )
    return 0
