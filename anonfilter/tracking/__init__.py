"""Tracking: turns per-frame detections into tracks with stable identity keys.

The pipeline talks to a tracker only through :class:`Tracker` and :class:`TrackedFace` from
:mod:`anonfilter.tracking.base`.
"""
