"""A plugin in its own folder installs with pip, shows up in `anonfilter plugins` and runs.

The plugin is installed into a temporary folder (not into the project's environment) and found
through PYTHONPATH, exactly as pip would make it visible in a user's environment.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "plugins" / "anonfilter-noise"
ANONFILTER = Path(sys.executable).with_name("anonfilter")


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
        check=True,
    )
    return {**os.environ, "PYTHONPATH": str(target)}


def test_installed_plugin_is_listed_with_its_version_and_contract(plugin_env):
    listing = subprocess.run([str(ANONFILTER), "plugins"], env=plugin_env, capture_output=True, text=True, check=True)
    assert "noise (anonfilter-noise 1.0.0, contract 1.0)" in listing.stdout
    assert "method noise:" in listing.stdout


def test_installed_plugin_passes_its_own_conformance_tests(plugin_env):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        env=plugin_env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
