"""The pipeline: frames come out in order, only after the method, and fail closed."""

import threading

import numpy as np
import pytest

from anonfilter.pipeline import Anonymizer
from anonfilter.testing import make_frame
from anonfilter.tracking.base import TrackedFace
from anonfilter.types import Detections, FrameInfo


class OneFaceDetector:
    def detect(self, frame):
        return Detections(np.array([[40, 40, 100, 120]], np.float32), np.array([0.9], np.float32))


class DelayingTracker:
    """Holds two frames back, like an offline tracker with lookahead; marks track 2 as kept."""

    def __init__(self):
        self.held = []

    def push(self, index, frame, detections):
        faces = [
            TrackedFace(1, 11, tuple(detections.boxes[0]), 0.9, "detected"),
            TrackedFace(2, 22, (200.0, 40.0, 260.0, 120.0), 0.9, "detected", keep=True),
        ]
        self.held.append((index, faces))
        return [self.held.pop(0)] if len(self.held) > 2 else []

    def flush(self):
        held, self.held = self.held, []
        return held


class RecordingMethod:
    def __init__(self, fail_on=()):
        self.calls = []
        self.fail_on = set(fail_on)

    def anonymize(self, frame, faces, info):
        self.calls.append((info.index, [face.track_id for face in faces]))
        if info.index in self.fail_on:
            raise ValueError("bad frame")
        for face in faces:  # only where the mask reaches, as the contract asks
            frame[face.region.slices][face.alpha > 0] = 0


def run(method, count=5):
    messages = []
    anonymizer = Anonymizer(OneFaceDetector(), DelayingTracker(), method, "recording", report=messages.append)
    frames = [make_frame(seed=i) for i in range(count)]
    out = []
    for index, frame in enumerate(frames):
        out += anonymizer.push(frame.copy(), FrameInfo(index, index / 25, 320, 240))
    out += anonymizer.flush()
    return frames, out, messages, anonymizer


def test_frames_come_out_in_order_after_the_method_and_kept_faces_are_skipped():
    method = RecordingMethod()
    frames, out, messages, _ = run(method)
    assert [done.info.index for done in out] == list(range(5))
    assert method.calls == [(i, [1]) for i in range(5)]
    frame = out[0].frame
    assert (frame[70:90, 60:80] == 0).all()  # face 1 anonymized
    assert np.array_equal(frame[70:90, 220:240], frames[0][70:90, 220:240])  # kept face 2 untouched
    assert messages == []


def test_a_failing_method_obscures_the_whole_frame_and_is_reported_once():
    method = RecordingMethod(fail_on={1, 3})
    frames, out, messages, anonymizer = run(method)
    assert anonymizer.obscured_frames == [1, 3]
    assert len(messages) == 1 and "recording" in messages[0] and "frame 1" in messages[0]
    obscured = out[1].frame
    # whole-frame pixelation: far fewer distinct colours than the textured input
    assert len(np.unique(obscured.reshape(-1, 3), axis=0)) < 400
    assert not np.array_equal(obscured, frames[1])


class RecordingStore:
    """A frame store (the transcoder's role): keeps each frame's pixels and records what was given back and asked for."""

    def __init__(self, frames):
        self.frames = frames
        self.released, self.restored = [], []

    def release(self, index, frame):
        assert np.array_equal(frame, self.frames[index])  # given back untouched
        frame[:] = 255  # the array may hold another frame's pixels from now on
        self.released.append(index)

    def restore(self, index):
        self.restored.append(index)
        return self.frames[index].copy()


def test_fed_from_a_frame_store_frames_held_back_wait_without_pixels_and_come_back_one_by_one():
    frames = [make_frame(seed=i) for i in range(5)]
    store = RecordingStore(frames)
    anonymizer = Anonymizer(OneFaceDetector(), DelayingTracker(), RecordingMethod(), "recording")
    anonymizer.frame_store = store
    out = []
    for index in range(5):
        out += anonymizer.feed(FrameInfo(index, index / 25, 320, 240))
    # each frame's pixels asked for when it is searched and tracked, then given back (the tracker
    # holds two frames back); asked for again when it is finished
    assert store.released == list(range(5))
    assert store.restored == [0, 1, 2, 0, 3, 1, 4, 2]
    drained = anonymizer.drain()
    out.append(next(drained))
    assert store.restored[8:] == [3]  # the end of stream restores each frame as it is taken
    out += drained
    assert store.restored[8:] == [3, 4]
    _, expected, _, _ = run(RecordingMethod())
    assert [done.info.index for done in out] == list(range(5))
    assert all(np.array_equal(done.frame, plain.frame) and done.changed == plain.changed for done, plain in zip(out, expected))


