"""One Ray for every Ray test of the session (starting one costs seconds): a local cluster whose head has 2 CPUs.

It is a :class:`ray.cluster_utils.Cluster`, so that a test can add a node and remove it (a
worker machine that dies); the driver is connected to it, as after ``ray.init(num_cpus=2)``.
Tests that use it skip with a clear message when the ``ray`` extra is not installed.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

HEAD_CPUS = 2
HEALTH_CHECK = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
"""A removed node is declared dead within about 1.5 s (Ray's default waits 15 s)."""


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """The session's Ray cluster, the driver connected to it."""
    cluster_utils = pytest.importorskip("ray.cluster_utils", reason="the ray extra is not installed (pip install 'anonfilter[ray]')")
    import ray

    cluster = cluster_utils.Cluster(
        initialize_head=True,
        connect=True,
        head_node_args={"num_cpus": HEAD_CPUS, "include_dashboard": False, "_system_config": HEALTH_CHECK},
    )
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
