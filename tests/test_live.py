"""The live engine and its bridge to the OBS script, without OBS (tests/test_obs.py runs a real OBS)."""

from __future__ import annotations

import ctypes
import importlib
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from anonfilter.assembly import delayed
from anonfilter.config import Config, DetectionConfig
from anonfilter.errors import AnonfilterError
from anonfilter.live.engine import LiveEngine, build_live_anonymizer, protection
from anonfilter.live.recorder import LiveRecorder
from anonfilter.live.sources import BridgeSource, Captured
from anonfilter.plugins import PluginHost
from anonfilter.types import Detections
from obs_script.bridge import FAILED, IN, OUT, RUNNING, STARTING, Bridge, OutputGate, Stamp, black_frame
from tests.data import shared_path

WIDTH, HEIGHT = 640, 360
CLIP = "videos/liveportrait_s18.mp4"  # 1280x720, one face on the right


@pytest.fixture
def bridge(tmp_path: Path):
    """A fresh bridge file, as the OBS script creates it."""
    created = Bridge.create(str(tmp_path / "test.bridge"), WIDTH, HEIGHT)
    yield created
    created.close()


def fill_with(bridge: Bridge, slot: int, pixels: bytes):
    """A ``fill``/``take`` callback that writes ``pixels`` into a slot."""

    def fill() -> None:
        bridge.data(slot)[:] = pixels

    return fill


