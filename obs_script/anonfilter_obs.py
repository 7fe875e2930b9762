"""anonfilter for OBS Studio: hide bystanders' faces live. Load this file in Tools > Scripts.

The script is a thin bridge; the face work runs in a separate ``anonfilter live`` engine process
that the script starts. It creates the source ``anonfilter: output``, which the streamer puts in
their scenes instead of the camera. Two modes:

* camera in the engine: the engine opens the camera itself (lowest delay); OBS never sees the
  raw camera at all.
* read back an OBS source: the script renders the chosen source (which must NOT be in any scene
  of the program output) into a texture on OBS's graphics thread, copies it to the engine, and
  pushes the engine's anonymized frames into the output from a worker thread.

Fail closed: the output only ever shows the engine's anonymized frames, or a black frame while
the engine is starting, stopped, failed or late, and while the panic hotkey is on.

Standard library only: OBS embeds its own Python (see docs/obs.md). Threads: OBS runs the
script's timers on its graphics thread, so nothing heavy happens there; frames are pushed from a
worker thread with ``obs_source_output_video``.
"""

import collections
import ctypes
import ctypes.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import obspython as obs
from bridge import IN, OUT, RUNNING, STATE_NAMES, Bridge, OutputGate, black_frame, default_path

OUTPUT_NAME = "anonfilter: output"
PANIC_HOTKEY = "anonfilter.panic"
VIDEO_FORMAT_BGRA = 7  # media-io/video-io.h; obspython lacks the VIDEO_FORMAT_* constants
MODE_CAMERA, MODE_READBACK = "camera", "readback"
METHODS = ("blur", "pixelate", "solid")
SETTING_METHOD_REQUEST = "anonfilter_method"
"""Key in the output source's settings: ``anonfilter obs method NAME`` sets it over obs-websocket."""
SETTING_RUN_REQUEST = "anonfilter_run"
SETTING_DELAY_REQUEST = "anonfilter_delay"
"""Set by ``anonfilter obs delay SECONDS``: the delay to restart the engine with."""
"""Key in the output source's settings: ``anonfilter obs start|stop`` sets it to ``ACTION:NONCE``."""
SETTING_STATUS = "anonfilter_status"
"""Key in the output source's settings where the script publishes its status (JSON) for ``anonfilter obs status``."""
CONTROL_MS = 250


def log(message):
    """One line in OBS's script log."""
    obs.script_log(obs.LOG_INFO, "[anonfilter] " + message)


def stagesurface_map():
    """``gs_stagesurface_map`` through ctypes (SWIG cannot pass its ``uint8_t **`` argument)."""
    candidates = [None] if sys.platform != "win32" else []
    candidates += [ctypes.util.find_library("obs"), "obs", "libobs.so.0", "libobs.0.dylib"]
    for name in candidates:
        try:
            function = ctypes.CDLL(name).gs_stagesurface_map
        except (OSError, AttributeError, TypeError):
            continue
        function.restype = ctypes.c_bool
        function.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)), ctypes.POINTER(ctypes.c_uint32)]
        return function
    raise RuntimeError("cannot find libobs's gs_stagesurface_map through ctypes")


def video_info():
    """OBS's canvas: ``(width, height, fps)``."""
    info = obs.obs_video_info()
    obs.obs_get_video_info(info)
    return info.base_width, info.base_height, info.fps_num / max(1, info.fps_den)


GRAPHICS_THREAD = {"ident": None}
"""OBS's graphics thread (where timers run), noted by the control timer."""


