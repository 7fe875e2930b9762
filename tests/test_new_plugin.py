"""`anonfilter new-plugin` writes a plugin project that installs, is listed and passes its own tests as generated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from anonfilter.cli import main

ANONFILTER = Path(sys.executable).with_name("anonfilter")


@pytest.mark.parametrize("name, flags, kind", [("mosaic", [], "method"), ("my_faces", ["--detector"], "detector")])
def test_generated_project_installs_is_listed_and_passes_its_tests(tmp_path, name, flags, kind):
    assert main(["new-plugin", name, *flags, "-d", str(tmp_path)]) == 0
    project = tmp_path / f"anonfilter-{name.replace('_', '-')}"
    assert {"pyproject.toml", "README.md", f"anonfilter_{name}", "tests"} <= {path.name for path in project.iterdir()}
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(project)],
        check=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    listing = subprocess.run([str(ANONFILTER), "plugins", "--strict"], env=env, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert f"{name} (anonfilter-{name.replace('_', '-')} 0.1.0, contract" in listing.stdout
    assert f"  {kind} {name}:" in listing.stdout
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_bad_name_or_existing_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["new-plugin", "Bad-Name", "-d", str(tmp_path)]) == 2
    assert "lower-case letters" in capsys.readouterr().err
    assert main(["new-plugin", "twice", "-d", str(tmp_path)]) == 0
    assert main(["new-plugin", "twice", "-d", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