def test_bridge_carries_frames_and_header_between_two_mappings(bridge: Bridge) -> None:
    """What one side publishes, the other reads back with its index and capture time."""
    other = Bridge.open(bridge.path)
    try:
        assert (other.width, other.height, other.get("engine_state")) == (WIDTH, HEIGHT, STARTING)
        pixels = bytes(range(256)) * (bridge.frame_bytes // 256)
        bridge.publish(IN, 7, 123456, fill_with(bridge, IN, pixels))
        copied = bytearray(bridge.frame_bytes)
        stamp = other.latest(IN, 0, lambda: copied.__setitem__(slice(None), other.data(IN)))
        assert stamp == Stamp(2, 7, 123456) and bytes(copied) == pixels
        assert other.latest(IN, stamp.seq, lambda: None) is None, "the same frame is not read twice"
        assert other.latest(OUT, 0, lambda: None) is None, "nothing was published to OUT"
        other.set("method", "pixelate" * 20)
        assert bridge.get("method") == ("pixelate" * 20)[:63], "text is cut to its field"
    finally:
        other.close()


def test_a_frame_changed_during_the_copy_is_rejected(bridge: Bridge) -> None:
    """Seqlock: a read that overlaps a write, or starts during one, returns nothing."""
    bridge.publish(OUT, 1, 1, lambda: None)
    overlapping = bridge.latest(OUT, 0, lambda: bridge.publish(OUT, 2, 2, lambda: None))
    assert overlapping is None
    during_write = []
    bridge.publish(OUT, 3, 3, lambda: during_write.append(bridge.latest(OUT, 0, lambda: None)))
    assert during_write == [None]
    assert bridge.latest(OUT, 0, lambda: None).index == 3


def test_open_refuses_a_file_that_is_not_a_bridge(tmp_path: Path) -> None:
    """A wrong path gives a clear error, from the class and from `anonfilter live` (one line, exit 2)."""
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"x" * 8192)
    junk.chmod(0o600)  # private, as a bridge must be: refused for what it holds
    with pytest.raises(ValueError, match="not an anonfilter bridge"):
        Bridge.open(str(junk))
    result = subprocess.run(
        [sys.executable, "-m", "anonfilter.cli", "live", "--bridge", str(junk)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "not an anonfilter bridge" in result.stderr


@pytest.mark.parametrize(
    "newest, running, panic, age_ms, show, reason",
    [
        (None, True, False, 0, False, "engine starting"),
        (Stamp(2, 0, 0), False, False, 10, False, "engine not running"),
        (Stamp(2, 0, 0), True, False, 900, False, "engine late"),
        (Stamp(2, 0, 0), True, True, 10, False, "panic"),
        (Stamp(2, 0, 0), True, False, 100, True, "anonymizing"),
    ],
)
def test_output_gate_fails_closed(newest, running, panic, age_ms, show, reason) -> None:
    """Only a fresh frame from a running engine, with panic off, is shown; anything else is obscured."""
    verdict = OutputGate(max_delay_ms=500).decide(int(age_ms * 1e6), newest, running, panic)
    assert verdict.show is show and verdict.reason.startswith(reason)


def test_black_frame_is_opaque_black() -> None:
    """The obscured frame has no trace of the picture."""
    frame = np.frombuffer(black_frame(4, 2), np.uint8).reshape(2, 4, 4)
    assert (frame[..., :3] == 0).all() and (frame[..., 3] == 255).all()


def clip_frames(count: int) -> list[np.ndarray]:
    """The first frames of the test clip, scaled to the test size, as BGRA (what OBS reads back)."""
    frames = []
    with av.open(str(shared_path(CLIP))) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgra", width=WIDTH, height=HEIGHT))
            if len(frames) == count:
                break
    return frames


def start_engine(bridge: Bridge, method: str = "pixelate") -> tuple[LiveEngine, threading.Thread, threading.Event]:
    """The engine on frames from the bridge, in a thread."""
    host = PluginHost()
    anonymizer = build_live_anonymizer(None, host, 30.0, (WIDTH, HEIGHT))
    anonymizer.method, anonymizer.method_name = host.create_method(method), method
    opened = Bridge.open(bridge.path)
    engine = LiveEngine(opened, BridgeSource(opened, 25), anonymizer, host, report=lambda message: None)
    stop = threading.Event()
    thread = threading.Thread(target=engine.run, kwargs={"stop": stop}, daemon=True)
    thread.start()
    return engine, thread, stop


def close(engine: LiveEngine) -> None:
    """Release the engine's source and its mapping of the bridge."""
    engine.source.close()
    engine.bridge.close()


def wait_for_out(bridge: Bridge, after_seq: int, timeout: float = 30) -> tuple[Stamp, np.ndarray]:
    """The next frame the engine publishes."""
    out = np.empty((HEIGHT, WIDTH, 4), np.uint8)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stamp = bridge.latest(
            OUT, after_seq, lambda: out.__setitem__(slice(None), np.frombuffer(bridge.data(OUT), np.uint8).reshape(out.shape))
        )
        if stamp is not None:
            return stamp, out
        time.sleep(0.005)
    raise AssertionError("the engine published nothing")


def test_engine_anonymizes_frames_from_the_bridge(bridge: Bridge) -> None:
    """Frames put into IN come out of OUT with their index and capture time, face changed, rest kept."""
    frames = clip_frames(4)
    engine, thread, stop = start_engine(bridge)
    try:
        seq = 0
        for index, frame in enumerate(frames):
            bridge.publish(IN, 100 + index, 5000 + index, fill_with(bridge, IN, frame.tobytes()))
            stamp, out = wait_for_out(bridge, seq)
            seq = stamp.seq
            assert (stamp.index, stamp.capture_ns) == (100 + index, 5000 + index)
            faces = engine.anonymizer.detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB))
            assert len(faces) >= 1  # the face, and maybe a low-score false detection (also anonymized)
            x0, y0, x1, y1 = faces.boxes[int(np.argmax(faces.scores))].astype(int)
            face_change = np.abs(out[y0:y1, x0:x1, :3].astype(int) - frame[y0:y1, x0:x1, :3]).mean()
            background_change = np.abs(out[:, : x0 - 80, :3].astype(int) - frame[:, : x0 - 80, :3]).mean()
            assert face_change > 8 and background_change < 1, (face_change, background_change)
        assert bridge.get("engine_state") == RUNNING and bridge.get("frames_done") == len(frames)
    finally:
        stop.set()
        thread.join(timeout=10)
        close(engine)


def test_engine_switches_method_when_the_script_asks(bridge: Bridge) -> None:
    """A method name and a new sequence number in the header switch the method; a bad name is reported."""
    engine, thread, stop = start_engine(bridge)
    try:
        bridge.set("method", "no-such-method")
        bridge.set("method_seq", 1)
        deadline = time.monotonic() + 10
        while "no-such-method" not in str(bridge.get("message")) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.anonymizer.method_name == "pixelate" and "unknown method" in str(bridge.get("message"))
        bridge.set("method", "solid")
        bridge.set("method_seq", 2)
        while engine.anonymizer.method_name != "solid" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.anonymizer.method_name == "solid"
    finally:
        stop.set()
        thread.join(timeout=10)
        close(engine)