class Readback:
    """Renders an OBS source into a texture and copies it into the bridge's ``IN`` slot (graphics thread).

    It is a timer: :meth:`tick` runs on OBS's graphics thread. Its GPU resources are freed on that
    thread too, because a tick holds the graphics lock while it runs Python code, so another
    thread entering graphics then would deadlock with it over Python's GIL.
    """

    def __init__(self, source, bridge):
        self.source = source
        self.bridge = bridge
        self.timer = self.tick  # OBS finds a timer to remove by this very object
        self.closing = False
        self.closed = threading.Event()
        self.map = stagesurface_map()
        self.address = ctypes.addressof(ctypes.c_char.from_buffer(bridge.buffer)) + bridge.data_offset(IN)
        self.index = 0
        obs.obs_enter_graphics()
        self.texrender = obs.gs_texrender_create(obs.GS_BGRA, obs.GS_ZS_NONE)
        self.stagesurface = obs.gs_stagesurface_create(bridge.width, bridge.height, obs.GS_BGRA)
        obs.obs_leave_graphics()

    def tick(self):
        """Read the source's current picture back and publish it to the engine."""
        if self.closing:
            obs.timer_remove(self.timer)
            self._destroy()
            return
        source_width = obs.obs_source_get_width(self.source)
        source_height = obs.obs_source_get_height(self.source)
        if not source_width or not source_height:
            return
        width, height = self.bridge.width, self.bridge.height
        obs.obs_enter_graphics()
        try:
            obs.gs_texrender_reset(self.texrender)
            if not obs.gs_texrender_begin(self.texrender, width, height):
                return
            clear = obs.vec4()
            obs.vec4_zero(clear)
            obs.gs_clear(obs.GS_CLEAR_COLOR, clear, 0.0, 0)
            obs.gs_ortho(0.0, float(source_width), 0.0, float(source_height), -100.0, 100.0)
            obs.gs_blend_state_push()
            obs.gs_blend_function(obs.GS_BLEND_ONE, obs.GS_BLEND_ZERO)
            obs.obs_source_video_render(self.source)
            obs.gs_blend_state_pop()
            obs.gs_texrender_end(self.texrender)
            obs.gs_stage_texture(self.stagesurface, obs.gs_texrender_get_texture(self.texrender))
            pixels = ctypes.POINTER(ctypes.c_ubyte)()
            linesize = ctypes.c_uint32()
            if not self.map(ctypes.c_void_p(int(self.stagesurface)), ctypes.byref(pixels), ctypes.byref(linesize)):
                return
            try:
                self.bridge.publish(IN, self.index, time.monotonic_ns(), lambda: self._copy(pixels, linesize.value))
                self.index += 1
            finally:
                obs.gs_stagesurface_unmap(self.stagesurface)
        finally:
            obs.obs_leave_graphics()

    def _copy(self, pixels, linesize):
        row = self.bridge.width * 4
        start = ctypes.addressof(pixels.contents)
        if linesize == row:
            ctypes.memmove(self.address, start, row * self.bridge.height)
            return
        for y in range(self.bridge.height):
            ctypes.memmove(self.address + y * row, start + y * linesize, row)

    def close(self):
        """Stop ticking and free the GPU resources; when this returns, the bridge is no longer written."""
        if threading.get_ident() == GRAPHICS_THREAD["ident"]:  # no tick can run meanwhile
            obs.timer_remove(self.timer)
            self._destroy()
            return
        self.closing = True  # the next tick frees everything on the graphics thread
        if not self.closed.wait(2.0):
            log("the read-back did not stop within 2 s (OBS is closing?); its GPU resources are left to OBS")

    def _destroy(self):
        obs.obs_enter_graphics()
        obs.gs_stagesurface_destroy(self.stagesurface)
        obs.gs_texrender_destroy(self.texrender)
        obs.obs_leave_graphics()
        self.address = 0
        self.closed.set()


