"""Every tunable number of the tracker, in one frozen dataclass (times in seconds)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackerSettings:
    """How the tracker associates, fills, extends, coasts and re-identifies faces.

    Times are in seconds and become frame counts with :meth:`frames` at the stream's ``fps``.
    The defaults lean towards hiding too much: an extra blurred patch is harmless, a face shown
    for one frame is a leak.
    """

    fps: float = 25.0
    detect_every: int = 1
    """The pipeline runs the detector on every n-th frame only; an unconfirmed track is kept
    (and extended) for at least that many frames, so a new face stays covered until the next run."""
    high_score: float = 0.5
    """Detections at or above this score start and confirm tracks (ByteTrack's first pass);
    lower ones (down to the detector's threshold) extend existing tracks in a second pass. Every
    detection is anonymized on its own frame whatever its score."""
    confirm_hits: int = 2
    """A track is confirmed after this many detections, at least one of them high-score..."""
    confirm_low_hits: int = 4
    """... or after this many low-score ones (a small or blurred face the detector keeps seeing)."""
    match_iou: float = 0.1
    """Minimum overlap between a track's predicted box and a detection to match them."""
    match_distance: float = 1.0
    """Or: maximum centre distance, in face sizes, for small or fast faces that do not overlap."""
    low_match_iou: float = 0.3
    """Second pass: a low-score detection joins a track only with at least this much overlap."""
    max_gap: float = 1.0
    """A track missed for up to this long is kept (offline: the gap is filled by interpolation);
    offline, it is also how far the tracker looks ahead (frames are held back this long)."""
    extend_before: float = 0.4
    """Offline: a confirmed track is also anonymized this long before its first detection."""
    extend_after: float = 0.6
    """Offline: ... and this long after its last detection (faces turning away, leaving)."""
    extend_tentative: float = 0.12
    """How long an unconfirmed (maybe spurious) track is kept through misses and extended (offline)."""
    grow_per_second: float = 1.0
    """Boxes not seen by the detector grow by this fraction of their size per second away from
    the nearest detection (capped at :attr:`max_growth`)."""
    max_growth: float = 2.0
    """The largest factor a filled or coasting box grows by."""
    coast: float = 0.8
    """Live: a lost track is predicted forward and anonymized for this long."""
    scene_cuts: bool = True
    """Offline: at a scene cut (:mod:`anonfilter.scenes`) every track ends; none is filled in or
    extended across it, and faces after it start new tracks (which may still get an earlier
    person's key by re-identification). A face found within :attr:`max_gap` after the cut
    where a track ended at it is covered from the cut on (the same person, if the "cut" was a
    flash). Live tracks coast on through cuts."""
    smooth: float = 0.08
    """Offline: each detection's box and landmarks are fitted through the track's detections
    around it (a local line, Gaussian weights of this many seconds; 0 turns it off), so the
    mask and a synthetic face's alignment do not jitter with the detector's noise. The box never
    gets smaller than the detected one on any side."""
    max_shrink_per_second: float = 2.0
    """A mask edge moves inwards by at most this many face sizes per second (a face cannot move
    faster than that; growing is never limited)."""
    embed_min_size: float = 40.0
    """Faces smaller than this (pixels, longer box side) are not embedded (unreliable)."""
    embed_every: float = 0.5
    """A track's face (at a high score) is copied this often, to be embedded if a new face might
    be this person (re-identification embeds lazily, only when there is a question)..."""
    samples_per_track: int = 3
    """... and the latest this many copies are kept (embedded together when needed, so one
    turned or occluded view matters less)."""
    embeds_per_frame: int = 1
    """At most this many keep-list checks (an embedding each, about 0.1 s) are made per frame."""
    reid_distance: float = 0.55
    """A new track takes the identity of an earlier track whose embeddings are this close
    (median over its samples; dlib's same-person threshold is 0.6). A wrong merge only gives two
    people one replacement face; a missed one gives one person two."""
    keep_distance: float = 0.45
    """A face counts as a keep-list person only when its embedding is this close to a photo..."""
    keep_matches: int = 3
    """... in this many consecutive checks of the track, with no failed check in between."""
    keep_every: float = 0.3
    """A keep-list candidate is re-checked this often while visible; a kept face stays visible
    for at most twice this long after its last passing check."""

    def frames(self, seconds: float) -> int:
        """``seconds`` as a whole number of frames (at least 0)."""
        return max(0, int(round(seconds * self.fps)))

    @property
    def lookahead(self) -> int:
        """Offline: how many frames are held back before they are final."""
        return max(self.frames(self.max_gap), self.frames(self.extend_before)) + 1