class BrokenDetector:
    """A detector that fails, to check that the engine stops instead of passing frames through."""

    def detect(self, frame: np.ndarray) -> Detections:
        """Always fails."""
        raise RuntimeError("detector broke")


def test_engine_failure_never_publishes_the_raw_frame(bridge: Bridge) -> None:
    """When the detector fails the engine stops with nothing in OUT, so the script shows black."""
    host = PluginHost()
    anonymizer = build_live_anonymizer(None, host, 30.0, (WIDTH, HEIGHT))
    anonymizer.detector = BrokenDetector()
    opened = Bridge.open(bridge.path)
    engine = LiveEngine(opened, BridgeSource(opened, 25), anonymizer, host, report=lambda message: None)
    bridge.publish(IN, 0, 0, fill_with(bridge, IN, clip_frames(1)[0].tobytes()))
    with pytest.raises(RuntimeError, match="detector broke"):
        engine.run()
    close(engine)
    assert bridge.stamp(OUT).seq == 0
    assert OutputGate(500).decide(time.monotonic_ns(), None, engine_running=False, panic=False).show is False


def test_engine_exits_when_the_script_is_gone(bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no heartbeat from the OBS script for a while, the engine stops by itself."""
    monkeypatch.setattr("anonfilter.live.engine.ORPHAN_SECONDS", 0.2)
    engine, thread, stop = start_engine(bridge)
    bridge.beat("script_heartbeat_ns")
    thread.join(timeout=10)
    assert not thread.is_alive()
    close(engine)


def test_live_command_plays_a_file_as_a_camera(tmp_path: Path) -> None:
    """`anonfilter live --camera FILE` (the engine owns the camera) runs and reports its latency."""
    clip = shared_path(CLIP)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "anonfilter.cli",
            "live",
            "--bridge",
            str(tmp_path / "b"),
            "--create",
            f"{WIDTH}x{HEIGHT}",
            "--camera",
            str(clip),
            "--frames",
            "8",
            "--tracker",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "8 frames at 640x360, per-frame latency p50" in result.stderr
    assert not (tmp_path / "b").exists(), "a bridge the command created is removed"


def test_failed_engine_start_is_reported_in_the_bridge(bridge: Bridge) -> None:
    """An engine that cannot start says why in the bridge header (the OBS script shows it)."""
    result = subprocess.run(
        [sys.executable, "-m", "anonfilter.cli", "live", "--bridge", bridge.path, "--method", "nope"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert bridge.get("engine_state") == FAILED and "unknown method 'nope'" in str(bridge.get("message"))


class FakeFrame:
    """Stands in for OBS's ``obs_source_frame``: ``int(frame.data)`` is the address of its plane pointers."""

    def __init__(self, width: int, height: int) -> None:
        self.pixels = ctypes.create_string_buffer(width * height * 4)
        self.planes = (ctypes.c_void_p * 8)(ctypes.addressof(self.pixels))
        self.data = ctypes.addressof(self.planes)
        self.timestamp = 0


class FakeObs(types.ModuleType):
    """The few ``obspython`` calls the script's output worker makes; records every pushed frame.

    A stand-in at the boundary that needs a running OBS (tests/test_obs.py runs the real one).
    """

    LOG_INFO = 300

    class obs_video_info:  # noqa: N801 - OBS's name
        """OBS's canvas: the test's frame size at 30 fps."""

        base_width, base_height, fps_num, fps_den = WIDTH, HEIGHT, 30, 1

    def __init__(self) -> None:
        super().__init__("obspython")
        self.pushed: list[bytes] = []

    def obs_get_video_info(self, info: object) -> None:
        """Nothing to fill in: the class holds the values."""

    def obs_source_frame_create(self, video_format: int, width: int, height: int) -> FakeFrame:
        """A frame buffer."""
        return FakeFrame(width, height)

    def obs_source_frame_destroy(self, frame: FakeFrame) -> None:
        """Nothing to free."""

    def obs_source_output_video(self, source: object, frame: FakeFrame) -> None:
        """Record what the output would show."""
        self.pushed.append(bytes(frame.pixels))

    def os_gettime_ns(self) -> int:
        """OBS's clock."""
        return time.monotonic_ns()

    def script_log(self, level: int, message: str) -> None:
        """Dropped."""


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch):
    """The OBS script module, imported with :class:`FakeObs` as ``obspython``."""
    fake = FakeObs()
    monkeypatch.setitem(sys.modules, "obspython", fake)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "obs_script"))
    monkeypatch.delitem(sys.modules, "anonfilter_obs", raising=False)
    module = importlib.import_module("anonfilter_obs")
    yield module, fake
    sys.modules.pop("anonfilter_obs", None)


