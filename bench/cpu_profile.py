"""CPU seconds per stage of one anonfilter run, measured where they are spent.

The report's ``seconds`` are busy wall time: on a shared two-core machine a stage that waits for
the GIL or for a core counts that wait too, and the method's busy seconds came out about twice
its CPU time. This wraps the pipeline's stages in ``time.thread_time`` (the CPU time of the
calling thread) and subtracts the wrapped calls nested in a wrapped call from it, so each line is
the CPU a stage itself took, in whichever thread ran it. onnxruntime's and libx264's own worker
threads are not seen (the detector's and the encoder's calls show their calling thread's share
only); the process's whole CPU time is printed beside them.

    .venv/bin/python bench/cpu_profile.py -q -i CLIP -o /tmp/out.mp4 -y   # any anonfilter arguments

Figures: docs/benchmark.md, "Where the CPU goes besides the detector".
"""

from __future__ import annotations

import functools
import importlib
import resource
import sys
import threading
import time
from collections import defaultdict
from typing import Any, Callable

STAGES = {
    "anonfilter.detection.centerface:CenterFace.detect_scaled": "detector network (calling thread's share)",
    "anonfilter.detection.changes:ChangeMap.changed": "change map",
    "anonfilter.pipeline:Anonymizer._detect": "focused detection's own work",
    "anonfilter.pipeline:Anonymizer._track": "tracker",
    "anonfilter.pipeline:Anonymizer.faces_for": "masks",
    "anonfilter.pipeline:snapshot": "check: samples before",
    "anonfilter.pipeline:verify": "check: after",
    "anonfilter.methods:PerFaceMethod.anonymize": "method (blur: the crops and the blur)",
    "anonfilter.methods:composite": "method: blending in",
    "anonfilter.faces.replace:LearnedFaceMethod.anonymize": "method (learned: synthesis, surround, pasting)",
    "ffmpeg_bridge.colour:I420Converter.keep": "colour: decoded planes kept",
    "ffmpeg_bridge.colour:I420Converter.rgb": "colour: I420 -> RGB",
    "ffmpeg_bridge.colour:I420Converter.merged": "colour: changed regions -> I420",
    "ffmpeg_bridge.colour:I420Converter.frame": "colour: planes -> encoder frame",
    "ffmpeg_bridge.transcoder:_Job._encoded": "encoder (calling thread's share)",
    "ffmpeg_bridge.transcoder:_Job._read": "reader thread, the rest",
    "ffmpeg_bridge.transcoder:_Job._encode": "encoder thread, the rest",
    "ffmpeg_bridge.transcoder:_Job._process": "processing thread, the rest",
}
"""``module:attribute`` -> what it is; each is timed without the stages nested in it."""


class Stopwatch:
    """CPU seconds and calls per stage, nested stages subtracted from the stage around them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._local = threading.local()

    def wrap(self, function: Callable[..., Any], label: str) -> Callable[..., Any]:
        """``function``, timing each call under ``label``."""

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack: list[float] = self._local.__dict__.setdefault("stack", [])
            started = time.thread_time()
            stack.append(0.0)
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                self.seconds[label] += spent - stack.pop()
                self.calls[label] += 1
                if stack:
                    stack[-1] += spent

        return timed

    def install(self, stages: dict[str, str]) -> None:
        """Replace each ``module:attribute`` (a function, or a class's method) by its timed version."""
        for target, label in stages.items():
            module_name, path = target.split(":")
            owner: Any = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            setattr(owner, name, self.wrap(getattr(owner, name), label))


def main(argv: list[str]) -> int:
    """Run ``anonfilter`` with ``argv`` and print the CPU seconds per stage on stderr."""
    watch = Stopwatch()
    watch.install(STAGES)
    from anonfilter.cli import main as anonfilter_main

    started = time.perf_counter()
    code = anonfilter_main(argv)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"process: {usage.ru_utime + usage.ru_stime:.2f} CPU s, {time.perf_counter() - started:.2f} s wall", file=sys.stderr)
    for label, seconds in sorted(watch.seconds.items(), key=lambda item: -item[1]):
        print(f"  {label:45s} {seconds:7.3f} CPU s  {watch.calls[label]:6d} calls", file=sys.stderr)
    print(f"  {'all of these':45s} {sum(watch.seconds.values()):7.3f} CPU s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
