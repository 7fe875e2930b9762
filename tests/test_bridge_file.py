"""The live bridge file is private: it holds raw camera frames (issue 17)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from obs_script.bridge import Bridge


def live(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "anonfilter.cli", "live", "--bridge", str(path), "--frames", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_created_with_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        bridge = Bridge.create(str(tmp_path / "b.bridge"), 32, 32)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(bridge.path).st_mode) == 0o600
    bridge.close()
    bridge.unlink()
    assert not os.path.exists(bridge.path)


def test_never_created_over_an_existing_file_or_through_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    planted = tmp_path / "planted.bridge"
    planted.symlink_to(victim)
    for path in (planted, victim):
        with pytest.raises(FileExistsError):
            Bridge.create(str(path), 32, 32)
    assert victim.read_bytes() == b"keep me"


def test_live_refuses_a_bridge_others_can_read_or_a_link(tmp_path: Path) -> None:
    bridge = Bridge.create(str(tmp_path / "b.bridge"), 32, 32)
    bridge.close()
    os.chmod(bridge.path, 0o644)
    with pytest.raises(ValueError, match="other users"):
        Bridge.open(bridge.path)
    result = live(Path(bridge.path))
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "mode 0644" in result.stderr
    os.chmod(bridge.path, 0o600)
    link = tmp_path / "link.bridge"
    link.symlink_to(bridge.path)
    with pytest.raises(OSError):
        Bridge.open(str(link))
    assert live(link).returncode == 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file to another user")
def test_live_refuses_a_bridge_another_user_owns(tmp_path: Path) -> None:
    bridge = Bridge.create(str(tmp_path / "b.bridge"), 32, 32)
    bridge.close()
    os.chown(bridge.path, 4242, 4242)
    with pytest.raises(ValueError, match="another user"):
        Bridge.open(bridge.path)
    result = live(Path(bridge.path))
    assert result.returncode == 2 and "another user (uid 4242)" in result.stderr