def idle_session(module: types.ModuleType, tmp_path: Path, max_delay_ms: int, delay_s: float) -> object:
    """The script's session with an engine that never starts (the test publishes its frames)."""
    idle_engine = tmp_path / "engine"
    idle_engine.write_text("#!/bin/sh\nexec sleep 60\n")
    idle_engine.chmod(0o755)
    config = {
        "mode": "camera",
        "camera": "0",
        "method": "blur",
        "keep": "",
        "command": str(idle_engine),
        "extra": "",
        "max_delay_ms": max_delay_ms,
        "delay_s": delay_s,
    }
    return module.Session(config, "output", None, False)


def test_script_output_shows_only_fresh_engine_frames(script, tmp_path: Path) -> None:
    """The script's worker pushes black while the engine starts, is late, is dead or panic is on."""
    module, fake = script
    session = idle_session(module, tmp_path, max_delay_ms=1000, delay_s=0.0)
    black = black_frame(WIDTH, HEIGHT)
    engine_side = Bridge.open(session.bridge.path)

    def publish(value: int) -> bytes:
        pixels = bytes([value]) * engine_side.frame_bytes
        engine_side.publish(OUT, value, time.monotonic_ns(), fill_with(engine_side, OUT, pixels))
        return pixels

    def shown_after(seconds: float) -> bytes:
        time.sleep(seconds)
        return fake.pushed[-1]

    try:
        assert shown_after(0.3) == black and set(fake.pushed) == {black}, "engine starting"
        engine_side.set("engine_state", RUNNING)
        assert shown_after(0.3) == black, "running but nothing published yet"
        first = publish(100)
        assert shown_after(0.3) == first
        assert shown_after(1.2) == black, "engine late"
        second = publish(101)
        assert shown_after(0.3) == second
        session.panic = True
        assert shown_after(0.3) == black, "panic"
        session.panic = False
        third = publish(102)
        assert shown_after(0.3) == third
        session.process.kill()
        session.process.wait()
        assert shown_after(0.3) == black, "engine dead"
        assert set(fake.pushed) <= {black, first, second, third}
    finally:
        engine_side.close()
        session.stop()


class LateDetector:
    """The real detector, blind for its first ``misses`` runs: a face the detector finds late."""

    def __init__(self, detector: object, misses: int) -> None:
        self.detector = detector
        self.misses = misses

    def detect(self, frame: np.ndarray) -> Detections:
        """Nothing for the first runs, then the real detector's faces."""
        if self.misses > 0:
            self.misses -= 1
            return Detections.empty()
        return self.detector.detect(frame)


def run_engine_on(bridge: Bridge, frames: list[np.ndarray], delay: float, misses: int, record: Path) -> list[np.ndarray]:
    """Feed ``frames`` (BGRA) through a live engine at 25 fps, recording what it shows; returns the recording as RGB."""
    host = PluginHost()
    anonymizer = build_live_anonymizer(Config(delay=delay), host, 25.0, (WIDTH, HEIGHT))
    late = LateDetector(anonymizer.detector, misses)
    anonymizer.detector = late
    if anonymizer.focus is not None:
        anonymizer.focus.detector = late
    opened = Bridge.open(bridge.path)
    recorder = LiveRecorder(record, WIDTH, HEIGHT, 25.0)
    engine = LiveEngine(opened, BridgeSource(opened, 25), anonymizer, host, report=lambda message: None, recorder=recorder)
    for index, frame in enumerate(frames):
        engine.process(Captured(cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB), index, 1_000_000 + index * 40_000_000))
    last_out = cv2.cvtColor(np.frombuffer(opened.data(OUT), np.uint8).reshape(HEIGHT, WIDTH, 4), cv2.COLOR_BGRA2RGB)
    recorder.close()
    engine.release()
    close(engine)
    with av.open(str(record)) as container:
        recorded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert np.abs(recorded[-1].astype(int) - last_out).mean() < 2, "the recording holds what the output showed"
    return recorded


