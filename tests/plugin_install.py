"""Install a plugin for one test the way pip leaves it: a module and a ``.dist-info`` folder on ``sys.path``.

The plugin host finds it through ``importlib.metadata`` exactly as it finds a pip-installed one
(entry points, distribution name and version), without pip and without touching the environment.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

Installer = Callable[..., str]


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Installer]:
    """``install_plugin(distribution, source, entry_points=None, version="1.0")`` -> the module's name.

    ``source`` is the plugin module's code; ``entry_points`` maps entry-point names in the
    ``anonfilter`` group to it (default: the distribution's name without ``anonfilter-``).
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install(distribution: str, source: str, entry_points: Optional[list[str]] = None, version: str = "1.0") -> str:
        module = f"{distribution.replace('-', '_')}_{tmp_path.name}".lower()
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
        names = entry_points or [distribution.removeprefix("anonfilter-")]
        (info / "entry_points.txt").write_text("[anonfilter]\n" + "".join(f"{name} = {module}\n" for name in names))
        modules.append(module)
        return module

    yield install
    for module in modules:
        sys.modules.pop(module, None)
