"""A segment's encoded video as a file of packets, exactly as the encoder made them.

No container: a container would rescale the timestamps to its own time base (Matroska's
milliseconds), and the joined file must have the input's. Each record is a fixed header
(pts, dts, duration, keyframe flag, size) and the packet's bytes. A file is written under a
temporary name and renamed when complete, so a retried task replaces it whole and a reader
never sees half of one.
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

import av

HEADER = struct.Struct("<qqqBI")
"""pts, dts, duration (the video's time base), keyframe (0/1), size in bytes."""
NONE = -(2**63)
"""Stands for a timestamp the encoder left unset."""


class PacketWriter:
    """Writes packets to ``path`` (under a temporary name until :meth:`commit`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._temporary = path.with_name(f"{path.name}.{os.getpid()}.writing")
        self._file: Optional[BinaryIO] = open(self._temporary, "wb")
        self.count = 0

    def write(self, packets: list[av.Packet]) -> None:
        """Append ``packets`` (in the order the encoder gave them)."""
        assert self._file is not None, "written after commit"
        for packet in packets:
            data = bytes(packet)
            pts, dts = _stamp(packet.pts), _stamp(packet.dts)
            self._file.write(HEADER.pack(pts, dts, packet.duration or 0, int(packet.is_keyframe), len(data)))
            self._file.write(data)
            self.count += 1

    def commit(self) -> None:
        """The file is complete: give it its name (replacing one a failed try of the same task left)."""
        assert self._file is not None, "committed twice"
        self._file.close()
        self._file = None
        os.replace(self._temporary, self.path)

    def discard(self) -> None:
        """Remove the unfinished file (after an error)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._temporary.unlink(missing_ok=True)


def read_packets(path: Path, time_base: Fraction) -> Iterator[av.Packet]:
    """The packets :class:`PacketWriter` wrote to ``path``, in order, in ``time_base``."""
    with open(path, "rb") as file:
        while header := file.read(HEADER.size):
            pts, dts, duration, keyframe, size = HEADER.unpack(header)
            packet = av.Packet(file.read(size))
            packet.time_base = time_base
            packet.pts = None if pts == NONE else pts
            packet.dts = None if dts == NONE else dts
            packet.duration = duration
            packet.is_keyframe = bool(keyframe)
            yield packet


def _stamp(value: Optional[int]) -> int:
    return NONE if value is None else value