def face_changes(frames: list[np.ndarray], recorded: list[np.ndarray]) -> list[float]:
    """Mean change of the face region (the clip's face, as found in the raw frame) per recorded frame."""
    detector = PluginHost().create_detector("centerface")
    changes = []
    for raw, shown in zip(frames, recorded):
        rgb = cv2.cvtColor(raw, cv2.COLOR_BGRA2RGB)
        faces = detector.detect(rgb)
        x0, y0, x1, y1 = faces.boxes[int(np.argmax(faces.scores))].astype(int)
        changes.append(float(np.abs(shown[y0:y1, x0:x1].astype(int) - rgb[y0:y1, x0:x1]).mean()))
    return changes


def test_delayed_engine_covers_a_face_from_its_first_frame(bridge: Bridge, tmp_path: Path) -> None:
    """With --delay, a face the detector finds only on the 7th frame is hidden from the 1st; without, it is shown."""
    frames = clip_frames(22)
    delayed = run_engine_on(bridge, frames, delay=0.5, misses=6, record=tmp_path / "delayed.mkv")
    assert len(delayed) == len(frames) - round(0.5 * 25), "frames are held back for the delay"
    assert min(face_changes(frames, delayed)) > 8, "every shown frame has the face anonymized"
    immediate = run_engine_on(bridge, frames[:10], delay=0.0, misses=6, record=tmp_path / "immediate.mkv")
    assert len(immediate) == 10, "without a delay every frame is shown at once"
    changes = face_changes(frames, immediate)
    assert max(changes[:6]) < 3 < 8 < min(changes[6:]), "without a delay a face found late is shown until then"


def test_delay_options() -> None:
    """The delay is spent on the detector interval and the lookahead; too short a delay is refused."""
    config = delayed(Config(delay=2.0), 30.0, (1920, 1080))
    assert config.detection.every == 4 and config.tracking.max_gap == pytest.approx(55 / 30) and config.tracking.extend_before == 0.4
    with pytest.raises(AnonfilterError, match="too short at 30 fps: at least 0.20 s"):
        delayed(Config(delay=0.1), 30.0, (1920, 1080))


def test_protection_says_what_is_protected() -> None:
    """Without a delay the smallest face follows from the detector's resolution; with one, the delay."""
    assert protection(Config(), 1920, 1080) == "no delay: faces from 48 px"
    assert protection(Config(), 1280, 720) == "no delay: faces from 32 px"
    sharper = Config(detection=DetectionConfig(options=("resolution=1280",)))
    assert protection(sharper, 1920, 1080) == "no delay: faces from 24 px"
    assert protection(Config(delay=1.5), 1920, 1080) == "delay 1.5 s: faces covered from their first frame"


def test_script_with_a_delay_obscures_frames_late_after_the_delayed_deadline(script, tmp_path: Path) -> None:
    """With a 1 s delay, a frame captured 1.2 s ago is shown (500 ms bound after the delay) and one
    captured 1.6 s ago is obscured: lateness counts from capture time plus the delay."""
    module, fake = script
    session = idle_session(module, tmp_path, max_delay_ms=500, delay_s=1.0)
    black = black_frame(WIDTH, HEIGHT)
    engine_side = Bridge.open(session.bridge.path)
    try:
        engine_side.set("engine_state", RUNNING)
        pixels = bytes([100]) * engine_side.frame_bytes
        engine_side.publish(OUT, 1, time.monotonic_ns() - 1_200_000_000, fill_with(engine_side, OUT, pixels))
        time.sleep(0.1)
        assert fake.pushed[-1] == pixels and session.status()["protection"] == "delay 1 s: faces covered from their first frame"
        time.sleep(0.4)
        assert fake.pushed[-1] == black, "later than delay + bound: obscured"
    finally:
        engine_side.close()
        session.stop()
