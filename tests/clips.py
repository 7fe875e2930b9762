"""Damaged and odd copies of small clips for the robustness tests, made with PyAV (no ffmpeg CLI needed)."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
from pathlib import Path
from typing import Callable, Iterator, Optional

import av

PacketEdit = Callable[[int, av.Packet], Optional[bytes]]
"""Given the index of a video packet and the packet, the bytes to write instead (None: drop it)."""


def remux(source: Path, target: Path, edit: Optional[PacketEdit] = None, options: Optional[dict[str, str]] = None) -> Path:
    """Copy every stream of ``source`` into ``target`` packet for packet; ``edit`` may change or drop video packets."""
    with av.open(str(source)) as input_, av.open(str(target), "w", options=options or {}) as output:
        streams = {stream.index: output.add_stream_from_template(stream) for stream in input_.streams}
        index = 0
        for packet in input_.demux():
            if not packet.size:
                continue
            stream = streams[packet.stream.index]
            if packet.stream.type == "video" and edit is not None:
                data = edit(index, packet)
                index += 1
                if data is None:
                    continue
                if data != bytes(packet):
                    copy = av.Packet(data)
                    copy.pts, copy.dts, copy.time_base, copy.is_keyframe = packet.pts, packet.dts, packet.time_base, packet.is_keyframe
                    packet = copy
            packet.stream = stream
            output.mux(packet)
    return target


def cut(source: Path, target: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``source``'s bytes (a download or copy that stopped)."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "2m") -> Iterator[str]:
    """A full disk for ``folder``: a tmpfs of ``size`` mounted there (root), else RLIMIT_FSIZE.

    Yields how: ``"tmpfs"`` (a real full disk, ENOSPC) or ``"rlimit"`` (this sandbox cannot
    mount: the kernel refuses writes past the size instead, EFBIG, for this process).
    """
    folder.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True).returncode == 0
    if mounted:
        try:
            yield "tmpfs"
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        return
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(size.rstrip("m")) << 20, limit[1]))
    try:
        yield "rlimit"
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, previous)


def files_in(folder: Path) -> list[str]:
    """Names in ``folder`` (hidden ones too: a temporary ``.NAME.*.partial.EXT`` shows up here)."""
    return sorted(os.listdir(folder))


def looped(source: Path, target: Path, times: int, width: int, keyframe_every: int, step: int = 1) -> Path:
    """``source`` played ``times`` times in a row, scaled to ``width`` pixels wide, as H.264 with a
    keyframe every ``keyframe_every`` frames, every ``step``-th frame kept (at a frame rate that
    much lower), its audio (if any) copied once per loop (each loop's audio starts where the
    last one ended).

    A long clip made from a short shared one: its faces run through any segment border placed
    inside a loop, and each loop's start is a cut.
    """
    with av.open(str(source)) as input_, av.open(str(target), "w") as output:
        video_in = input_.streams.video[0]
        audio_in = input_.streams.audio[0] if input_.streams.audio else None
        height = round(video_in.height * width / video_in.width / 2) * 2
        rate = video_in.average_rate / step
        video = output.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"g": str(keyframe_every), "keyint_min": str(keyframe_every), "preset": "ultrafast", "crf": "20"}
        audio = output.add_stream_from_template(audio_in) if audio_in is not None else None
        frames, audio_packets = [], []
        for packet in input_.demux():
            if packet.stream is video_in:
                frames += [frame.reformat(width, height, "yuv420p").to_ndarray() for frame in packet.decode()]
            elif packet.stream is audio_in and packet.size:
                audio_packets.append(packet)
        frames = frames[::step]
        for loop in range(times):
            for index, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
                frame.pts = loop * len(frames) + index
                frame.time_base = 1 / rate
                output.mux(video.encode(frame))
            if audio is not None and audio_in is not None:
                shift = loop * (audio_packets[-1].pts + audio_packets[-1].duration - audio_packets[0].pts) if audio_packets else 0
                for packet in audio_packets:
                    copy = av.Packet(bytes(packet))
                    copy.pts, copy.dts = packet.pts + shift, packet.dts + shift
                    copy.duration, copy.time_base, copy.stream = packet.duration, packet.time_base, audio
                    output.mux(copy)
        output.mux(video.encode(None))
    return target
