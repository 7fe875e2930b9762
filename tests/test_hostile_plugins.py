"""No setting and no plugin can switch anonymization off silently (issue 17's table, row by row).

Each hostile plugin is installed for one test as pip would leave it (a module and a dist-info
folder on sys.path, :mod:`tests.plugin_install`), then the real command runs on two seconds of a
real face clip, and the output is checked by its pixels with the project's audit
(:func:`anonfilter.audit.find_leaks`): no face of the input may still be there.
"""

from __future__ import annotations

import json

import pytest

from anonfilter.audit import AuditSettings, find_leaks, reference_faces
from anonfilter.cli import main
from anonfilter.plugins import DISABLE_ENV
from tests.plugin_install import install_plugin  # noqa: F401  (a fixture)
from tests.test_transcode import hamilton_cut  # noqa: F401  (a fixture: the first two seconds of a real face clip)

AUDIT = AuditSettings(every=4)

HEADER = """
import numpy as np
import anonfilter
ANONFILTER_CONTRACT = "1.2"
"""


def method_plugin(name: str, body: str) -> str:
    """A plugin module registering method ``name``, whose ``anonymize`` runs the one line ``body``."""
    return (
        HEADER
        + f"""
class Method:
    def anonymize(self, frame, faces, info):
        {body}

@anonfilter.hookimpl
def register_methods(register):
    register(anonfilter.MethodSpec(name="{name}", create=Method, description="test method {name}"))
"""
    )


NOOP_BLUR = method_plugin("blur", "pass")  # takes the default's name, does nothing
CONTESTED = method_plugin("shared", "for face in faces: frame[face.region.slices][face.alpha > 0] = 0")

BLIND_CENTERFACE = (
    HEADER
    + """
class Blind:
    def detect(self, frame):
        return anonfilter.Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

@anonfilter.hookimpl
def register_detectors(register):
    register(anonfilter.DetectorSpec(name="centerface", create=Blind, description="finds nothing"))
"""
)

BROKEN_METHODS = (
    HEADER
    + """
class Copier:
    def anonymize(self, frame, faces, info):
        frame = frame.copy()
        for face in faces:
            frame[face.region.slices] = 0
        return frame

class Rebinder:
    def anonymize(self, frame, faces, info):
        frame = np.zeros_like(frame)

class Skipper:
    def anonymize(self, frame, faces, info):
        for face in faces[1:]:
            frame[face.region.slices][face.alpha > 0] = 0

class Failing:
    def anonymize(self, frame, faces, info):
        raise RuntimeError("out of cheese")

class Painter:
    def anonymize(self, frame, faces, info):
        frame[...] = 0

@anonfilter.hookimpl
def register_methods(register):
    for name, create in (("copier", Copier), ("rebinder", Rebinder), ("skipper", Skipper), ("failing", Failing), ("painter", Painter)):
        register(anonfilter.MethodSpec(name=name, create=create, description="broken"))
"""
)

BROKEN_CREATE_AND_DETECT = (
    HEADER
    + """
class Crashing:
    def detect(self, frame):
        raise KeyError("model missing")

def create_method():
    raise RuntimeError("cannot load weights")

@anonfilter.hookimpl
def register_methods(register):
    register(anonfilter.MethodSpec(name="nostart", create=create_method, description="fails to start"))

@anonfilter.hookimpl
def register_detectors(register):
    register(anonfilter.DetectorSpec(name="crashing", create=Crashing, description="fails on every frame"))
"""
)


@pytest.fixture(scope="module")
def reference(hamilton_cut):  # noqa: F811
    return reference_faces(hamilton_cut, AUDIT)


def run(*args: str) -> int:
    return main([*args, "-q"])


def assert_no_face_leaks(source, output, reference) -> None:
    audit = find_leaks(source, output, AUDIT, reference=reference)
    assert audit.checked >= 10
    assert audit.leaked == 0, audit.leaks


@pytest.mark.parametrize(
    "entry_point, refusal",
    [
        ("evil", "method 'blur' of plugin 'evil' (anonfilter-evil 1.0) refused"),
        ("blur", "plugin name 'blur' is claimed by plugin 'blur' (anonfilter 0.1.0) and plugin 'blur' (anonfilter-evil 1.0)"),
    ],
)
def test_a_plugin_cannot_take_the_default_methods_name(
    install_plugin,
    hamilton_cut,
    reference,
    tmp_path,
    capsys,
    entry_point,
    refusal,  # noqa: F811
):
    install_plugin("anonfilter-evil", NOOP_BLUR, entry_points=[entry_point])
    output = tmp_path / "out.mp4"
    assert run("-i", str(hamilton_cut), "-o", str(output)) == 0
    assert refusal in capsys.readouterr().err
    assert_no_face_leaks(hamilton_cut, output, reference)


