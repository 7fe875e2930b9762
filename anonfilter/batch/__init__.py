"""``anonfilter batch``: anonymize a whole archive on Ray, one task per file, with resume and a summary (docs/scaling.md).

:func:`run_batch` is the API; Ray (``pip install 'anonfilter[ray]'``) is imported only when a
batch runs.
"""

from anonfilter.batch.driver import run_batch
from anonfilter.batch.inputs import BatchItem, discover
from anonfilter.batch.raytools import connected, ray_map
from anonfilter.batch.summary import BatchSummary
from anonfilter.batch.task import FileResult, TaskSettings, anonymize_file

__all__ = ["BatchItem", "BatchSummary", "FileResult", "TaskSettings", "anonymize_file", "connected", "discover", "ray_map", "run_batch"]
