"""Embeddings in a separate process, so live frames never wait for dlib.

dlib holds Python's global interpreter lock while it computes an embedding (0.1-0.3 s here), so a
thread would stall the live pipeline just the same. The live tracker hands samples to this
worker and picks up the results on a later frame; until then a face is simply not (yet) kept or
re-identified, which is the safe side.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from typing import Any, Hashable, Optional

import numpy as np

from anonfilter.identity.registry import FaceSample

STARTUP_SECONDS = 120.0
MAX_IN_FLIGHT = 2
"""Requests waiting or being worked on; more are refused (asked again on a later frame)."""


def _serve(requests: Any, results: Any) -> None:
    """The worker process: load dlib once, then embed sample lists until told to stop."""
    from anonfilter.identity.embedder import FaceEmbedder

    embedder = FaceEmbedder()
    results.put(("ready", []))
    while True:
        request = requests.get()
        if request is None:
            return
        tag, samples = request
        embeddings = [embedder.embed(image, tuple(box)) for image, box in samples]
        results.put((tag, [embedding for embedding in embeddings if embedding is not None]))


class EmbeddingWorker:
    """A process that turns lists of :class:`FaceSample` into embeddings, answering later.

    ``submit`` returns at once; ``poll`` returns the answers that are ready, in the order asked.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._requests = context.Queue()
        self._results = context.Queue()
        self._process = context.Process(target=_serve, args=(self._requests, self._results), daemon=True)
        self._process.start()
        self._in_flight = 0
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:  # wait for "ready", but not for a process that has died
            try:
                self._results.get(timeout=0.2)
                return
            except queue.Empty:
                if not self._process.is_alive() or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError("the face-embedding worker process did not start") from None

    def submit(self, tag: Hashable, samples: list[FaceSample]) -> bool:
        """Ask for the embeddings of ``samples``; False (nothing asked) while the worker is busy."""
        if self._in_flight >= MAX_IN_FLIGHT or not self._process.is_alive():
            return False
        self._requests.put((tag, [(sample.image, sample.box) for sample in samples]))
        self._in_flight += 1
        return True

    def poll(self) -> list[tuple[Hashable, list[np.ndarray]]]:
        """The answers that are ready: ``(tag, embeddings)`` pairs."""
        answers = []
        while True:
            try:
                answers.append(self._results.get_nowait())
            except queue.Empty:
                break
        self._in_flight -= len(answers)
        return answers

    def close(self, timeout: Optional[float] = 5.0) -> None:
        """Stop the process."""
        if self._process.is_alive():
            self._requests.put(None)
            self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
