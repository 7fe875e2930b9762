"""``anonfilter.Config`` and the Python API: one typed value for a run's settings, and the pipeline built from it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle

import numpy as np
import pytest

import anonfilter
from anonfilter import Config, DetectionConfig, IdentityConfig, StreamInfo, TrackingConfig, anonymize, open_pipeline
from anonfilter.commands.pipeline_options import add_pipeline_arguments, config_from_args
from anonfilter.errors import AnonfilterError
from anonfilter.masks import MaskStyle
from anonfilter.types import FrameInfo
from ffmpeg_bridge import EncoderSettings
from tests.test_bridge import write_clip

CUSTOM = Config(
    method="pixelate",
    method_options=("cells=6",),
    mask=MaskStyle(shape="box", margin=0.5),
    detection=DetectionConfig(options=("threshold=0.3",), every=2, mode="whole"),
    tracking=TrackingConfig(max_gap=0.5, extend_before=0.2, extend_after=0.3, coast=1.0),
    identity=IdentityConfig(seed=7, reid=False, keep_distance=0.4),
    encoder=EncoderSettings(codec="ffv1"),
    strict=True,
)


def test_a_config_survives_json_and_pickle_unchanged():
    for config in (Config(), CUSTOM):
        assert Config.from_json(config.to_json()) == config
        assert pickle.loads(pickle.dumps(config)) == config
    assert json.loads(CUSTOM.to_json())["detection"]["options"] == ["threshold=0.3"]


def test_a_config_cannot_be_changed_in_place():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().method = "solid"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"mask": {"margin": -1}}, "mask"),
        ({"detection": {"every": 0}}, "detection.every 0: must be 1 <= detect_every <= 30"),
        ({"tracking": {"max_gap": 11}}, "tracking.max_gap 11: must be 0 <= max_gap <= 10"),
        ({"identity": {"keep_distance": 0.7}}, "identity.keep_distance 0.7: must be 0 < keep_distance <= 0.6"),
        ({"delay": "soon"}, "delay 'soon': must be a number"),
        ({"tracking": {"tracker": "magic"}}, "tracking.tracker 'magic': must be one of temporal, none"),
        ({"detection": {"mode": "sideways"}}, "detection.mode 'sideways': must be one of focused, whole"),
        ({"colour": "red"}, "unknown setting colour"),
        ({"tracking": {"tracker": "none"}, "identity": {"keep": ["me.jpg"]}}, "needs the temporal tracker"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(document, message):
    with pytest.raises(AnonfilterError, match=message.replace("(", r"\(").replace(".", r"\.")) as raised:
        Config.from_json(json.dumps(document))
    assert "\n" not in str(raised.value)


def test_bad_json_is_one_line():
    with pytest.raises(AnonfilterError, match="not valid JSON"):
        Config.from_json("{")


@pytest.mark.parametrize("live", [False, True])
def test_the_command_line_defaults_are_the_configs(live):
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, live=live)
    assert config_from_args(parser.parse_args([])) == Config()


def test_the_command_line_builds_the_config_it_was_asked_for():
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, live=False)
    args = parser.parse_args(
        [
            "-m",
            "pixelate",
            "-O",
            "cells=6",
            "--mask",
            "box",
            "--margin",
            "0.5",
            "-D",
            "threshold=0.3",
            "--detect-every",
            "2",
            "--detection",
            "whole",
            "--max-gap",
            "0.5",
            "--extend",
            "0.2",
            "0.3",
            "--seed",
            "7",
            "--no-reid",
            "--keep-distance",
            "0.4",
        ]
    )
    built = config_from_args(args, encoder=EncoderSettings(codec="ffv1"), strict=True)
    assert built == dataclasses.replace(CUSTOM, tracking=dataclasses.replace(CUSTOM.tracking, coast=TrackingConfig.coast))


def test_open_pipeline_anonymizes_frames_of_your_own():
    pipeline = open_pipeline(Config(identity=IdentityConfig(seed=1)), StreamInfo(320, 240, 25.0))
    frames = [np.full((240, 320, 3), 100, np.uint8) for _ in range(6)]
    out = []
    for index, frame in enumerate(frames):
        out += pipeline.push(frame, FrameInfo(index, index / 25, 320, 240))
    out += pipeline.flush()
    assert [done.info.index for done in out] == list(range(6))
    assert all(done.changed == () for done in out)  # no face: nothing changed


def test_anonymize_a_file_returns_what_the_run_did(tmp_path):
    source, target = tmp_path / "in.mp4", tmp_path / "out.mkv"
    write_clip(source, list(range(0, 200, 40)))
    notes: list[str] = []
    report = anonymize(source, target, Config(encoder=EncoderSettings(codec="ffv1")), notify=notes.append)
    assert target.exists() and report.frames == 5 and report.frames_with_faces == 0 and not report.obscured_frames
    assert report.config.detection.every == 1 and report.config.detection.mode == "focused"  # decided for this input
    assert report.config.encoder.codec == "ffv1"


def test_the_api_is_importable_from_the_package():
    assert {"Config", "anonymize", "open_pipeline", "Report", "StreamInfo"} <= set(anonfilter.__all__)
    with pytest.raises(AttributeError):
        anonfilter.no_such_name  # noqa: B018
