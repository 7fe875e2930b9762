"""Control anonfilter in a running OBS Studio over obs-websocket (protocol v5, OBS 28 or newer).

The anonfilter script must be loaded in OBS (Tools > Scripts > obs_script/anonfilter_obs.py) and
obs-websocket enabled (Tools > WebSocket Server Settings). See docs/obs.md.

examples:
  anonfilter obs status                  is the output source there, in the program scene, anonymizing?
  anonfilter obs setup                   create the output source and put it in the program scene
  anonfilter obs method pixelate         switch the running engine to another method
  anonfilter obs delay 1.5              restart the engine with a 1.5 s delay: faces hidden from their first frame
  anonfilter obs panic                   toggle panic: the whole output is obscured (press again to end)
  anonfilter obs stop                    stop the engine (the output shows black)
  anonfilter obs start                   start or restart the engine with the script's settings
  anonfilter obs --password secret --port 4455 status
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Callable, Optional

from anonfilter.errors import AnonfilterError

OUTPUT_NAME = "anonfilter: output"
PANIC_HOTKEY = "anonfilter.panic"
METHOD_SETTING = "anonfilter_method"
RUN_SETTING = "anonfilter_run"
DELAY_SETTING = "anonfilter_delay"
STATUS_SETTING = "anonfilter_status"
# The names above are the OBS script's (obs_script/anonfilter_obs.py); that script cannot import
# anonfilter (OBS runs it in its own Python), so they are repeated here and a test checks they match.
DEFAULT_PORT = 4455
"""obs-websocket 5's port. obs-websocket-py's own default, 4444, selects the legacy v4 protocol."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Connection options and the action."""
    parser.description = (__doc__ or "").split("\n\nexamples:")[0]
    parser.epilog = "examples:" + (__doc__ or "").split("examples:")[1]
    parser.add_argument("--host", default="localhost", help="OBS's machine (default: localhost)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"obs-websocket port (default: {DEFAULT_PORT})")
    parser.add_argument(
        "--password",
        default=os.environ.get("OBS_WEBSOCKET_PASSWORD", ""),
        help="obs-websocket password (default: $OBS_WEBSOCKET_PASSWORD, or none)",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("status", help="report OBS, the output source and the engine")
    actions.add_parser("setup", help="create the output source if needed and add it to the program scene")
    method = actions.add_parser("method", help="switch the running engine's method")
    method.add_argument("name", help="method name (see `anonfilter plugins`)")
    delay = actions.add_parser("delay", help="restart the engine with this delay (0: none; 1-2 s: full protection)")
    delay.add_argument("seconds", type=float, help="seconds the engine holds frames back")
    actions.add_parser("panic", help="toggle panic (whole output obscured)")
    actions.add_parser("start", help="start or restart the engine with the script's settings")
    actions.add_parser("stop", help="stop the engine (the output shows black)")


class OBSControl:
    """A connection to obs-websocket with the few requests anonfilter needs."""

    def __init__(self, host: str = "localhost", port: int = DEFAULT_PORT, password: str = "", timeout: float = 10) -> None:
        try:
            from obswebsocket import obsws  # noqa: PLC0415 - optional dependency (the `obs` extra)
            from obswebsocket.exceptions import ConnectionFailure  # noqa: PLC0415
        except ImportError:
            raise AnonfilterError("obs-websocket-py is not installed: pip install 'anonfilter[obs]'") from None
        self.client = obsws(host, port, password, legacy=False, timeout=timeout)
        try:
            self.client.connect()
        except ConnectionFailure as error:
            raise AnonfilterError(
                f"cannot connect to obs-websocket at {host}:{port} ({error}); is OBS running with "
                "Tools > WebSocket Server Settings > Enable enabled, and the password right?"
            ) from None

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()

    def request(self, name: str, **data: Any) -> dict:
        """Send one request; returns its response data, or raises :class:`AnonfilterError`."""
        from obswebsocket import requests  # noqa: PLC0415

        response = self.client.call(getattr(requests, name)(**data))
        if not response.status:
            comment = response.datain.get("comment") or response.datain.get("code") or "failed"
            raise AnonfilterError(f"OBS refused {name}: {comment}")
        return response.datain

    def output_settings(self) -> Optional[dict]:
        """The output source's settings, or None when it does not exist."""
        try:
            data = self.request("GetInputSettings", inputName=OUTPUT_NAME)
        except AnonfilterError:
            return None
        return data.get("inputSettings", {})

    def script_loaded(self) -> bool:
        """True when the anonfilter script is loaded (its panic hotkey is registered)."""
        return PANIC_HOTKEY in self.request("GetHotkeyList").get("hotkeys", [])

    def status(self) -> dict:
        """OBS version, whether the script is loaded, the output source, its scene, and the script's status."""
        version = self.request("GetVersion")
        program = self.request("GetCurrentProgramScene").get("currentProgramSceneName", "")
        settings = self.output_settings()
        in_program = False
        if settings is not None:
            items = self.request("GetSceneItemList", sceneName=program).get("sceneItems", [])
            in_program = any(item.get("sourceName") == OUTPUT_NAME and item.get("sceneItemEnabled") for item in items)
        return {
            "obs": version.get("obsVersion"),
            "obs_websocket": version.get("obsWebSocketVersion"),
            "script_loaded": self.script_loaded(),
            "output_source": settings is not None,
            "program_scene": program,
            "output_in_program": in_program,
            "script": json.loads(settings.get(STATUS_SETTING) or "{}") if settings is not None else {},
        }

    def setup(self) -> str:
        """Create the output source in the program scene if missing, else add it there; says what it did."""
        program = self.request("GetCurrentProgramScene")["currentProgramSceneName"]
        if self.output_settings() is None:
            self.request(
                "CreateInput",
                sceneName=program,
                inputName=OUTPUT_NAME,
                inputKind="ffmpeg_source",
                inputSettings={"is_local_file": True, "local_file": "", "clear_on_media_end": False, "close_when_inactive": False},
                sceneItemEnabled=True,
            )
            return f"created '{OUTPUT_NAME}' in scene '{program}'"
        items = self.request("GetSceneItemList", sceneName=program).get("sceneItems", [])
        if any(item.get("sourceName") == OUTPUT_NAME for item in items):
            return f"'{OUTPUT_NAME}' is already in scene '{program}'"
        self.request("CreateSceneItem", sceneName=program, sourceName=OUTPUT_NAME, sceneItemEnabled=True)
        return f"added '{OUTPUT_NAME}' to scene '{program}'"

    def set_method(self, name: str) -> None:
        """Ask the script to switch the engine to method ``name``."""
        if self.output_settings() is None:
            raise AnonfilterError(f"no source '{OUTPUT_NAME}' in OBS; run `anonfilter obs setup` or load the script")
        self.request("SetInputSettings", inputName=OUTPUT_NAME, inputSettings={METHOD_SETTING: name}, overlay=True)

    def set_delay(self, seconds: float) -> None:
        """Ask the script to restart the engine with a delay of ``seconds`` (0: none)."""
        if not 0 <= seconds <= 10:
            raise AnonfilterError(f"the delay must be 0 to 10 seconds, not {seconds:g}")
        if self.output_settings() is None:
            raise AnonfilterError(f"no source '{OUTPUT_NAME}' in OBS; run `anonfilter obs setup` or load the script")
        self.request("SetInputSettings", inputName=OUTPUT_NAME, inputSettings={DELAY_SETTING: f"{seconds:g}"}, overlay=True)

    def request_run(self, action: str) -> None:
        """Ask the script to ``start`` (or restart) or ``stop`` the engine."""
        if self.output_settings() is None:
            raise AnonfilterError(f"no source '{OUTPUT_NAME}' in OBS; run `anonfilter obs setup` or load the script")
        self.request("SetInputSettings", inputName=OUTPUT_NAME, inputSettings={RUN_SETTING: f"{action}:{time.time_ns()}"}, overlay=True)

    def toggle_panic(self) -> None:
        """Press the script's panic hotkey."""
        if not self.script_loaded():
            raise AnonfilterError("the anonfilter script is not loaded in OBS (Tools > Scripts)")
        self.request("TriggerHotkeyByName", hotkeyName=PANIC_HOTKEY)

    def wait_for(self, key: str, value: Any, timeout: float) -> dict:
        """Poll the script's status until ``status[key] == value``; returns the last status."""
        return self.wait_until(lambda script: script.get(key) == value, timeout)

    def wait_until(self, done: Callable[[dict], bool], timeout: float) -> dict:
        """Poll the script's status until ``done(status)``; returns the last status."""
        deadline = time.monotonic() + timeout
        while True:
            script = self.status()["script"]
            if done(script) or time.monotonic() > deadline:
                return script
            time.sleep(0.1)


def run(args: argparse.Namespace) -> int:
    """Connect, do the action, print what happened."""
    control = OBSControl(args.host, args.port, args.password)
    try:
        if args.action == "status":
            status = control.status()
            for key, value in status.items():
                if key != "script":
                    print(f"{key}: {value}")
            for key, value in sorted(status["script"].items()):
                print(f"script.{key}: {value}")
            problems = []
            if not status["script_loaded"]:
                problems.append("the anonfilter script is not loaded (Tools > Scripts)")
            if not status["output_in_program"]:
                problems.append(f"'{OUTPUT_NAME}' is not shown in the program scene (anonfilter obs setup)")
            for problem in problems:
                print(f"problem: {problem}")
            return 1 if problems else 0
        if args.action == "setup":
            print(control.setup())
        elif args.action == "method":
            control.set_method(args.name)
            script = control.wait_for("method", args.name, timeout=2)
            print(f"method: {script.get('method', '?')} ({script.get('engine_message', '')})")
        elif args.action in ("start", "stop"):
            control.request_run(args.action)
            wanted = "engine starting" if args.action == "start" else "stopped"
            script = control.wait_for("output", wanted, timeout=5)
            print(f"engine: {script.get('engine', 'stopped')}; output: {script.get('output', '?')}")
        elif args.action == "delay":
            control.set_delay(args.seconds)
            script = control.wait_until(lambda script: delay_active(script, args.seconds), timeout=90)
            print(f"protection: {script.get('protection', '?')}; output: {script.get('output', '?')}")
        elif args.action == "panic":
            before = control.status()["script"].get("panic")
            control.toggle_panic()
            script = control.wait_for("panic", not before, timeout=2)
            print("panic is now " + ("ON: the whole output is obscured" if script.get("panic") else "off"))
        return 0
    finally:
        control.close()


def delay_active(script: dict, seconds: float) -> bool:
    """True when the script's status says it anonymizes with a delay of ``seconds`` (0: none)."""
    protection = str(script.get("protection", ""))
    wanted = f"delay {seconds:g} s" if seconds > 0 else "no delay"
    return script.get("output") == "anonymizing" and protection.startswith(wanted)
