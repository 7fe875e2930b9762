"""One long video anonymized in parallel segments, with the output of a single run.

:func:`anonymize_segmented` plans the video into segments at keyframes, runs them as tasks
through any executor (:func:`serial_map`, :func:`process_pool_map`, or Ray tasks from the batch
command), gives each person one identity through the whole video, and joins the segments
without re-encoding. docs/scaling.md, "One long file in segments", describes the design.
"""

from anonfilter.segments.engine import anonymize_segmented, makes_segments
from anonfilter.segments.executors import MapTasks, process_pool_map, serial_map

__all__ = ["MapTasks", "anonymize_segmented", "makes_segments", "process_pool_map", "serial_map"]
