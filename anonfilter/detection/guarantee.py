"""What a detection schedule guarantees: the smallest face it searches for and how long a new one can go unseen.

The invariant (docs/tracking.md, "What the schedule guarantees"): every part of the frame where a
face can newly appear is searched at a scale that finds faces of :attr:`SearchGuarantee.smallest_face`
pixels within :attr:`SearchGuarantee.unseen_frames` frames, and the tracker covers at least that
many frames before a face's first detection (:attr:`SearchGuarantee.backfill_frames`). So a face
the detector finds on the first search of its area is covered from its first frame to its last.

* With focused detection a face can only appear where the picture changes, and every changed
  area is searched at 1.125x the frame's own resolution (up to 4K) on the next detector run
  (:mod:`anonfilter.detection.changes`); the first frame and large changes search every tile.
  Areas where nothing changes are searched again by the patrol once per round
  (:attr:`SearchGuarantee.patrol_frames`), which bounds how long a face the detector *missed*
  there stays missed.
* With the scout (:mod:`anonfilter.detection.scout`, :attr:`SearchGuarantee.scout`) those areas
  are searched by the scout at the same scale (and at half of it where faces up to the overview's
  reach need it), and the detector only around its candidates: the same places and scale, but a
  face is found only when the scout flags it too (its recall by size is measured in
  docs/benchmark.md, "The scout", as the detector's is).
* With whole-frame detection every pixel is searched on every detector run, at the detector's
  own scale (CenterFace: the frame's size up to 1080p, so 4K at half).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from anonfilter.detection.focus import SearchGeometry, searched_whole

DETECTOR_SMALLEST_FACE = 16.0
"""CenterFace finds faces from about this size (longer side, pixels) as the network sees them
(docs/benchmark.md, "Speed against leaks": recall by face size on WIDER)."""


@dataclass(frozen=True)
class SearchGuarantee:
    """The search schedule of one run, and whether the tracker's back-fill covers it."""

    detection: str
    """``focused`` or ``whole``."""
    smallest_face: float
    """Faces of this size (longer side, pixels at the file's resolution) are searched at a scale that finds them."""
    unseen_frames: int
    """The longest a face that appears can stay unsearched at that scale (frames before the first search of it)."""
    backfill_frames: int
    """The tracker anonymizes every new face at least this many frames before its first detection."""
    patrol_frames: int
    """Focused: frames between two close searches of an area where nothing changes (how long a
    face the detector missed there can stay missed); whole: the detector interval."""
    fps: float
    scout: bool = False
    """Focused: the close search ran the scout network, and the detector only around its candidates
    (:mod:`anonfilter.detection.scout`): every area is still searched at the same scale, but a face
    is found only when the scout flags it (its recall by size: docs/benchmark.md)."""

    @property
    def holds(self) -> bool:
        """True when the back-fill covers the longest unseen time: no new face goes unsearched uncovered."""
        return self.unseen_frames <= self.backfill_frames

    def describe(self) -> str:
        """One line for people: what the run guaranteed."""
        verdict = "covered by the tracker's back-fill" if self.holds else "NOT covered by the tracker's back-fill"
        searcher = " (close search: the scout, confirmed by the detector)" if self.scout else ""
        return (
            f"{self.detection} detection{searcher} searched for faces from {self.smallest_face:.0f} px; a new face went unsearched "
            f"for at most {self.unseen_frames} frames ({self.unseen_frames / self.fps:.2f} s), {verdict} of "
            f"{self.backfill_frames} frames; areas without change were searched again every {self.patrol_frames} frames"
        )

    @classmethod
    def from_dict(cls, data: dict) -> "SearchGuarantee":
        """The guarantee :meth:`to_dict` wrote (the ``run.search`` entry of a report)."""
        return cls(**{field.name: data[field.name] for field in fields(cls) if field.name in data})

    def to_dict(self) -> dict:
        """JSON-ready form, with the seconds and the verdict (for the report)."""
        return {
            **asdict(self),
            "unseen_seconds": round(self.unseen_frames / self.fps, 3),
            "backfill_seconds": round(self.backfill_frames / self.fps, 3),
            "patrol_seconds": round(self.patrol_frames / self.fps, 3),
            "holds": self.holds,
        }


def search_guarantee(
    width: int,
    height: int,
    fps: float,
    detect_every: int,
    backfill_frames: int,
    focused: bool,
    whole_scale: float = 1.0,
    scout: bool = False,
) -> SearchGuarantee:
    """The guarantee of a file run on ``width`` x ``height`` frames.

    ``detect_every``: the detector runs on every n-th frame (and on the last one); ``backfill_frames``:
    how far the tracker covers a face before its first detection; ``focused``: focused detection
    (else whole frames, scaled by ``whole_scale`` for the detector); ``scout``: focused detection's
    close search runs the scout first. Frames small enough to be searched whole are searched whole
    either way.
    """
    unseen = detect_every - 1
    if focused and not searched_whole(width, height):
        geometry = SearchGeometry.of(width, height)
        rounds = len(geometry.tiles(width, height))
        return SearchGuarantee(
            "focused", DETECTOR_SMALLEST_FACE / geometry.close_scale, unseen, backfill_frames, rounds * detect_every, fps, scout
        )
    return SearchGuarantee("whole", DETECTOR_SMALLEST_FACE / whole_scale, unseen, backfill_frames, detect_every, fps)
