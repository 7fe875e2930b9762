"""A real OBS Studio under Xvfb runs the anonfilter script; checks go through obs-websocket.

OBS (Debian's obs-studio with obs-plugins) and Xvfb are installed by
scripts/install-obs-test-deps.sh when missing. OBS starts with the pre-seeded profile in
tests/obs_profile/: the script reads back a media source that plays a real face clip (with a frame
counter stamped in its top-left corner), the engine anonymizes it, and the output source shows
the result. The test grabs screenshots through obs-websocket and checks that:

* the faces in the output are not the clip's faces, while the rest of the picture is the clip's;
* the panic hotkey obscures the whole output, and a method switch reaches the engine;
* the added delay, read from the counters of the raw clip and the output in one screenshot of
  a scene that shows both (never the program scene), is printed in frames.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import av
import numpy as np
import pytest
from PIL import Image

from anonfilter.audit import REFERENCE_THRESHOLD, SSIM_THRESHOLD, face_similarity, ssim
from anonfilter.commands.obs import OUTPUT_NAME, OBSControl, delay_active
from anonfilter.detection.centerface import CenterFace
from tests.data import shared_path

pytestmark = pytest.mark.obs

REPO = Path(__file__).resolve().parents[1]
PROFILE = Path(__file__).resolve().parent / "obs_profile"
CLIP = "videos/liveportrait_s18.mp4"  # 1280x720, 30 fps, one talking face
CLIP_FRAMES = 120
FPS = 30
BLOCK = 32
GUARD = (255, 0)  # the first two blocks, so a misread counter is recognised
BITS = 8
MAX_DELAY_MS = 4000  # this shared 2-core machine is slow; the default bound is 500 ms


def stamp(image: np.ndarray, counter: int) -> None:
    """Write ``counter`` as black/white blocks into the top-left corner of an RGB image."""
    values = list(GUARD) + [255 if counter >> bit & 1 else 0 for bit in range(BITS)]
    for position, value in enumerate(values):
        image[:BLOCK, position * BLOCK : (position + 1) * BLOCK] = value


def read_stamp(image: np.ndarray, x0: int = 0, scale: float = 1.0) -> Optional[int]:
    """The counter stamped at ``x0`` in an image shown at ``scale``, or None when unreadable."""
    block = BLOCK * scale
    row = image[int(block / 2)]
    values = [int(row[int(x0 + (position + 0.5) * block)].mean()) for position in range(len(GUARD) + BITS)]
    bits = [value > 127 for value in values]
    if bits[:2] != [True, False] or any(40 < value < 215 for value in values):
        return None
    return sum(1 << bit for bit, on in enumerate(bits[2:]) if on)


@pytest.fixture(scope="module")
def stamped_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first seconds of the clip with a frame counter in the corner, as a file OBS can play."""
    source = shared_path(CLIP)
    target = tmp_path_factory.mktemp("clip") / "stamped.mp4"
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "16", "g": "30"}
        for counter, frame in enumerate(inp.decode(video=0)):
            if counter == CLIP_FRAMES:
                break
            image = frame.to_ndarray(format="rgb24")
            stamp(image, counter)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return target


def clip_frame(path: Path, counter: int) -> np.ndarray:
    """Frame ``counter`` of the stamped clip (RGB), decoded again."""
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == counter:
                return frame.to_ndarray(format="rgb24")
    raise IndexError(counter)


def ensure_obs_installed() -> None:
    """Install OBS and Xvfb with the project's script when they are missing."""
    if shutil.which("obs") and shutil.which("Xvfb"):
        return
    subprocess.run(["bash", str(REPO / "scripts" / "install-obs-test-deps.sh")], check=True)


