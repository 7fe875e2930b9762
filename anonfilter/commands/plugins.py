"""List installed plugins with their versions, contract versions, methods, detectors and options.

Problems (a plugin that failed to load, an incompatible contract, a name two distributions
claim) are listed after the plugins, on stderr; --strict makes any of them exit 1.

examples:
  anonfilter plugins                          every plugin, method, detector and option
  anonfilter plugins --json                   the same as JSON (for scripts)
  anonfilter plugins --strict                 exit 1 when any plugin has a problem (for CI)
  ANONFILTER_DISABLE_PLUGINS=anonfilter-foo anonfilter plugins   without the anonfilter-foo distribution
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from anonfilter.hookspecs import CONTRACT_VERSION, Option
from anonfilter.plugins import DISABLE_ENV, PluginHost, PluginInfo, option_summary
from anonfilter.schema import describe_range


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--json and --strict."""
    parser.description = (__doc__ or "").split("\n\nexamples:")[0]
    parser.epilog = (
        "examples:"
        + (__doc__ or "").split("examples:")[1]
        + (f"\n{DISABLE_ENV}: comma-separated plugin or distribution names that are not loaded\n")
    )
    parser.add_argument("--json", action="store_true", help="print plugins, options and problems as JSON on stdout")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any plugin has a problem")


def run(args: argparse.Namespace) -> int:
    """Print one block per plugin (or JSON), then any problem; 1 under --strict when there is one."""
    host = PluginHost()
    if args.json:
        print(json.dumps(to_json(host), indent=2))
    else:
        print(f"plugin contract {CONTRACT_VERSION}")
        for info in sorted(host.plugins.values(), key=lambda info: info.name):
            print(f"\n{info.name} ({info.distribution} {info.version}, contract {info.contract})")
            for kind, specs, flag in (("method", info.methods, "-O"), ("detector", info.detectors, "-D")):
                for spec in specs:
                    note = "" if host.owner(kind, spec.name) is info else "  [not used: see the problems below]"
                    print(f"  {kind} {spec.name}: {spec.description}{note}")
                    if spec.options:
                        print(option_summary(spec.options, flag))
    if host.disabled:
        print(f"anonfilter: disabled by {DISABLE_ENV}: {', '.join(sorted(host.disabled))}", file=sys.stderr)
    for problem in host.problems:
        print(f"anonfilter: {problem}", file=sys.stderr)
    return 1 if args.strict and host.problems else 0


def to_json(host: PluginHost) -> dict[str, Any]:
    """Plugins with their methods, detectors and options, the problems and disabled names."""
    return {
        "contract": CONTRACT_VERSION,
        "plugins": [_plugin_json(host, info) for info in sorted(host.plugins.values(), key=lambda info: info.name)],
        "problems": list(host.problems),
        "disabled": sorted(host.disabled),
    }


def _plugin_json(host: PluginHost, info: PluginInfo) -> dict[str, Any]:
    specs = [("method", spec) for spec in info.methods] + [("detector", spec) for spec in info.detectors]
    return {
        "name": info.name,
        "distribution": info.distribution,
        "version": info.version,
        "contract": info.contract,
        "provides": [
            {
                "kind": kind,
                "name": spec.name,
                "description": spec.description,
                "used": host.owner(kind, spec.name) is info,
                "options": _options_json(spec.options),
            }
            for kind, spec in specs
        ],
    }


def _options_json(options: Sequence[Option]) -> list[dict[str, Any]]:
    return [
        {
            "name": option.name,
            "default": option.default if isinstance(option.default, (int, float, str, bool, type(None))) else repr(option.default),
            "help": option.help,
            "range": describe_range(option),
            "choices": list(option.choices) if option.choices is not None else None,
        }
        for option in options
    ]
