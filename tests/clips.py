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
