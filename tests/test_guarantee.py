"""The recall invariant of the default schedule, computed from the settings and the frame size (docs/tracking.md)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from anonfilter.assembly import build_anonymizer
from anonfilter.commands.pipeline_options import add_pipeline_arguments, config_from_args
from anonfilter.detection.changes import ChangeMap
from anonfilter.detection.focus import CLOSE_UPSCALE, OVERVIEW_MIN_FACE, SearchGeometry, inset
from anonfilter.detection.guarantee import DETECTOR_SMALLEST_FACE, SearchGuarantee, search_guarantee
from anonfilter.plugins import PluginHost


def default_guarantee(width: int, height: int, *options: str):
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, live=False)
    anonymizer = build_anonymizer(config_from_args(parser.parse_args(list(options))), PluginHost(), 25.0, frame_size=(width, height))
    return anonymizer.search_guarantee(width, height, 25.0)


@pytest.mark.parametrize("size", [(1920, 1080), (3840, 2160), (1280, 720), (2560, 1440)])
def test_by_default_every_new_face_of_16_px_is_searched_before_the_back_fill_runs_out(size):
    guarantee = default_guarantee(*size)
    assert guarantee.detection == "focused"
    assert guarantee.smallest_face <= 16  # 14.2: the close search runs at 1.125x the frame's own resolution
    assert guarantee.unseen_frames == 3  # detection on every 4th frame: a face is searched within 3 frames
    assert guarantee.backfill_frames >= guarantee.unseen_frames
    assert guarantee.holds
    assert guarantee.to_dict()["unseen_seconds"] == 0.12


def test_with_the_scout_the_close_search_has_the_same_places_and_scale_and_the_report_says_so():
    for size in ((1920, 1080), (3840, 2160)):
        scouted, plain = default_guarantee(*size, "--scout"), default_guarantee(*size)
        assert scouted.scout and not plain.scout  # off by default (docs/benchmark.md, "The scout")
        assert (scouted.smallest_face, scouted.unseen_frames, scouted.holds) == (plain.smallest_face, plain.unseen_frames, True)
        assert "the scout" in scouted.describe() and "the scout" not in plain.describe()
    report = default_guarantee(1920, 1080, "--scout").to_dict()
    assert report["scout"] is True
    del report["scout"]  # a report written before the scout reads back as a run without it
    assert not SearchGuarantee.from_dict(report).scout


def test_small_frames_are_searched_whole_on_every_frame():
    guarantee = default_guarantee(960, 540)
    assert (guarantee.detection, guarantee.smallest_face, guarantee.unseen_frames, guarantee.holds) == ("whole", 16, 0, True)


def test_whole_frame_detection_at_4k_searches_at_half_size_so_it_guarantees_only_32_px_faces():
    guarantee = default_guarantee(3840, 2160, "--detection", "whole")
    assert guarantee.smallest_face == 32 and guarantee.holds


def test_a_schedule_the_back_fill_does_not_cover_is_reported_as_such():
    assert not default_guarantee(1920, 1080, "--tracker", "none").holds  # no back-fill at all
    assert not search_guarantee(1920, 1080, 25.0, detect_every=8, backfill_frames=4, focused=True).holds
    assert "NOT covered" in search_guarantee(1920, 1080, 25.0, 8, 4, True).describe()


def test_changes_are_measured_against_the_last_searched_picture_so_a_slow_fade_is_searched_too():
    changes = ChangeMap()
    frame = np.full((1080, 1920, 3), 100, np.uint8)
    assert changes.changed(frame, 72) == [(0, 0, 1920, 1080)]  # never searched: everything
    changes.searched([(0, 0, 1920, 1080)])
    found = []
    for step in range(1, 6):  # 4 grey levels a run: never 10 from one run to the next
        frame[400:440, 600:640] = 100 + 4 * step
        found.append(changes.changed(frame, 72))
    assert found[0] == [] and found[1] == []
    x0, y0, x1, y1 = found[2][0]  # the change, grown by the margin
    assert x0 <= 600 - 72 and y0 <= 400 - 72 and x1 >= 640 + 72 and y1 >= 440 + 72


def test_only_the_areas_searched_become_the_reference():
    changes = ChangeMap()
    frame = np.full((1080, 1366, 3), 100, np.uint8)  # a grey copy of fractional size: its last row too
    changes.changed(frame, 72)
    changes.searched([(0, 0, 1366, 1080)])
    assert changes.changed(frame, 72) == []
    frame[500:520, 1000:1020] = 200
    frame[100:120, 100:120] = 200
    assert len(changes.changed(frame, 72)) == 2
    changes.searched([(990, 490, 1030, 530)])
    assert len(changes.changed(frame, 72)) == 1  # the other one is still to be searched
    frame[100:120, 160:180] = 200
    assert len(changes.changed(frame, 72)) == 1  # changes closer than the margin make one group


def test_a_patrol_tile_vouches_only_for_its_inside_where_no_face_of_the_reach_was_cut_by_its_edge():
    assert inset((640, 0, 1328, 408), 72, 1920, 1080) == (712, 0, 1256, 336)  # the frame's edge stays
    assert inset((0, 0, 100, 100), 72, 1920, 1080) == (0, 0, 28, 28)
    assert inset((500, 500, 600, 600), 72, 1920, 1080)[2:] == (572, 572)  # nothing left: empty


@pytest.mark.parametrize("size, patrol", [((1920, 1080), 36), ((2560, 1440), 64), ((3840, 2160), 144)])
def test_every_face_size_has_a_pass_the_overview_from_its_reach_and_the_close_search_up_to_it(size, patrol):
    geometry = SearchGeometry.of(*size)
    assert geometry.reach * geometry.overview_scale == OVERVIEW_MIN_FACE  # the overview finds faces from its reach...
    assert geometry.reach <= 96  # ... and the close search (changes grown by it) the smaller ones: 96 px at 4K, not 144
    guarantee = default_guarantee(*size)
    assert guarantee.smallest_face == DETECTOR_SMALLEST_FACE / CLOSE_UPSCALE and guarantee.patrol_frames == patrol