def test_a_plugin_cannot_take_the_default_detectors_name(install_plugin, hamilton_cut, reference, tmp_path, capsys):  # noqa: F811
    install_plugin("anonfilter-blind", BLIND_CENTERFACE)
    output = tmp_path / "out.mp4"
    assert run("-i", str(hamilton_cut), "-o", str(output)) == 0
    assert "detector 'centerface' of plugin 'blind' (anonfilter-blind 1.0) refused" in capsys.readouterr().err
    assert_no_face_leaks(hamilton_cut, output, reference)


@pytest.mark.parametrize("method", ["copier", "rebinder", "skipper", "painter"])
def test_a_method_that_does_not_anonymize_in_place_has_its_frames_obscured_and_counted(
    install_plugin,
    hamilton_cut,
    reference,
    tmp_path,
    capsys,
    method,  # noqa: F811
):
    install_plugin("anonfilter-broken", BROKEN_METHODS)
    output, report = tmp_path / "out.mp4", tmp_path / "run.json"
    assert run("-i", str(hamilton_cut), "-o", str(output), "--method", method, "--report", str(report)) == 0
    err = capsys.readouterr().err
    summary = json.loads(report.read_text())
    frames, obscured = summary["summary"]["frames"], summary["summary"]["frames_obscured"]
    if method == "skipper":  # frames where a second face's mask covers the skipped one's core pass
        assert obscured >= frames // 2
    else:
        assert obscured == summary["summary"]["frames_with_faces"]
    (failure,) = summary["failures"]
    assert failure["frames"] == obscured and f"method '{method}'" in failure["message"]
    assert f"{obscured} of {frames} frames were obscured whole" in err
    assert_no_face_leaks(hamilton_cut, output, reference)


def test_strict_makes_obscured_frames_exit_1_after_writing_a_fail_closed_output(
    install_plugin,
    hamilton_cut,
    reference,
    tmp_path,
    capsys,  # noqa: F811
):
    install_plugin("anonfilter-broken", BROKEN_METHODS)
    output = tmp_path / "out.mp4"
    assert run("-i", str(hamilton_cut), "-o", str(output), "--method", "failing", "--strict") == 1
    err = capsys.readouterr().err
    assert "out of cheese" in err and "--strict:" in err
    assert_no_face_leaks(hamilton_cut, output, reference)


@pytest.mark.parametrize("option", ["-Dthreshold=1.5", "-Dthreshold=1", "-Dthreshold=nan", "-Dupscale=0.01", "-Dresolution=8"])
def test_detector_options_that_would_find_no_face_are_refused(hamilton_cut, tmp_path, capsys, option):  # noqa: F811
    output = tmp_path / "out.mp4"
    assert run("-i", str(hamilton_cut), "-o", str(output), option) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option[2:].split("=")[0] in err
    assert not output.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, shown",
    [
        (["--margin", "nan"], "--margin nan"),
        (["--margin", "inf"], "--margin inf"),
        (["--margin", "-1"], "--margin -1"),
        (["--max-gap", "nan"], "--max-gap nan"),
        (["--extend", "0", "inf"], "--extend inf"),
        (["--detect-every", "0"], "--detect-every 0"),
        (["--keep-distance", "2"], "--keep-distance 2"),
    ],
)
def test_pipeline_options_out_of_range_are_one_line_errors(hamilton_cut, tmp_path, capsys, args, shown):  # noqa: F811
    output = tmp_path / "out.mp4"
    assert run("-i", str(hamilton_cut), "-o", str(output), *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"anonfilter: {shown}") and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_two_distributions_with_one_plugin_name_are_refused_without_breaking_commands(install_plugin, capsys):
    install_plugin("anonfilter-one", CONTESTED, entry_points=["twin"])
    install_plugin("anonfilter-two", CONTESTED.replace('"shared"', '"other"'), entry_points=["twin"])
    assert main(["plugins"]) == 0
    err = capsys.readouterr().err
    assert "plugin name 'twin' is claimed by" in err and "anonfilter-one 1.0" in err and "anonfilter-two 1.0" in err
    assert main(["plugins", "--strict"]) == 1
    capsys.readouterr()
    assert main(["-i", "missing.mp4", "-o", "out.mp4", "--method", "shared"]) == 2
    assert "unknown method 'shared'" in capsys.readouterr().err


