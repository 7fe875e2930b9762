"""The plugin contract: every hook a plugin can implement, in one module.

A plugin is a Python module found through the ``anonfilter`` entry-point group. It declares the
contract version it was written for in a module attribute and implements one or both hooks::

    import anonfilter

    ANONFILTER_CONTRACT = "1.2"

    @anonfilter.hookimpl
    def register_methods(register):
        register(anonfilter.MethodSpec(name="mymethod", create=MyMethod, description="..."))

The host refuses a plugin whose contract major version differs from its own, or whose minor
version is newer than its own, with one line naming the plugin and both versions, and keeps
working with the rest. See docs/plugins.md for the full reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol, Sequence

import pluggy

from anonfilter.types import Detections, Face, Frame, FrameInfo

CONTRACT_VERSION = "1.2"
"""Version of this contract: ``major.minor``. Minor versions only add."""

PROJECT_NAME = "anonfilter"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Method(Protocol):
    """An anonymization method instance, created once per run by its :class:`MethodSpec`.

    Rules:

    * ``anonymize`` changes ``frame`` in place, and only inside each face's ``region``, weighted by
      its ``alpha`` (``anonfilter.methods.PerFaceMethod`` does the weighting for you).
    * It is called for every frame, also frames with no faces, from one thread at a time; it
      need not be thread-safe.
    * For the same input and the same ``identity_key`` it gives the same output (deterministic).
    * If it raises, or the host's check after it fails (a face left unchanged, a pixel outside the
      faces' regions changed, a value returned: :mod:`anonfilter.verify`), the host obscures the
      whole frame with the fallback method, reports each distinct error once and counts the
      frames; the frame is never written untouched.
    * It keeps no per-track state between frames (caches that depend only on ``identity_key``
      are fine); there is no track lifecycle hook.
    """

    def anonymize(self, frame: Frame, faces: Sequence[Face], info: FrameInfo) -> None:
        """Anonymize ``faces`` in ``frame`` (in place)."""


class Detector(Protocol):
    """A face detector instance, created once per run by its :class:`DetectorSpec`."""

    def detect(self, frame: Frame) -> Detections:
        """Find faces in an RGB frame; boxes and landmarks in frame pixel coordinates."""


@dataclass(frozen=True)
class Option:
    """One option a plugin accepts, set from the command line as ``-O NAME=VALUE`` (``-D`` for detectors).

    ``type`` converts the user's text. The host then checks the value against the declared range
    (contract 1.2, all optional): ``choices`` (the only values allowed), ``minimum`` and
    ``maximum`` (inclusive bounds), ``above`` and ``below`` (exclusive bounds). A float value must
    also be finite (``nan`` and ``inf`` are always refused). ``anonfilter plugins`` and the
    one-line errors show the range. The default is checked the same way.
    """

    name: str
    type: Callable[[str], Any]
    default: Any
    help: str
    choices: Optional[Sequence[Any]] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    above: Optional[float] = None
    below: Optional[float] = None


@dataclass(frozen=True)
class MethodSpec:
    """Registration of an anonymization method.

    ``create(**options)`` returns a :class:`Method`; ``options`` lists what it accepts, each
    passed as a keyword argument converted with its ``type``. Two hints (contract 1.1) let
    the host do less work for simple methods: ``uses_identity`` says whether the output
    depends on a face's ``identity_key`` (a method that says False, like blur, saves the run
    the face-recognition embeddings that keep a returning person's key, about 0.1 s per face
    sample); ``uses_landmarks`` says whether it aligns faces on their landmarks (one that says
    False, using only the box, lets files use focused detection, whose boxes and landmarks of
    mid-size faces are coarser).
    """

    name: str
    create: Callable[..., Method]
    description: str
    options: Sequence[Option] = field(default_factory=tuple)
    uses_identity: bool = True
    uses_landmarks: bool = True


@dataclass(frozen=True)
class DetectorSpec:
    """Registration of a face detector; ``create(**options)`` returns a :class:`Detector`."""

    name: str
    create: Callable[..., Detector]
    description: str
    options: Sequence[Option] = field(default_factory=tuple)
    landmark_options: Sequence[str] = field(default_factory=tuple)
    """``KEY=VALUE`` options the host applies (before the user's own) when the method aligns faces on
    their landmarks (``MethodSpec.uses_landmarks``): how this detector gives its most precise
    landmarks, e.g. ``("precision=fp32",)`` (contract 1.2)."""


@hookspec
def register_methods(register: Callable[[MethodSpec], None]) -> None:
    """Call ``register(MethodSpec(...))`` once for each method this plugin provides."""


@hookspec
def register_detectors(register: Callable[[DetectorSpec], None]) -> None:
    """Call ``register(DetectorSpec(...))`` once for each detector this plugin provides."""
