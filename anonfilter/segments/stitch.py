"""One identity per person through the whole video: the segments' own keys joined in the driver.

Each segment's tracker hands out keys of its own (and already gives a person who comes back
within the segment their earlier key). Across segments:

1. **Overlap**: two neighbouring segments both tracked the frames around their border (the
   later one's warm-up, the earlier one's look-ahead). A key of the earlier segment and one of
   the later one whose boxes overlap there (mean IoU of at least :data:`MIN_OVERLAP_IOU` on the
   frames both have a face) are one person; the pairs are chosen by the Hungarian algorithm.
2. **Embedding**: a key that continues no earlier one is compared, as a single run's tracker
   compares a new face, with the people of earlier segments (dlib embeddings, the tracker's
   re-identification distance), leaving out those visible at the same time.
3. **Keys**: each person gets a key from :class:`~anonfilter.identity.keys.IdentityKeys` (the
   run's seed), in the order people first appear.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Optional, Sequence

import numpy as np

from anonfilter.geometry import iou_matrix
from anonfilter.identity.gallery import Gallery
from anonfilter.identity.keys import IdentityKeys
from anonfilter.segments.plan import Segment
from anonfilter.segments.task import Faces, TrackResult
from anonfilter.tracking.assignment import UNMATCHABLE, assign

MIN_OVERLAP_IOU = 0.5
"""Two keys of neighbouring segments are one person when their boxes overlap at least this much
(mean IoU over the frames both were tracked in)."""

Person = tuple[int, int]
"""(segment number, key in that segment)."""


class _People:
    """Union-find over the segments' keys."""

    def __init__(self) -> None:
        self._parent: dict[Person, Person] = {}

    def find(self, person: Person) -> Person:
        parent = self._parent.setdefault(person, person)
        if parent != person:
            parent = self._parent[person] = self.find(parent)
        return parent

    def join(self, a: Person, b: Person) -> None:
        self._parent[self.find(b)] = self.find(a)


def stitch(segments: Sequence[Segment], tracks: Sequence[TrackResult], seed: Optional[int], reid_distance: float) -> dict[Person, int]:
    """The key of every (segment, segment key) in the whole video (see the module docstring)."""
    people = _People()
    for earlier, later in zip(range(len(segments)), range(1, len(segments))):
        for a, b in overlap_pairs(tracks[earlier].faces, tracks[later].faces, segments[later]):
            people.join((earlier, a), (later, b))
    _reidentify(segments, tracks, people, reid_distance)
    keys = IdentityKeys(seed)
    stitched: dict[Person, int] = {}
    by_root: dict[Person, int] = {}
    for number, (segment, result) in enumerate(zip(segments, tracks)):
        for index in range(segment.warm_from, segment.until):
            for face in result.faces.get(index, []):
                person = (number, face.identity_key)
                if person not in stitched:
                    root = people.find(person)
                    if root not in by_root:
                        by_root[root] = keys.new_key()
                    stitched[person] = by_root[root]
    return stitched


def overlap_pairs(earlier: Faces, later: Faces, segment: Segment) -> list[tuple[int, int]]:
    """Keys of the earlier segment and of ``segment`` (the later one) that are one person: their boxes overlap on the frames both tracked."""
    frames = [index for index in range(segment.warm_from, segment.until) if index in earlier and index in later]
    totals: dict[tuple[int, int], float] = defaultdict(float)
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for index in frames:
        a_faces, b_faces = earlier[index], later[index]
        if not a_faces or not b_faces:
            continue
        overlaps = iou_matrix(np.array([face.box for face in a_faces]), np.array([face.box for face in b_faces]))
        for i, face_a in enumerate(a_faces):
            for j, face_b in enumerate(b_faces):
                totals[face_a.identity_key, face_b.identity_key] += float(overlaps[i, j])
                counts[face_a.identity_key, face_b.identity_key] += 1
    if not totals:
        return []
    rows = sorted({a for a, _ in totals})
    columns = sorted({b for _, b in totals})
    cost = np.full((len(rows), len(columns)), UNMATCHABLE)
    for (a, b), total in totals.items():
        mean = total / counts[a, b]
        if mean >= MIN_OVERLAP_IOU:
            cost[rows.index(a), columns.index(b)] = 1 - mean
    pairs, _, _ = assign(cost)
    return [(rows[row], columns[column]) for row, column in pairs]


def _reidentify(segments: Sequence[Segment], tracks: Sequence[TrackResult], people: _People, reid_distance: float) -> None:
    """Join keys that continue no earlier one to the earlier person their embeddings match, if any."""
    gallery = Gallery()
    ids: dict[Person, int] = {}
    """A person (union-find root) -> their number in the gallery."""
    roots: list[Person] = []
    for number, (segment, result) in enumerate(zip(segments, tracks)):
        spans = _spans(result.faces, segment)
        for key, (first, last) in sorted(spans.items(), key=lambda item: item[1]):
            person = (number, key)
            embeddings = result.embeddings.get(key, [])
            if people.find(person) not in ids:  # continues no earlier person
                visible = [people.find((number, other)) for other, (a, b) in spans.items() if other != key and a <= last and first <= b]
                match = gallery.best_match(embeddings, reid_distance, exclude={ids[root] for root in visible if root in ids})
                if match is not None:
                    people.join(roots[match], person)
                else:
                    ids[people.find(person)] = len(roots)
                    roots.append(people.find(person))
            for embedding in embeddings:
                gallery.add(ids[people.find(person)], embedding)


def _spans(faces: Faces, segment: Segment) -> dict[int, tuple[int, int]]:
    """First and last own frame of each key of a segment."""
    spans: dict[int, tuple[int, int]] = {}
    for index in range(segment.start, segment.end):
        for face in faces.get(index, []):
            first, _ = spans.get(face.identity_key, (index, index))
            spans[face.identity_key] = (first, index)
    return spans