def test_a_method_name_two_distributions_register_is_an_error_naming_both(install_plugin, hamilton_cut, tmp_path, capsys):  # noqa: F811
    install_plugin("anonfilter-one", CONTESTED, entry_points=["one"])
    install_plugin("anonfilter-two", CONTESTED, entry_points=["two"])
    output = tmp_path / "out.mp4"
    assert run("-i", str(hamilton_cut), "-o", str(output), "--method", "shared") == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "method 'shared' is registered by" in last and "anonfilter-one 1.0" in last and "anonfilter-two 1.0" in last
    assert not output.exists()
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert any("shared" in problem for problem in listing["problems"])


def test_a_plugin_can_be_disabled_by_environment(install_plugin, monkeypatch, capsys):
    install_plugin("anonfilter-one", CONTESTED, entry_points=["one"])
    install_plugin("anonfilter-two", CONTESTED, entry_points=["two"])
    monkeypatch.setenv(DISABLE_ENV, "anonfilter-two")
    assert main(["plugins", "--strict", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert "one" in [plugin["name"] for plugin in listing["plugins"]]
    assert "two" not in [plugin["name"] for plugin in listing["plugins"]] and listing["problems"] == []


def test_errors_in_create_and_detect_are_one_line_naming_the_plugin(install_plugin, hamilton_cut, tmp_path, capsys):  # noqa: F811
    install_plugin("anonfilter-crashy", BROKEN_CREATE_AND_DETECT)
    output = tmp_path / "out.mp4"
    for args in (["--method", "nostart"], ["--detector", "crashing"]):
        assert run("-i", str(hamilton_cut), "-o", str(output), *args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "plugin 'crashy' (anonfilter-crashy 1.0)" in err, err
        assert "cannot load weights" in err or "model missing" in err
        assert not output.exists()
    assert run("-i", str(hamilton_cut), "-o", str(output), "--detector", "crashing", "--debug") == 2
    assert "Traceback" in capsys.readouterr().err


def test_expect_faces_fails_a_run_that_finds_none_and_writes_nothing(install_plugin, hamilton_cut, tmp_path, capsys):  # noqa: F811
    install_plugin("anonfilter-blind", BLIND_CENTERFACE.replace('"centerface"', '"blind"'))
    output, report = tmp_path / "out.mp4", tmp_path / "run.json"
    assert run("-i", str(hamilton_cut), "-o", str(output), "--detector", "blind", "--report", str(report)) == 0
    assert json.loads(report.read_text())["summary"]["no_face_found"] is True
    capsys.readouterr()
    output.unlink()
    assert run("-i", str(hamilton_cut), "-o", str(output), "--detector", "blind", "--expect-faces") == 1
    assert "no face was found" in capsys.readouterr().err
    assert not output.exists()


def test_a_long_video_with_no_face_found_gets_a_notice(tmp_path, capsys):
    from tests.test_bridge import write_clip

    clip, output, report = tmp_path / "empty.mp4", tmp_path / "out.mp4", tmp_path / "run.json"
    write_clip(clip, list(range(0, 10_200, 200)))  # 51 frames over 10.2 s, no face
    assert run("-i", str(clip), "-o", str(output), "--report", str(report)) == 0
    assert "no face was found in 10 s of video" in capsys.readouterr().err
    assert json.loads(report.read_text())["summary"]["no_face_found"] is True


def test_asking_for_a_name_of_a_plugin_whose_hook_failed_names_that_plugin(install_plugin, capsys):
    install_plugin(
        "anonfilter-halfway",
        HEADER
        + """
@anonfilter.hookimpl
def register_methods(register):
    raise ImportError("needs torch")
""",
    )
    assert main(["-i", "missing.mp4", "-o", "out.mp4", "--method", "halfway"]) == 2
    first, last = capsys.readouterr().err.strip().splitlines()
    assert "plugin 'halfway' (anonfilter-halfway 1.0): register_methods failed: ImportError: needs torch" in first
    assert last.startswith("anonfilter: unknown method 'halfway'") and "plugin 'halfway' (anonfilter-halfway 1.0)" in last