def port_free(port: int) -> bool:
    """True when nothing listens on localhost:port."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def obs_home(tmp_path_factory: pytest.TempPathFactory, stamped_clip: Path) -> Path:
    """A fresh $HOME with the pre-seeded OBS configuration."""
    home = tmp_path_factory.mktemp("obs-home")
    config = home / ".config" / "obs-studio"
    (config / "basic" / "profiles" / "anonfilter_test").mkdir(parents=True)
    (config / "basic" / "scenes").mkdir(parents=True)
    shutil.copy(PROFILE / "global.ini", config / "global.ini")
    shutil.copy(PROFILE / "basic.ini", config / "basic" / "profiles" / "anonfilter_test" / "basic.ini")
    command = Path(sys.executable).with_name("anonfilter")
    scenes = (PROFILE / "scenes.json").read_text()
    for key, value in {
        "@CLIP@": str(stamped_clip),
        "@SCRIPT@": str(REPO / "obs_script" / "anonfilter_obs.py"),
        "@COMMAND@": str(command),
        "@MAX_DELAY_MS@": str(MAX_DELAY_MS),
    }.items():
        scenes = scenes.replace(key, value)
    (config / "basic" / "scenes" / "anonfilter_test.json").write_text(scenes)
    return home


@pytest.fixture(scope="module")
def obs_control(obs_home: Path) -> Iterator[OBSControl]:
    """OBS running under Xvfb; stopped with SIGINT afterwards (its log is printed on failure)."""
    ensure_obs_installed()
    if not port_free(4455):
        pytest.fail("port 4455 is taken: another OBS is running")
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=[write_end],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as display_pipe:
        display = display_pipe.readline().strip()
    env = dict(os.environ, HOME=str(obs_home), DISPLAY=f":{display}", LIBGL_ALWAYS_SOFTWARE="1", XDG_RUNTIME_DIR=str(obs_home))
    for name in [name for name in env if name.startswith("QT_")] + ["WAYLAND_DISPLAY"]:
        env.pop(name, None)  # opencv-python points Qt at its own plugins when imported
    log_path = obs_home / "obs-stdout.log"
    with open(log_path, "wb") as log:
        obs = subprocess.Popen(
            ["obs", "--multi", "--disable-missing-files-check", "--collection", "anonfilter_test", "--profile", "anonfilter_test"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=obs_home,
        )
    control = None
    try:
        deadline = time.monotonic() + 60
        while control is None:
            if obs.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"OBS did not start (exit {obs.poll()}):\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                control = OBSControl(port=4455, timeout=15)
            except Exception:
                time.sleep(0.5)
        yield control
    finally:
        if control is not None:
            control.close()
        obs.send_signal(signal.SIGINT)
        try:
            obs.wait(timeout=20)
        except subprocess.TimeoutExpired:
            obs.kill()
            obs.wait()
        xvfb.terminate()
        xvfb.wait()
        engine_log = Path("/tmp/anonfilter-live.log")
        print(f"\nOBS log tail:\n{log_path.read_text(errors='replace')[-1500:]}")
        if engine_log.exists():
            print(f"engine log tail:\n{engine_log.read_text(errors='replace')[-800:]}")


def screenshot(control: OBSControl, source: str, width: int = 1280, image_format: str = "png") -> np.ndarray:
    """A screenshot of ``source`` (16:9, ``width`` wide), as RGB."""
    data = control.request(
        "GetSourceScreenshot", sourceName=source, imageFormat=image_format, imageWidth=width, imageHeight=width * 9 // 16
    )
    encoded = data["imageData"].split(",", 1)[1]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB"))


@pytest.fixture(scope="module")
def anonymizing(obs_control: OBSControl) -> OBSControl:
    """Waits until the script reports that the engine's frames reach the output."""
    script = obs_control.wait_for("output", "anonymizing", timeout=90)
    if script.get("output") != "anonymizing":
        pytest.fail(f"the output never showed anonymized frames; script status: {script}")
    return obs_control


def grayscale(image: np.ndarray) -> np.ndarray:
    """Luma of an RGB image as float."""
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def test_status_reports_script_and_output(anonymizing: OBSControl) -> None:
    """`anonfilter obs status` sees the script, the output source in the program scene, and the engine."""
    status = anonymizing.status()
    assert status["script_loaded"] and status["output_source"] and status["output_in_program"]
    assert status["script"]["engine"] == "running"
    assert status["obs_websocket"].startswith("5.")