def test_frames_waiting_for_a_detector_run_have_no_pixels_until_the_tracker_takes_them():
    frames = [make_frame(seed=i) for i in range(6)]
    store = RecordingStore(frames)
    anonymizer = Anonymizer(OneFaceDetector(), SearchRecordingTracker(), RecordingMethod(), "recording", detect_every=4)
    anonymizer.frame_store = store
    out = []
    for index in range(4):
        out += anonymizer.feed(FrameInfo(index, index / 25, 320, 240))
    assert store.restored == [0] and out == []  # only the searched frame so far
    out += anonymizer.feed(FrameInfo(4, 4 / 25, 320, 240))
    assert store.restored == [0, 1, 2, 3, 4] and [done.info.index for done in out] == [0, 1, 2, 3]


class SearchRecordingTracker:
    """Finishes every frame at once with no faces and records which frames came with detections."""

    def __init__(self):
        self.searched = []

    def push(self, index, frame, detections):
        if detections is not None:
            self.searched.append(index)
        return [(index, [])]

    def flush(self):
        return []


def test_with_detection_on_every_nth_frame_the_last_frame_is_always_searched():
    tracker = SearchRecordingTracker()
    anonymizer = Anonymizer(OneFaceDetector(), tracker, RecordingMethod(), "recording", detect_every=4)
    out = []
    for index in range(7):
        out += anonymizer.push(make_frame(seed=index), FrameInfo(index, index / 25, 320, 240))
    out += anonymizer.flush()
    assert [done.info.index for done in out] == list(range(7))
    assert tracker.searched == [0, 4, 6]  # every 4th frame, and the last one


class ThreadRecordingDetector(OneFaceDetector):
    """Records the thread each run happens in; raises on the frames whose first pixel is ``fail_on``."""

    def __init__(self, fail_on=None):
        self.threads = []
        self.fail_on = fail_on

    def detect(self, frame):
        self.threads.append(threading.current_thread().name)
        if self.fail_on is not None and frame[0, 0, 0] == self.fail_on:
            raise RuntimeError("detector broke")
        return super().detect(frame)


def test_files_run_the_detector_in_its_own_thread_while_earlier_frames_are_anonymized():
    detector, tracker, method = ThreadRecordingDetector(), SearchRecordingTracker(), RecordingMethod()
    anonymizer = Anonymizer(detector, tracker, method, "recording", detect_every=4)
    out = []
    for index in range(10):
        out += anonymizer.push(make_frame(seed=index), FrameInfo(index, index / 25, 320, 240))
        # frame 4's run has started when frame 4 arrives, and frames 0-3 come out at the same call
        assert [done.info.index for done in out] == (list(range(4)) if 4 <= index < 8 else list(range(8)) if index >= 8 else [])
    out += anonymizer.flush()
    assert [done.info.index for done in out] == list(range(10))
    assert [call[0] for call in method.calls] == list(range(10))
    assert tracker.searched == [0, 4, 8, 9]
    assert detector.threads[:3] == ["anonfilter-detect_0"] * 3  # the last frame is searched in the caller's thread


def test_a_detector_error_in_its_thread_stops_the_stream_and_returns_no_frame_it_would_have_searched():
    detector = ThreadRecordingDetector(fail_on=255)
    anonymizer = Anonymizer(detector, SearchRecordingTracker(), RecordingMethod(), "recording", detect_every=4)
    out = []
    broken = make_frame(seed=4)
    broken[0, 0, 0] = 255
    frames = [make_frame(seed=index) for index in range(4)] + [broken] + [make_frame(seed=index) for index in range(5, 9)]
    for frame in frames[:4]:
        frame[0, 0, 0] = 0
    with pytest.raises(RuntimeError, match="detector broke"):
        for index, frame in enumerate(frames):
            out += anonymizer.push(frame, FrameInfo(index, index / 25, 320, 240))
    assert [done.info.index for done in out] == list(range(4))  # only frames whose detector run succeeded
