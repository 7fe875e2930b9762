"""The one place a pipeline is assembled: a :class:`~anonfilter.config.Config` and the plugin host in,
an :class:`~anonfilter.pipeline.Anonymizer` out, for files, the live engine, ``evaluate`` and the API.

Settings left open in the Config (``None``) are decided here, once the stream is known: how
often and how the detector searches (by frame size, by the method, live or not), the detector's
defaults for the method and the machine, and what a live delay is spent on.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from anonfilter.config import Config
from anonfilter.errors import AnonfilterError
from anonfilter.identity.embedder import FaceEmbedder
from anonfilter.identity.keeplist import KeepList, PhotoDetector, photo_detector_options
from anonfilter.identity.keys import IdentityKeys
from anonfilter.identity.registry import Identities
from anonfilter.identity.worker import EmbeddingWorker
from anonfilter.pipeline import DEFAULT_DETECT_EVERY, Anonymizer, default_detect_every
from anonfilter.plugins import PluginHost
from anonfilter.tracking.base import Tracker
from anonfilter.tracking.perframe import PerFrameTracker
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.tracking.temporal import TemporalTracker

LIVE_DETECTOR_DEFAULTS = ("resolution=640",)
"""Live without a delay, the detector sees frames scaled to 640 pixels on their longer side unless
told otherwise (``-D resolution=...``): about 2.5 times faster than full 720p. It finds faces from
about :data:`~anonfilter.detection.guarantee.DETECTOR_SMALLEST_FACE` pixels as it sees them, so
at 1080p from about 48 px (:func:`anonfilter.live.engine.protection`; measured with
bench/live_coverage.py, see docs/obs.md). With a delay the detector runs as it does for files."""
PHOTO_DETECTOR = "centerface"
"""The detector plugin that finds the face in a keep photo (:func:`photo_detector`)."""


def build_anonymizer(
    config: Config,
    host: PluginHost,
    fps: float,
    frame_size: Optional[tuple[int, int]] = None,
    live: bool = False,
    kind: type[Anonymizer] = Anonymizer,
) -> Anonymizer:
    """The :class:`Anonymizer` ``config`` asks for, for a stream at ``fps`` of ``frame_size`` (width, height).

    ``live``: the live engine's pipeline. Without ``config.delay`` it cannot look ahead: a live
    tracker (lost faces coast), every frame searched whole by default, and
    :data:`LIVE_DETECTOR_DEFAULTS`. With a delay it is the file pipeline, the delay spent as
    :func:`delayed` says. ``frame_size`` picks the default detection interval of files.
    ``kind``: a subclass to build instead (the segment engine's tracking pass).
    Raises :class:`AnonfilterError` (one line) for an unknown plugin, a bad option or keep photo.
    """
    if live and config.delay:
        config, live = delayed(config, fps, frame_size), False
    method_spec = host.method_spec(config.method)
    detect_every, mode = detection_schedule(config, host, frame_size, live)
    detector_spec = host.detector_spec(config.detection.detector)
    defaults: tuple[str, ...] = LIVE_DETECTOR_DEFAULTS if live else ()
    if method_spec.uses_landmarks:  # the detector says how it gives its most precise landmarks
        defaults = (*defaults, *detector_spec.landmark_options)
    method = host.create_method(config.method, config.method_options)
    known = {option.name for option in detector_spec.options}
    detector_options = [raw for raw in defaults if raw.partition("=")[0] in known] + list(config.detection.options)
    detector = host.create_detector(config.detection.detector, detector_options)
    anonymizer = kind(
        detector,
        build_tracker(config, fps, live=live, identities_matter=method_spec.uses_identity, detect_every=detect_every, host=host),
        method,
        config.method,
        config.mask,
        detect_every=detect_every,
        focused=mode == "focused",
        scout=mode == "focused" and config.detection.scout,
        looks_ahead=not live,
    )
    anonymizer.require_faces = config.expect_faces
    return anonymizer


def detection_schedule(config: Config, host: PluginHost, frame_size: Optional[tuple[int, int]], live: bool = False) -> tuple[int, str]:
    """How often (every n-th frame) and how (``focused`` or ``whole``) the detector searches, as ``config`` asks or by default.

    Files are searched by frame size (:func:`~anonfilter.pipeline.default_detect_every`), live
    streams without a delay on every frame, whole; methods that align faces on landmarks whole.
    """
    detect_every = config.detection.every
    if detect_every is None:  # live without lookahead: every frame (a face between runs would be shown)
        detect_every = 1 if live else default_detect_every(*frame_size) if frame_size else DEFAULT_DETECT_EVERY
    mode = config.detection.mode or ("whole" if live or host.method_spec(config.method).uses_landmarks else "focused")
    return detect_every, mode


def build_tracker(
    config: Config,
    fps: float,
    live: bool,
    identities_matter: bool = True,
    detect_every: int = 1,
    host: Optional[PluginHost] = None,
) -> Tracker:
    """The tracker ``config`` asks for, for a stream at ``fps`` frames per second.

    ``identities_matter`` False (the method ignores identity keys) turns re-identification off
    as ``--no-reid`` does; ``detect_every`` is how often the pipeline runs the detector; ``host``
    makes the keep photos' detector (:func:`photo_detector`; a new host when None).
    Raises :class:`AnonfilterError` for a keep photo that cannot be used (one line).
    """
    tracking, identity = config.tracking, config.identity
    if tracking.tracker == "none":
        return PerFrameTracker()
    settings = TrackerSettings(
        fps=float(fps) if fps and fps > 0 else TrackerSettings.fps,
        detect_every=detect_every,
        keep_distance=identity.keep_distance,
        max_gap=tracking.max_gap,  # offline; live uses coast instead
        extend_before=tracking.extend_before,
        extend_after=tracking.extend_after,
        coast=tracking.coast,  # live
    )
    embedder = FaceEmbedder() if (identity.reid and identities_matter) or identity.keep else None
    keep_list = KeepList()
    if identity.keep and embedder is not None:
        keep_list = KeepList.from_photos(list(identity.keep), embedder, photo_detector(host or PluginHost()))
    identities = Identities(
        IdentityKeys(identity.seed),
        embedder,
        keep_list,
        reid_distance=settings.reid_distance,
        keep_distance=settings.keep_distance,
    )
    worker = EmbeddingWorker() if live and embedder is not None else None  # live frames never wait for dlib
    return TemporalTracker(settings, identities, live=live, worker=worker)


def photo_detector(host: PluginHost) -> PhotoDetector:
    """The keep photos' detector from ``host``: :data:`PHOTO_DETECTOR` with :func:`photo_detector_options`."""
    return lambda resolution: host.create_detector(PHOTO_DETECTOR, photo_detector_options(resolution))


def delayed(config: Config, fps: float, frame_size: Optional[tuple[int, int]]) -> Config:
    """The file pipeline's settings for a live stream delayed by ``config.delay`` seconds.

    The delay in frames is spent on waiting for the next detector run (``detection.every``, by
    frame size as for files; frames wait for it only when it is more than 1) and on the offline
    tracker's lookahead: ``max_gap`` is as long as the rest allows, and ``extend_before`` at most
    that long. Raises :class:`AnonfilterError` when the delay is too short for that.
    """
    every = config.detection.every or (default_detect_every(*frame_size) if frame_size else DEFAULT_DETECT_EVERY)
    lookahead = round(config.delay * fps) - (every if every > 1 else 0)
    if lookahead < 2:
        shortest = (round(config.delay * fps) - lookahead + 2) / fps
        raise AnonfilterError(f"--delay {config.delay:g} is too short at {fps:g} fps: at least {shortest:.2f} s")
    max_gap = (lookahead - 1) / fps
    tracking = dataclasses.replace(config.tracking, max_gap=max_gap, extend_before=min(config.tracking.extend_before, max_gap))
    return dataclasses.replace(config, detection=dataclasses.replace(config.detection, every=every), tracking=tracking)