def test_obs_status_command(anonymizing: OBSControl) -> None:
    """`anonfilter obs status` prints the script's state and exits 0 when all is well."""
    result = subprocess.run([sys.executable, "-m", "anonfilter.cli", "obs", "status"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "script.output: anonymizing" in result.stdout and "output_in_program: True" in result.stdout


def test_obs_command_without_obs_is_one_line_error() -> None:
    """With nothing listening, `anonfilter obs` says so in one line and exits 2."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "anonfilter.cli", "obs", "--port", str(port), "status"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot connect to obs-websocket" in result.stderr


def test_command_and_script_agree_on_names() -> None:
    """`anonfilter obs` repeats names from the OBS script (which cannot import anonfilter): they must match."""
    import ast  # noqa: PLC0415

    from anonfilter.commands import obs as command  # noqa: PLC0415

    tree = ast.parse((REPO / "obs_script" / "anonfilter_obs.py").read_text())
    constants = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Constant)
    }
    assert constants["OUTPUT_NAME"] == command.OUTPUT_NAME
    assert constants["PANIC_HOTKEY"] == command.PANIC_HOTKEY
    assert constants["SETTING_METHOD_REQUEST"] == command.METHOD_SETTING
    assert constants["SETTING_STATUS"] == command.STATUS_SETTING
    assert constants["SETTING_RUN_REQUEST"] == command.RUN_SETTING
    assert constants["SETTING_DELAY_REQUEST"] == command.DELAY_SETTING


def test_output_faces_are_anonymized(anonymizing: OBSControl, stamped_clip: Path) -> None:
    """In output screenshots the face is not structurally the clip's face (as `anonfilter check` judges it); the rest is the clip."""
    assert_output_anonymized(anonymizing, stamped_clip)


def assert_output_anonymized(anonymizing: OBSControl, stamped_clip: Path) -> None:
    """Checks three output screenshots against the clip's frames of the same counter."""
    detector = CenterFace(threshold=REFERENCE_THRESHOLD, precision="fp32")  # the reference of `anonfilter check`
    checked = 0
    for _ in range(20):
        shot = screenshot(anonymizing, OUTPUT_NAME)
        counter = read_stamp(shot)
        if counter is None:
            time.sleep(0.2)
            continue
        raw = clip_frame(stamped_clip, counter)
        faces = detector.detect(raw)
        assert len(faces), "the test clip's frame should show a face"
        background = ssim(grayscale(raw[40:, :400]), grayscale(shot[40:, :400]))
        assert background > 0.7, f"output does not show the clip (background SSIM {background:.2f})"
        for x0, y0, x1, y1 in faces.boxes.astype(int):
            face_ssim = face_similarity(grayscale(raw[y0:y1, x0:x1]), grayscale(shot[y0:y1, x0:x1]))
            assert face_ssim < SSIM_THRESHOLD, f"face at {(x0, y0, x1, y1)} in frame {counter} is not anonymized (SSIM {face_ssim:.2f})"
        unchanged = [s for s in detector.detect(shot).scores if s > 0.5]
        checked += 1
        print(
            f"frame {counter}: background SSIM {background:.2f}, face SSIM {face_ssim:.2f}, confident faces found in output: {len(unchanged)}"
        )
        if checked == 3:
            break
    assert checked >= 2, "could not read the frame counter from the output"


def measure_added_delay(control: OBSControl, outputs: int = 10, seconds: float = 20) -> dict[str, float]:
    """The delay between the raw clip and the output, from screenshots of a scene showing both.

    The delay of an output frame is read when it first appears: the raw clip's counter minus the
    output's counter in that screenshot. Returns its median, min and max in frames, the
    screenshot interval in frames, and medians of the engine's processing time, the read-back
    to push time inside OBS (ms) and OBS's rendering rate.
    """
    first_seen: dict[int, int] = {}
    seen_at_start = None
    intervals = []
    latencies, inside, render_fps = [], [], []
    deadline = time.monotonic() + seconds
    last = time.monotonic()
    while len(first_seen) < outputs and time.monotonic() < deadline:
        if len(intervals) % 4 == 0:
            script = control.status()["script"]
            latencies.append(float(script.get("engine_latency_ms") or 0.0))
            inside.append(float(script.get("capture_to_output_ms") or 0.0))
            render_fps.append(float(control.request("GetStats")["activeFps"]))
        shot = screenshot(control, "compare", 640, "jpg")  # small and fast: sampling is finer
        now = time.monotonic()
        intervals.append(now - last)
        last = now
        raw, out = read_stamp(shot, 0, 0.25), read_stamp(shot, 320, 0.25)
        if raw is None or out is None:
            continue
        if seen_at_start is None:
            seen_at_start = out  # shown since before we looked: its first appearance is unknown
        elif out != seen_at_start and out not in first_seen:
            first_seen[out] = (raw - out) % CLIP_FRAMES
    assert len(first_seen) >= 3, "could not read the counters of the compare scene"
    delays = np.array(list(first_seen.values()))
    return {
        "outputs": len(delays),
        "median": float(np.median(delays)),
        "min": int(delays.min()),
        "max": int(delays.max()),
        "sampling": float(np.median(intervals[1:])) * FPS,
        "engine_ms": float(np.median(latencies)),
        "inside_ms": float(np.median(inside)),
        "render_fps": float(np.median(render_fps)),
    }


def describe_delay(measured: dict[str, float], label: str) -> str:
    """One line of the measured delay, printed in every run."""
    frame_ms = 1000 / FPS
    return (
        f"\n{label} at 1280x720, {measured['outputs']} output frames: median {measured['median']:.1f} frames "
        f"(min {measured['min']}, max {measured['max']}), screenshot every {measured['sampling']:.1f} frames; engine "
        f"processing median {measured['engine_ms']:.0f} ms = {measured['engine_ms'] / frame_ms:.1f} frames; capture to "
        f"push median {measured['inside_ms']:.0f} ms = {measured['inside_ms'] / frame_ms:.1f} frames; OBS rendering at "
        f"{measured['render_fps']:.1f} fps (shared 2-core machine, software OpenGL)"
    )


def test_added_delay_in_frames(anonymizing: OBSControl, capsys: pytest.CaptureFixture) -> None:
    """Prints the delay between the raw clip and the output; without --delay it is processing plus two OBS frames.

    It includes the engine's processing time, which on this shared 2-core machine (with OBS
    rendering in software) is several frames by itself.
    """
    measured = measure_added_delay(anonymizing)
    with capsys.disabled():  # shown in every run, not only on failure
        print(describe_delay(measured, "added delay"))
    frame_ms = 1000 / FPS
    processing = max(measured["engine_ms"], measured["inside_ms"])  # engine time, or read-back to push when longer
    obs_frame_ms = 1000 / max(1.0, measured["render_fps"])  # OBS renders slower than 30 fps when overloaded
    bound = (2 * obs_frame_ms + processing) / frame_ms + np.ceil(measured["sampling"]) + 3  # 3 frames of slack: shared machine
    assert measured["median"] <= bound, "output delay beyond two frames plus processing"


def test_delayed_mode(anonymizing: OBSControl, stamped_clip: Path, capsys: pytest.CaptureFixture) -> None:
    """`anonfilter obs delay 1` restarts the engine with a 1 s delay: the output is about 30 frames behind the
    raw clip, still anonymized, and the status says which protection is active; `delay 0` goes back."""
    anonymizing.set_delay(1.0)
    try:
        script = anonymizing.wait_until(lambda script: delay_active(script, 1.0), timeout=90)
        assert script.get("protection") == "delay 1 s: faces covered from their first frame", script
        measured = measure_added_delay(anonymizing, outputs=6, seconds=30)
        with capsys.disabled():
            print(describe_delay(measured, "added delay with --delay 1"))
        # 1 s, plus what the path adds without a delay (8-10 frames in CI) and the delayed pipeline's processing
        # (8-12 frames), at OBS's software rendering of 9-15 fps: 49-62 frames measured on a quiet 2-core machine
        assert FPS - 3 <= measured["median"] <= FPS + 45, "the delay holds frames about 1 s (plus processing)"
        assert_output_anonymized(anonymizing, stamped_clip)
    finally:
        anonymizing.set_delay(0.0)
        script = anonymizing.wait_until(lambda script: delay_active(script, 0.0), timeout=90)
    assert str(script.get("protection", "")).startswith("no delay: faces from "), script


def test_raw_source_put_on_program_is_hidden(anonymizing: OBSControl) -> None:
    """If someone adds the read-back (raw) source to the program scene, the script hides it at once."""
    item = anonymizing.request("CreateSceneItem", sceneName="Program", sourceName="test clip (raw)", sceneItemEnabled=True)
    deadline = time.monotonic() + 5
    enabled = True
    while enabled and time.monotonic() < deadline:
        time.sleep(0.1)
        enabled = anonymizing.request("GetSceneItemEnabled", sceneName="Program", sceneItemId=item["sceneItemId"])["sceneItemEnabled"]
    anonymizing.request("RemoveSceneItem", sceneName="Program", sceneItemId=item["sceneItemId"])
    assert not enabled, "the raw source stayed visible on the program output"


def test_method_switch_and_panic(anonymizing: OBSControl) -> None:
    """A method switch reaches the engine; the panic hotkey blacks out the whole output and back."""
    anonymizing.set_method("solid")
    switched = anonymizing.wait_until(lambda script: script.get("engine_message", "").startswith("running, method solid"), 10)
    assert switched.get("method") == "solid"
    anonymizing.toggle_panic()
    assert anonymizing.wait_for("output", "panic: whole frame obscured", timeout=5)["panic"] is True
    time.sleep(0.3)
    assert screenshot(anonymizing, OUTPUT_NAME).mean() < 3, "panic must obscure the whole output"
    anonymizing.toggle_panic()
    assert anonymizing.wait_for("output", "anonymizing", timeout=10)["output"] == "anonymizing"


def test_stop_and_restart(anonymizing: OBSControl) -> None:
    """Stopping blacks out the output and frees the read-back; starting again anonymizes again."""
    anonymizing.request_run("stop")
    assert anonymizing.wait_for("output", "stopped", timeout=10)["output"] == "stopped"
    time.sleep(0.3)
    assert screenshot(anonymizing, OUTPUT_NAME).mean() < 3, "a stopped engine leaves a black output"
    anonymizing.request_run("start")
    assert anonymizing.wait_for("output", "anonymizing", timeout=90)["output"] == "anonymizing"
