"""Fuzzing the transcoder with damaged copies of small real clips (tests/test_fuzz.py, bench/fuzz.py).

Each case is a seeded mutation of a seed clip (bytes flipped or zeroed, the file cut, a chunk
copied elsewhere, video packets dropped), transcoded in-process through a processor that marks
every frame it is given. A case passes when it ends in one of two ways:

* written: the output decodes, and every frame in it carries the mark (went through the
  processor: a damaged frame is never passed through unanonymized);
* refused: an :class:`AnonfilterError` (exit 2) or :class:`RunFailure` (exit 1) of one line,
  with no output and no temporary file left behind.

Anything else (another exception, which the CLI would show as an internal error) fails it, and
a case that runs longer than :data:`CASE_SECONDS` stops the whole process with a traceback of
every thread (``faulthandler``), so a hang never blocks CI.
"""

from __future__ import annotations

import faulthandler
import os
import random
import shutil
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional

import av

from anonfilter.errors import AnonfilterError
from ffmpeg_bridge import EncoderSettings, transcode
from tests.clips import remux
from tests.test_bridge import LaggingMarker, write_clip

CASE_SECONDS = 30
"""A case taking longer than this is a hang (a normal one takes a few hundredths of a second)."""
ENCODER = EncoderSettings(preset="ultrafast")
MUTATIONS = ("flip", "zero", "cut", "splice", "drop")


@dataclass
class Outcome:
    """How one case ended: ``written`` (with its frame count) or ``refused`` (with the line)."""

    case: str
    written: bool
    frames: int = 0
    line: str = ""


def seed_clips(folder: Path, hamilton: Optional[Path]) -> list[Path]:
    """Small clips to mutate: a few frames of the hamilton clip (real faces, AAC audio) when given, else generated ones."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    if hamilton is not None:
        clips.append(shrink(hamilton, folder / "hamilton.mp4", frames=8, width=128))
        clips.append(remux(clips[0], folder / "hamilton.mkv"))
    generated = folder / "gradient.mkv"
    write_clip(generated, list(range(0, 320, 40)), size=(96, 64), audio=True)
    clips += [generated, remux(generated, folder / "gradient.ts")]
    return clips


def shrink(source: Path, target: Path, frames: int, width: int) -> Path:
    """The first ``frames`` frames of ``source`` at ``width`` pixels wide (H.264), with the audio packets over the same span."""
    with av.open(str(source)) as input_, av.open(str(target), "w") as output:
        video_in = input_.streams.video[0]
        height = round(video_in.height * width / video_in.width / 2) * 2
        video = output.add_stream("libx264", rate=video_in.average_rate, options={"preset": "ultrafast", "g": "4"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio_in = input_.streams.audio[0] if input_.streams.audio else None
        audio = output.add_stream_from_template(audio_in) if audio_in is not None else None
        start = float(video_in.start_time * video_in.time_base) if video_in.start_time else 0.0
        end = start + float(frames / video_in.average_rate)
        count = 0
        for packet in input_.demux():
            if packet.pts is None or float(packet.pts * packet.time_base) > end:
                continue
            if audio_in is not None and packet.stream.index == audio_in.index:
                packet.stream = audio
                output.mux(packet)
                continue
            if packet.stream.index != video_in.index:
                continue
            for frame in packet.decode():
                if count < frames:
                    small = frame.reformat(width=width, height=height, format="yuv420p")
                    small.pts, small.time_base = count, Fraction(1, 1) / video_in.average_rate
                    output.mux(video.encode(small))
                    count += 1
        output.mux(video.encode(None))
    return target


def mutate(source: Path, target: Path, rng: random.Random) -> str:
    """Write a damaged copy of ``source`` to ``target``; returns what was done."""
    kind = rng.choice(MUTATIONS)
    if kind == "drop":
        dropped = {index for index in range(64) if rng.random() < 0.25}
        try:
            remux(source, target, lambda index, packet: None if index in dropped else bytes(packet))
            return f"drop video packets {sorted(dropped)[:8]}"
        except (av.error.FFmpegError, ValueError):  # the muxer refuses what is left (no timestamps): damage bytes instead
            kind = "flip"
    data = bytearray(source.read_bytes())
    size = len(data)
    if kind == "flip":
        count = rng.randint(1, 32)
        for _ in range(count):
            data[rng.randrange(size)] ^= 1 << rng.randrange(8)
        detail = f"{count} bits"
    elif kind == "zero":
        start, length = rng.randrange(size), rng.randint(16, 512)
        data[start : start + length] = bytes(len(data[start : start + length]))
        detail = f"{length} bytes at {start}"
    elif kind == "cut":
        start = rng.randint(1, size - 1)
        del data[start:]
        detail = f"at {start} of {size}"
    else:  # splice: a chunk copied over another place
        start, length, to = rng.randrange(size), rng.randint(16, 2048), rng.randrange(size)
        chunk = data[start : start + length]
        data[to : to + len(chunk)] = chunk
        detail = f"{len(chunk)} bytes from {start} to {to}"
    target.write_bytes(bytes(data))
    return f"{kind} {detail}"


def marked(path: Path) -> list[bool]:
    """For each decoded frame of ``path``: does it carry :class:`LaggingMarker`'s mark?"""
    with av.open(str(path)) as container:
        return [bool(frame.to_ndarray(format="rgb24")[1:7, 1:7].min() > 240) for frame in container.decode(video=0)]


def run_case(source: Path, folder: Path, name: str) -> Outcome:
    """Transcode one damaged file into ``folder`` (empty) and check how it ended (see the module docstring)."""
    target = folder / ("out" + source.suffix)
    faulthandler.dump_traceback_later(CASE_SECONDS, exit=True, file=sys.stderr)
    try:
        result = transcode(source, target, lambda info: LaggingMarker(lag=2), encoder=ENCODER, progress=False, report=lambda line: None)
    except AnonfilterError as error:
        line = str(error)
        assert "\n" not in line and line, f"{name}: not one line: {line!r}"
        assert os.listdir(folder) == [], f"{name}: left behind {os.listdir(folder)} ({line})"
        return Outcome(name, False, line=line)
    finally:
        faulthandler.cancel_dump_traceback_later()
    frames = marked(target)
    assert len(frames) == result.frames and all(frames), f"{name}: {frames.count(False)} of {len(frames)} frames not processed"
    assert os.listdir(folder) == [target.name], f"{name}: left behind {os.listdir(folder)}"
    return Outcome(name, True, frames=result.frames)


def fuzz(clips: list[Path], cases: int, seed: int, work: Path, progress: Optional[Callable[[Outcome], None]] = None) -> list[Outcome]:
    """Run ``cases`` seeded cases over ``clips`` in ``work``; an AssertionError names the first case that broke a rule."""
    outcomes = []
    for number in range(cases):
        rng = random.Random(seed * 1_000_003 + number)
        clip = clips[number % len(clips)]
        case_folder = work / f"case{number}"
        out_folder = case_folder / "out"
        out_folder.mkdir(parents=True)
        damaged = case_folder / ("damaged" + clip.suffix)
        what = mutate(clip, damaged, rng)
        outcome = run_case(damaged, out_folder, f"case {number} (seed {seed}, {clip.name}: {what})")
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
        shutil.rmtree(case_folder)
    return outcomes