class Session:
    """One running engine: the bridge, the engine process, the worker thread that feeds the output."""

    def __init__(self, config, output, input_source, panic):
        self.config = config
        self.output = output
        self.input_source = input_source
        self.panic = panic
        self.reason = "engine starting"
        self.stop_event = threading.Event()
        self.delays_ms = collections.deque(maxlen=30)
        """Capture (or read-back) to push time of the last frames shown, in ms."""
        width, height, self.fps = video_info()
        if input_source is not None:
            width, height = obs.obs_source_get_width(input_source), obs.obs_source_get_height(input_source)
        self.bridge = Bridge.create(default_path(), width, height)
        self.bridge.beat("script_heartbeat_ns")
        self.log_path = os.path.join(tempfile.gettempdir(), "anonfilter-live.log")
        command = [config["command"], "live", "--bridge", self.bridge.path, "--method", config["method"], "--fps", "%g" % self.fps]
        if config["mode"] == MODE_CAMERA:
            command += ["--camera", config["camera"]]
        if config["keep"]:
            command += ["--keep", config["keep"]]
        if config["delay_s"] > 0:
            command += ["--delay", "%g" % config["delay_s"]]
        command += shlex.split(config["extra"], posix=os.name != "nt")
        log("starting engine: " + " ".join(command))
        try:
            with open(self.log_path, "wb") as log_file:
                self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)
        except OSError:
            self.bridge.close()
            self.bridge.unlink()
            raise
        # frames are expected that much later with a delay: lateness counts from the delayed deadline
        self.gate = OutputGate(config["max_delay_ms"] + 1000 * config["delay_s"])
        self.worker = threading.Thread(target=self._feed_output, name="anonfilter-output", daemon=True)
        self.worker.start()
        self.readback = None
        if input_source is not None:
            obs.obs_source_inc_showing(input_source)
            self.readback = Readback(input_source, self.bridge)
            obs.timer_add(self.readback.timer, max(1, int(1000 / self.fps)))

    def engine_running(self):
        """True while the engine process lives and says it is running."""
        return self.process.poll() is None and self.bridge.get("engine_state") == RUNNING

    def set_method(self, name):
        """Ask the engine to switch method."""
        self.bridge.set("method", name)
        self.bridge.set("method_seq", int(self.bridge.get("method_seq")) + 1)

    def _feed_output(self):
        """Worker thread: push each new anonymized frame, or a black frame when the gate says so."""
        width, height = self.bridge.width, self.bridge.height
        size = width * height * 4
        frame = obs.obs_source_frame_create(VIDEO_FORMAT_BGRA, width, height)
        plane = (ctypes.c_void_p * 8).from_address(int(frame.data))[0]
        engine_frames = ctypes.addressof(ctypes.c_char.from_buffer(self.bridge.buffer)) + self.bridge.data_offset(OUT)
        black = black_frame(width, height)
        newest, seq, showing = None, 0, None

        def push(pixels_from=None):
            if pixels_from is not None:
                ctypes.memmove(plane, pixels_from, size)
            frame.timestamp = obs.os_gettime_ns()
            obs.obs_source_output_video(self.output, frame)

        try:
            while not self.stop_event.is_set():
                self.bridge.beat("script_heartbeat_ns")
                stamp = self.bridge.latest(OUT, seq, lambda: ctypes.memmove(plane, engine_frames, size))
                if stamp is not None:
                    seq, newest = stamp.seq, stamp
                verdict = self.gate.decide(time.monotonic_ns(), newest, self.engine_running(), self.panic)
                self.reason = verdict.reason
                if verdict.show and stamp is not None:
                    push()
                    self.delays_ms.append((time.monotonic_ns() - stamp.capture_ns) / 1e6)
                    showing = True
                elif not verdict.show and showing is not False:
                    push(black)
                    showing = False
                time.sleep(0.001)
            push(black)
        finally:
            obs.obs_source_frame_destroy(frame)

    def status(self):
        """What the script and the engine are doing, for the log and ``anonfilter obs status``."""
        code = self.process.poll()
        state = STATE_NAMES.get(int(self.bridge.get("engine_state")), "?")
        return {
            "output": self.reason,
            "panic": self.panic,
            "mode": self.config["mode"],
            "method": self.config["method"],
            "protection": self.protection(),
            "engine": state if code is None else "exited with code %d" % code,
            "engine_message": self.bridge.get("message") or self.last_log_line(),
            "engine_frames": int(self.bridge.get("frames_done")),
            "engine_latency_ms": round(int(self.bridge.get("latency_us")) / 1000, 1),
            "capture_to_output_ms": round(sorted(self.delays_ms)[len(self.delays_ms) // 2], 1) if self.delays_ms else None,
            "size": "%dx%d" % (self.bridge.width, self.bridge.height),
        }

    def protection(self):
        """What the output protects: the delay, or without one the smallest face the engine finds."""
        if self.config["delay_s"] > 0:
            return "delay %g s: faces covered from their first frame" % self.config["delay_s"]
        message = str(self.bridge.get("message"))
        return next((part for part in message.split("; ") if part.startswith("no delay")), "no delay")

    def last_log_line(self):
        """The engine's last line of output (its error, when it failed to start)."""
        try:
            with open(self.log_path, "rb") as handle:
                lines = handle.read().decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def stop(self, exiting=False):
        """Stop the worker (the output goes black), the readback and the engine; remove the bridge.

        When OBS is exiting, the read-back is only told to stop (OBS frees the GPU resources) and
        the bridge stays mapped until the process ends, so nothing here waits for the graphics thread.
        """
        self.stop_event.set()
        self.worker.join(timeout=2)
        if self.readback is not None:
            if exiting:
                self.readback.closing = True
            else:
                self.readback.close()
            obs.obs_source_dec_showing(self.input_source)
            obs.obs_source_release(self.input_source)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.readback is None or not exiting:
            self.bridge.close()
        self.readback = None
        self.bridge.unlink()


class Script:
    """The script's state between OBS's callbacks."""

    def __init__(self):
        self.settings = None
        self.output = None
        self.session = None
        self.hotkey = None
        self.status_text = ""
        self.error = ""
        self.waiting = False
        """True while autostart waits for the input source to show a picture."""
        self.panic_on = False
        self.run_request = None
        """The last start/stop request seen in the output's settings (None: not read yet)."""
        self.action = None
        """``start`` or ``stop``, asked for by a button; the control timer does it on the graphics
        thread, because starting and stopping the read-back uses the GPU."""
        self.ready = False
        """True once OBS has loaded the scene collection (scripts load before its sources)."""

    def config(self):
        """The user's settings as a plain dict."""
        get_string = lambda key: obs.obs_data_get_string(self.settings, key).strip()  # noqa: E731
        return {
            "mode": get_string("mode"),
            "source": get_string("source"),
            "camera": get_string("camera"),
            "method": get_string("method") or "blur",
            "keep": get_string("keep"),
            "command": get_string("command") or shutil.which("anonfilter") or "",
            "extra": get_string("extra"),
            "max_delay_ms": obs.obs_data_get_int(self.settings, "max_delay_ms"),
            "delay_s": max(0.0, obs.obs_data_get_double(self.settings, "delay_s")),
            "autostart": obs.obs_data_get_bool(self.settings, "autostart"),
        }

    def ensure_output(self):
        """Find or create the output source (an async media source with no file, unbuffered)."""
        if self.output is None:
            self.output = obs.obs_get_source_by_name(OUTPUT_NAME)
        if self.output is None:
            settings = obs.obs_data_create_from_json(
                json.dumps({"is_local_file": True, "local_file": "", "clear_on_media_end": False, "close_when_inactive": False})
            )
            self.output = obs.obs_source_create("ffmpeg_source", OUTPUT_NAME, settings, None)
            obs.obs_data_release(settings)
            log("created source '%s': add it to your scenes instead of the camera" % OUTPUT_NAME)
        if not obs.obs_source_get_output_flags(self.output) & obs.OBS_SOURCE_ASYNC_VIDEO:
            raise RuntimeError("source '%s' exists but is not an asynchronous video source; remove it" % OUTPUT_NAME)
        obs.obs_source_set_async_unbuffered(self.output, True)

    def start(self):
        """Start the engine with the current settings."""
        if self.session is not None:
            return
        config = self.config()
        self.error = ""
        self.waiting = False
        try:
            self.ensure_output()
            if not config["command"] or not os.path.exists(config["command"]):
                raise RuntimeError("anonfilter command not found: set 'anonfilter command' to the anonfilter executable")
            input_source = None
            if config["mode"] == MODE_READBACK:
                input_source = obs.obs_get_source_by_name(config["source"])
                if input_source is None:
                    raise RuntimeError("source '%s' not found" % config["source"])
                if not obs.obs_source_get_width(input_source):
                    obs.obs_source_release(input_source)
                    self.error = "waiting for source '%s' to show a picture" % config["source"]
                    self.waiting = True
                    return
            elif not config["camera"]:
                raise RuntimeError("choose the camera the engine should open")
            self.session = Session(config, self.output, input_source, self.panic_on)
        except (RuntimeError, OSError, ValueError) as error:
            self.error = str(error)
            log("cannot start: " + self.error)

    def stop(self, exiting=False):
        """Stop the engine; the output shows black."""
        session, self.session = self.session, None  # the control timer must not use it while it stops
        if session is not None:
            session.stop(exiting)

    def panic(self, pressed):
        """Hotkey callback: each press toggles panic (whole output obscured)."""
        if not pressed:
            return
        self.panic_on = not self.panic_on
        if self.session is not None:
            self.session.panic = self.panic_on
        log("panic " + ("ON: output obscured" if self.panic_on else "off"))

    def keep_raw_source_off_program(self):
        """Read-back mode: hide the raw source wherever the program scene shows it (it must never go out)."""
        raw = self.session.input_source if self.session is not None else None
        if raw is None or not obs.obs_source_active(raw):
            return ""
        raw_name = obs.obs_source_get_name(raw)
        scene_source = obs.obs_frontend_get_current_scene()
        items = obs.obs_scene_enum_items(obs.obs_scene_from_source(scene_source)) or []
        for item in items:
            if obs.obs_source_get_name(obs.obs_sceneitem_get_source(item)) == raw_name and obs.obs_sceneitem_visible(item):
                obs.obs_sceneitem_set_visible(item, False)
                log("hid the raw source '%s' in the program scene: only '%s' may go out" % (raw_name, OUTPUT_NAME))
        obs.sceneitem_list_release(items)
        obs.obs_source_release(scene_source)
        return "raw source '%s' is on the program output (nested scene?): remove it" % raw_name

    def control(self):
        """Timer (graphics thread, light work only): autostart, method requests, raw source guard, status."""
        if self.settings is None or not self.ready:
            return
        if self.output is None:
            try:
                self.ensure_output()
            except RuntimeError as error:
                self.error = str(error)
                return
        config = self.config()
        if self.session is None and config["autostart"] and (not self.error or self.waiting):
            self.start()
        source_settings = obs.obs_source_get_settings(self.output)
        try:
            run_request = obs.obs_data_get_string(source_settings, SETTING_RUN_REQUEST)
            if self.run_request is not None and run_request != self.run_request:
                self.action = run_request.split(":")[0]
                log("%s requested over obs-websocket" % self.action)
            self.run_request = run_request  # one saved with the scene collection is not replayed
            action, self.action = self.action, None
            if action in ("start", "stop"):
                self.stop()
                self.error = "stopped"  # and no autostart until started again
                if action == "start":
                    self.start()
            delay = obs.obs_data_get_string(source_settings, SETTING_DELAY_REQUEST)
            if delay and float(delay) != config["delay_s"]:
                obs.obs_data_set_double(self.settings, "delay_s", float(delay))
                log("delay set to %s s over obs-websocket; restarting the engine" % delay)
                if self.session is not None:
                    self.stop()
                    self.start()
            requested = obs.obs_data_get_string(source_settings, SETTING_METHOD_REQUEST)
            if requested and self.session is not None and requested != self.session.config["method"]:
                self.session.config["method"] = requested
                obs.obs_data_set_string(self.settings, "method", requested)
                self.session.set_method(requested)
                log("method switched to " + requested)
            warning = self.keep_raw_source_off_program()
            if self.session is not None:
                status = self.session.status()
                if warning and obs.obs_source_active(self.session.input_source):
                    status["warning"] = warning
            else:
                status = {"output": self.error or "stopped", "panic": self.panic_on}
            text = json.dumps(status, sort_keys=True)
            if text != self.status_text:
                self.status_text = text
                obs.obs_data_set_string(source_settings, SETTING_STATUS, text)
                obs.obs_data_set_string(self.settings, "status", status["output"])
                log("status: " + text)
        finally:
            obs.obs_data_release(source_settings)


SCRIPT = Script()


def script_description():
    """Shown in Tools > Scripts."""
    return (
        "<b>anonfilter</b>: hides faces live (bystanders, not you).<br>"
        "Put the source <i>%s</i> in your scenes instead of the camera. "
        "Never put the raw camera in a scene that goes out.<br>"
        "Panic hotkey: Settings &gt; Hotkeys &gt; 'anonfilter: panic'." % OUTPUT_NAME
    )


def script_defaults(settings):
    """Default settings."""
    obs.obs_data_set_default_string(settings, "mode", MODE_CAMERA)
    obs.obs_data_set_default_string(settings, "camera", "0")
    obs.obs_data_set_default_string(settings, "method", "blur")
    obs.obs_data_set_default_int(settings, "max_delay_ms", 500)
    obs.obs_data_set_default_double(settings, "delay_s", 0.0)
    obs.obs_data_set_default_bool(settings, "autostart", False)


def _on_start(props, prop):
    SCRIPT.action = "start"  # done by the control timer, on the graphics thread
    return True


def _on_stop(props, prop):
    SCRIPT.action = "stop"
    return True


def _on_add_to_scene(props, prop):
    SCRIPT.ensure_output()
    scene_source = obs.obs_frontend_get_current_scene()
    scene = obs.obs_scene_from_source(scene_source)
    if obs.obs_scene_find_source(scene, OUTPUT_NAME) is None:
        obs.obs_scene_add(scene, SCRIPT.output)
    obs.obs_source_release(scene_source)
    return True


def script_properties():
    """The settings panel."""
    props = obs.obs_properties_create()
    mode = obs.obs_properties_add_list(props, "mode", "Input", obs.OBS_COMBO_TYPE_LIST, obs.OBS_COMBO_FORMAT_STRING)
    obs.obs_property_list_add_string(mode, "Camera opened by the engine (lowest delay)", MODE_CAMERA)
    obs.obs_property_list_add_string(mode, "Read back an OBS source (keep it out of your scenes)", MODE_READBACK)
    obs.obs_properties_add_text(props, "camera", "Camera (number, device path or video file)", obs.OBS_TEXT_DEFAULT)
    sources = obs.obs_properties_add_list(
        props, "source", "OBS source to anonymize", obs.OBS_COMBO_TYPE_EDITABLE, obs.OBS_COMBO_FORMAT_STRING
    )
    all_sources = obs.obs_enum_sources() or []
    for source in all_sources:
        name = obs.obs_source_get_name(source)
        if name != OUTPUT_NAME:
            obs.obs_property_list_add_string(sources, name, name)
    obs.source_list_release(all_sources)
    method = obs.obs_properties_add_list(props, "method", "Method", obs.OBS_COMBO_TYPE_EDITABLE, obs.OBS_COMBO_FORMAT_STRING)
    for name in METHODS:
        obs.obs_property_list_add_string(method, name, name)
    obs.obs_properties_add_path(props, "keep", "Keep visible (photo of you)", obs.OBS_PATH_FILE, "Images (*.jpg *.jpeg *.png)", None)
    obs.obs_properties_add_path(props, "command", "anonfilter command", obs.OBS_PATH_FILE, "", None)
    obs.obs_properties_add_text(props, "extra", "Extra engine options", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_float(
        props, "delay_s", "Delay for full protection (s; 0: none, 1-2: faces hidden from their first frame)", 0.0, 10.0, 0.5
    )
    obs.obs_properties_add_int(props, "max_delay_ms", "Obscure when the engine is later than (ms, after the delay)", 50, 10000, 50)
    obs.obs_properties_add_bool(props, "autostart", "Start with OBS")
    obs.obs_properties_add_button(props, "start", "Start / restart", _on_start)
    obs.obs_properties_add_button(props, "stop", "Stop", _on_stop)
    obs.obs_properties_add_button(props, "add_to_scene", "Add output to current scene", _on_add_to_scene)
    status = obs.obs_properties_add_text(props, "status", "Status", obs.OBS_TEXT_DEFAULT)
    obs.obs_property_set_enabled(status, False)
    return props


def script_update(settings):
    """Settings changed: a running engine picks up a new method at once; other changes need Start."""
    SCRIPT.settings = settings
    session = SCRIPT.session
    if session is not None:
        method = obs.obs_data_get_string(settings, "method").strip()
        if method and method != session.config["method"]:
            session.config["method"] = method
            session.set_method(method)


def script_load(settings):
    """Register the panic hotkey and the control timer; create the output source."""
    SCRIPT.settings = settings
    # OBS takes only plain functions as hotkey callbacks (not bound methods)
    SCRIPT.hotkey = obs.obs_hotkey_register_frontend(PANIC_HOTKEY, "anonfilter: panic (obscure the whole output)", _on_panic)
    bindings = obs.obs_data_get_array(settings, "panic_hotkey")
    obs.obs_hotkey_load(SCRIPT.hotkey, bindings)
    obs.obs_data_array_release(bindings)
    current_scene = obs.obs_frontend_get_current_scene()
    SCRIPT.ready = current_scene is not None  # loaded by hand into a running OBS
    obs.obs_source_release(current_scene)
    obs.obs_frontend_add_event_callback(_on_frontend_event)
    obs.timer_add(_control, CONTROL_MS)


def _control():
    GRAPHICS_THREAD["ident"] = threading.get_ident()
    SCRIPT.control()


def _on_panic(pressed):
    SCRIPT.panic(pressed)


def _on_frontend_event(event):
    if event in (obs.OBS_FRONTEND_EVENT_FINISHED_LOADING, obs.OBS_FRONTEND_EVENT_SCENE_COLLECTION_CHANGED):
        SCRIPT.ready = True
    elif event in (obs.OBS_FRONTEND_EVENT_SCENE_COLLECTION_CHANGING, obs.OBS_FRONTEND_EVENT_EXIT):
        SCRIPT.ready = False
        SCRIPT.stop(exiting=True)  # OBS is tearing down: do not wait for its graphics thread
        if SCRIPT.output is not None:
            obs.obs_source_release(SCRIPT.output)
            SCRIPT.output = None


def script_save(settings):
    """Keep the panic hotkey's binding."""
    bindings = obs.obs_hotkey_save(SCRIPT.hotkey)
    obs.obs_data_set_array(settings, "panic_hotkey", bindings)
    obs.obs_data_array_release(bindings)


def script_unload():
    """Stop everything and let go of the output source."""
    obs.timer_remove(_control)
    SCRIPT.stop(exiting=True)
    if SCRIPT.output is not None:
        obs.obs_source_release(SCRIPT.output)
        SCRIPT.output = None
