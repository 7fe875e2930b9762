"""List installed plugins with their versions, contract versions, methods, detectors and options."""

from __future__ import annotations

import argparse
import sys

from anonfilter.hookspecs import CONTRACT_VERSION
from anonfilter.plugins import PluginHost, option_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options of its own."""


def run(args: argparse.Namespace) -> int:
    """Print one block per plugin, then any plugin that was refused."""
    host = PluginHost()
    print(f"plugin contract {CONTRACT_VERSION}")
    for info in sorted(host.plugins.values(), key=lambda info: info.name):
        print(f"\n{info.name} ({info.distribution} {info.version}, contract {info.contract})")
        for kind, specs, flag in (("method", info.methods, "-O"), ("detector", info.detectors, "-D")):
            for spec in specs:
                print(f"  {kind} {spec.name}: {spec.description}")
                if spec.options:
                    print(option_summary(spec.options, flag))
    for problem in host.problems:
        print(f"anonfilter: {problem}", file=sys.stderr)
    return 0
