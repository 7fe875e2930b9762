"""The frame exchange between the OBS script and the ``anonfilter live`` engine (standard library only).

Both processes map one file (on Linux in ``/dev/shm``, so it never touches a disk). It holds a
4 KiB header and two frame slots of ``width x height`` BGRA pixels:

* ``IN``: raw frames the script reads back from an OBS source (unused when the engine owns the
  camera); written by the script, read by the engine.
* ``OUT``: anonymized frames; written by the engine, read by the script's worker thread.

Each slot is a seqlock: the writer makes the slot's sequence number odd, writes the pixels, the
frame index and the capture time, then makes it even again. A reader copies the pixels and keeps
them only if the sequence number was even and unchanged across the copy, so a torn frame is never
used. Each slot has one writer. The header also carries heartbeats, the engine's state and
figures, and the method the script asks for.

The file holds raw camera frames, so it is private: :meth:`Bridge.create` makes it with
``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600 (never over an existing file or through a planted
symbolic link), and :meth:`Bridge.open` refuses a file another user owns or other users may read
or write. The script removes it when it stops; the engine removes it when it created it, or when
the script stopped answering.

This module is imported by OBS's embedded Python (whatever version the user's OBS uses), so it
needs nothing outside the standard library.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional

MAGIC = b"ANONFLT1"
HEADER_SIZE = 4096
BYTES_PER_PIXEL = 4  # BGRA, the format OBS reads back and accepts (VIDEO_FORMAT_BGRA)
IN, OUT = 0, 1
"""The two frame slots."""

FILE_MODE = 0o600
"""The bridge file is readable and writable by its owner only: its IN slot holds raw camera frames."""
_PRIVATE_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

STARTING, RUNNING, STOPPED, FAILED = 0, 1, 2, 3
"""Engine states, as written by the engine in the header."""
STATE_NAMES = {STARTING: "starting", RUNNING: "running", STOPPED: "stopped", FAILED: "failed"}

_FIELDS: dict[str, tuple[int, str]] = {
    "magic": (0, "8s"),
    "width": (8, "I"),
    "height": (12, "I"),
    "engine_state": (16, "I"),
    "engine_pid": (20, "I"),
    "script_heartbeat_ns": (24, "Q"),
    "engine_heartbeat_ns": (32, "Q"),
    "frames_done": (40, "Q"),
    "latency_us": (48, "Q"),
    "method_seq": (56, "Q"),
    "method": (64, "64s"),
    "message": (128, "256s"),
}
_SLOT_HEADERS = (512, 1024)  # per slot: seq, frame index, capture time (ns, time.monotonic_ns)
_SLOT = struct.Struct("<QQQ")


@dataclass(frozen=True)
class Stamp:
    """What came with a frame read from a slot: its sequence number, frame index and capture time."""

    seq: int
    index: int
    capture_ns: int


def default_path() -> str:
    """A fresh bridge file name: in ``/dev/shm`` where it exists (RAM), else the temporary folder."""
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    return os.path.join(folder, f"anonfilter-{os.getpid()}-{time.monotonic_ns()}.bridge")


def check_private(path: str, status: os.stat_result) -> None:
    """``ValueError`` unless ``status`` is that of a regular file of this user that no other user may read or write."""
    if not stat.S_ISREG(status.st_mode):
        raise ValueError(f"{path} is not a regular file")
    if not hasattr(os, "getuid"):  # no POSIX owners and modes (Windows): the user's temporary folder is private
        return
    if status.st_uid != os.getuid():
        raise ValueError(f"{path} belongs to another user (uid {status.st_uid}); refusing to use it")
    if status.st_mode & 0o077:
        raise ValueError(
            f"{path} may be read or written by other users (mode {stat.S_IMODE(status.st_mode):04o}); "
            f"the bridge holds raw camera frames and must have mode {FILE_MODE:04o}"
        )


class Bridge:
    """One mapped bridge file. Create it with :meth:`create` (the script) or :meth:`open` (the engine)."""

    def __init__(self, path: str, file_handle: "object", buffer: mmap.mmap) -> None:
        self.path = path
        self._file = file_handle
        self.buffer = buffer
        self.width = int(self.get("width"))
        self.height = int(self.get("height"))
        self.frame_bytes = self.width * self.height * BYTES_PER_PIXEL

    @classmethod
    def create(cls, path: str, width: int, height: int) -> "Bridge":
        """Create the file at ``path`` for frames of ``width x height``, private to this user (mode 0600).

        ``FileExistsError`` when anything (a file, a symbolic link) is already at ``path``.
        """
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        size = HEADER_SIZE + 2 * width * height * BYTES_PER_PIXEL
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _PRIVATE_FLAGS, FILE_MODE)
        handle = os.fdopen(descriptor, "r+b")
        handle.truncate(size)
        buffer = mmap.mmap(handle.fileno(), size)
        for name, value in (("magic", MAGIC), ("width", width), ("height", height), ("engine_state", STARTING)):
            offset, fmt = _FIELDS[name]
            struct.pack_into("<" + fmt, buffer, offset, value)
        return cls(path, handle, buffer)

    @classmethod
    def open(cls, path: str) -> "Bridge":
        """Map an existing bridge file; ``ValueError`` when it is not one or is not private to this user."""
        handle = os.fdopen(os.open(path, os.O_RDWR | _PRIVATE_FLAGS), "r+b")
        try:
            check_private(path, os.fstat(handle.fileno()))
        except ValueError:
            handle.close()
            raise
        size = os.fstat(handle.fileno()).st_size
        if size < HEADER_SIZE:
            handle.close()
            raise ValueError(f"{path} is not an anonfilter bridge file (too small)")
        buffer = mmap.mmap(handle.fileno(), size)
        if bytes(buffer[:8]) != MAGIC:
            buffer.close()
            handle.close()
            raise ValueError(f"{path} is not an anonfilter bridge file (bad magic)")
        bridge = cls(path, handle, buffer)
        if size < HEADER_SIZE + 2 * bridge.frame_bytes:
            bridge.close()
            raise ValueError(f"{path} is truncated")
        return bridge

    def close(self) -> None:
        """Unmap the file (views returned by :meth:`data` must be released first)."""
        self.buffer.close()
        self._file.close()

    def unlink(self) -> None:
        """Remove the file (the creator does this when it is done)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def get(self, name: str) -> "int | str | bytes":
        """A header field; text fields come back as ``str``."""
        offset, fmt = _FIELDS[name]
        (value,) = struct.unpack_from("<" + fmt, self.buffer, offset)
        if fmt.endswith("s") and name != "magic":
            return value.rstrip(b"\0").decode("utf-8", "replace")
        return value

    def set(self, name: str, value: "int | str") -> None:
        """Write a header field (text is UTF-8, cut to the field's size)."""
        offset, fmt = _FIELDS[name]
        if isinstance(value, str):
            size = int(fmt[:-1])
            value = value.encode("utf-8")[: size - 1]
        struct.pack_into("<" + fmt, self.buffer, offset, value)

    def beat(self, name: str) -> None:
        """Set a heartbeat field (``script_heartbeat_ns`` or ``engine_heartbeat_ns``) to now."""
        self.set(name, time.monotonic_ns())

    def data_offset(self, slot: int) -> int:
        """Byte offset of a slot's pixels in :attr:`buffer`."""
        return HEADER_SIZE + slot * self.frame_bytes

    def data(self, slot: int) -> memoryview:
        """The slot's pixels (``height x width x 4`` BGRA, rows packed); release it before :meth:`close`."""
        offset = self.data_offset(slot)
        return memoryview(self.buffer)[offset : offset + self.frame_bytes]

    def stamp(self, slot: int) -> Stamp:
        """The slot's current sequence number, frame index and capture time."""
        return Stamp(*_SLOT.unpack_from(self.buffer, _SLOT_HEADERS[slot]))

    def publish(self, slot: int, index: int, capture_ns: int, fill: Callable[[], None]) -> None:
        """Write one frame: ``fill()`` writes the pixels into the slot while it is marked busy."""
        header = _SLOT_HEADERS[slot]
        seq = self.stamp(slot).seq
        struct.pack_into("<Q", self.buffer, header, seq + 1)  # odd: being written
        fill()
        _SLOT.pack_into(self.buffer, header, seq + 2, index, capture_ns)  # even: complete

    def latest(self, slot: int, after_seq: int, take: Callable[[], None]) -> Optional[Stamp]:
        """Read the slot's frame if it is newer than ``after_seq``: ``take()`` copies the pixels out.

        Returns the frame's stamp, or None when there is no new complete frame or it changed
        during the copy (then whatever ``take`` copied must not be used).
        """
        before = self.stamp(slot)
        if before.seq == after_seq or before.seq % 2 or before.seq == 0:
            return None
        take()
        after = self.stamp(slot)
        return before if after.seq == before.seq else None


