"""Live anonymization engine for OBS: frames in and out through a bridge file shared with the OBS script.

The OBS script (obs_script/anonfilter_obs.py, see docs/obs.md) starts this command itself; you
run it by hand only to test or measure it.

examples:
  anonfilter live --bridge /dev/shm/anonfilter.bridge                  frames come from the OBS script
  anonfilter live --bridge /dev/shm/anonfilter.bridge --camera 0       the engine opens camera 0 itself
  anonfilter live --bridge /tmp/b --create 1280x720 --camera clip.mp4 --frames 150
                                     play a file as a camera, print the per-frame latency, exit
  anonfilter live --bridge /tmp/b --create 1920x1080 --camera clip.mp4 --frames 300 --delay 1.5 --record out.mkv
                                     delayed mode (faces covered from their first frame); record what it shows
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from anonfilter.commands.pipeline_options import add_pipeline_arguments, config_from_args
from anonfilter.config import Config
from anonfilter.errors import AnonfilterError
from anonfilter.live.engine import LiveEngine, build_live_anonymizer, percentiles, protection
from anonfilter.live.recorder import LiveRecorder
from anonfilter.live.sources import BridgeSource, CaptureSource, FrameSource
from anonfilter.plugins import PluginHost
from anonfilter.schema import range_of
from obs_script.bridge import FAILED, Bridge

WARM_UP_FRAMES = 5
"""Left out of the latency figures (onnxruntime's first runs are slow) when there are enough frames."""


def frame_size(text: str) -> tuple[int, int]:
    """Parse ``WIDTHxHEIGHT``."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 16 or int(height) < 16:
        raise argparse.ArgumentTypeError(f"frame size must look like 1280x720, not '{text}'")
    return int(width), int(height)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Bridge, input and pipeline options."""
    parser.description = (__doc__ or "").split("\n\nexamples:")[0]
    parser.epilog = "examples:" + (__doc__ or "").split("examples:")[1]
    live = parser.add_argument_group("live input and output")
    live.add_argument("--bridge", required=True, metavar="PATH", help="bridge file shared with the OBS script")
    live.add_argument(
        "--create",
        type=frame_size,
        metavar="WxH",
        help="create the bridge file for this frame size (normally the OBS script creates it)",
    )
    live.add_argument(
        "--camera",
        metavar="DEVICE",
        help="open this camera (number or device path) or video file (played in real time, looping) "
        "instead of taking frames from the OBS script",
    )
    live.add_argument("--fps", type=float, default=30.0, help="frame rate of frames from the OBS script (default: 30)")
    live.add_argument("--frames", type=int, metavar="N", help="stop after N frames and print the latency figures")
    live.add_argument(
        "--record",
        type=Path,
        metavar="OUT",
        help="also write every frame the engine shows, in order, into this video file (to audit a live run)",
    )
    live.add_argument("-y", "--overwrite", action="store_true", help="replace the --record file if it exists")
    live.add_argument(
        "--delay",
        type=float,
        default=Config.delay,
        metavar="SECONDS",
        help="hold frames this long and use the file pipeline's lookahead, so that a face is covered from its first "
        f"frame even when the detector finds it later (default: 0, no delay; 1-2 s gives the protection of a file"
        f"{range_of('delay')})",
    )
    add_pipeline_arguments(parser, live=True)


def run(args: argparse.Namespace) -> int:
    """Open the bridge and the source, then anonymize until stopped."""
    try:
        if args.create:
            bridge = Bridge.create(args.bridge, *args.create)
        else:
            bridge = Bridge.open(args.bridge)
    except (OSError, ValueError) as error:
        raise AnonfilterError(f"cannot use bridge file '{args.bridge}': {error}") from None
    source: Optional[FrameSource] = None
    recorder: Optional[LiveRecorder] = None
    engine: Optional[LiveEngine] = None
    try:
        if args.camera:
            source = CaptureSource(args.camera, bridge.width, bridge.height)
        else:
            source = BridgeSource(bridge, args.fps)
        host = PluginHost()
        for problem in host.problems:
            print(f"anonfilter: {problem}", file=sys.stderr)
        size = (bridge.width, bridge.height)
        config = config_from_args(args, delay=args.delay)  # a bad value is shown in the OBS script's status too
        anonymizer = build_live_anonymizer(config, host, source.fps, size)
        if args.record is not None:
            recorder = LiveRecorder(args.record, *size, source.fps, overwrite=args.overwrite)
        engine = LiveEngine(bridge, source, anonymizer, host, protection=protection(config, *size), recorder=recorder)
        engine.run(max_frames=args.frames)
        warm_up = WARM_UP_FRAMES if len(engine.latencies_ms) > 2 * WARM_UP_FRAMES else 0
        print(
            f"anonfilter live: {len(engine.latencies_ms)} frames at {bridge.width}x{bridge.height}, "
            f"per-frame latency {percentiles(engine.latencies_ms[warm_up:])}"
            + (f" (first {warm_up} frames, warm-up, left out)" if warm_up else "")
            + f"; capture to output {percentiles(engine.output_delays_ms[warm_up:])} ({engine.protection})",
            file=sys.stderr,
        )
        summary = engine.anonymizer.failure_summary()
        if summary:
            print(f"anonfilter live: {summary}", file=sys.stderr)
    except Exception as error:  # the OBS script shows this line in its status
        bridge.set("message", str(error) if isinstance(error, AnonfilterError) else f"{type(error).__name__}: {error}")
        bridge.set("engine_state", FAILED)
        raise
    finally:
        if recorder is not None:  # every frame in it was anonymized: kept even when the engine failed
            recorder.close()
        if source is not None:
            source.close()
        bridge.close()
        if args.create or (engine is not None and engine.script_gone):  # nobody else will remove it
            bridge.unlink()
    return 0