@dataclass(frozen=True)
class Verdict:
    """What the output shows now: the engine's frame (``show``) or an obscured frame, and why."""

    show: bool
    reason: str


class OutputGate:
    """The fail-closed rule of the output: an engine frame is shown only when it is fresh.

    The output is obscured while panic is on, while the engine is starting or not running, and
    when the newest anonymized frame was captured more than ``max_delay_ms`` ago (the engine is
    late or stuck). Raw frames never reach the output at all: only the engine's frames or an
    obscured frame do.
    """

    def __init__(self, max_delay_ms: float) -> None:
        self.max_delay_ns = int(max_delay_ms * 1e6)

    def decide(self, now_ns: int, newest: Optional[Stamp], engine_running: bool, panic: bool) -> Verdict:
        """The verdict for the newest engine frame (None: none yet) at time ``now_ns``."""
        if panic:
            return Verdict(False, "panic: whole frame obscured")
        if not engine_running:
            return Verdict(False, "engine not running")
        if newest is None:
            return Verdict(False, "engine starting")
        late_ms = (now_ns - newest.capture_ns) / 1e6
        if late_ms > self.max_delay_ns / 1e6:
            return Verdict(False, f"engine late ({late_ms:.0f} ms)")
        return Verdict(True, "anonymizing")


def black_frame(width: int, height: int) -> bytes:
    """An opaque black BGRA frame: what the output shows when it is obscured."""
    return b"\0\0\0\xff" * (width * height)
