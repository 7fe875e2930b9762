"""The ``anonfilter`` command line.

``anonfilter -i IN -o OUT [options]`` transcodes a file; other work is done by subcommands
(``anonfilter plugins``, ...), each in its own module under :mod:`anonfilter.commands`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import Callable, Optional, Sequence

from anonfilter import __version__
from anonfilter.errors import AnonfilterError

SUBCOMMANDS: dict[str, str] = {
    "transcode": "anonfilter.commands.transcode",
    "plugins": "anonfilter.commands.plugins",
    "check": "anonfilter.commands.check",
    "evaluate": "anonfilter.commands.evaluate",
    "live": "anonfilter.commands.live",
    "obs": "anonfilter.commands.obs",
    "new-plugin": "anonfilter.commands.new_plugin",
}
"""Subcommand name -> module with ``add_arguments(parser)`` and ``run(args) -> int``."""

EPILOG = """\
examples:
  anonfilter -i in.mkv -o out.mkv                 blur every face; keep audio, subtitles, metadata
  anonfilter -i in.mp4 -o out.mp4 --method pixelate
  anonfilter -i talk.mp4 -o talk_anon.mp4 --keep me.jpg   leave the person in me.jpg visible
  anonfilter plugins                              list installed methods and detectors

subcommands (anonfilter SUBCOMMAND --help for each):
  {commands}
"""


def build_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one subcommand (``transcode`` is the default one)."""
    module = importlib.import_module(SUBCOMMANDS[name])
    prog = "anonfilter" if name == "transcode" else f"anonfilter {name}"
    parser = argparse.ArgumentParser(
        prog=prog,
        description=module.__doc__.strip().splitlines()[0] if module.__doc__ else None,
        epilog=EPILOG.format(commands=", ".join(sorted(SUBCOMMANDS))) if name == "transcode" else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"anonfilter {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    module.add_arguments(parser)
    parser.set_defaults(run=module.run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    name = args_list[0] if args_list and args_list[0] in SUBCOMMANDS else "transcode"
    if args_list and args_list[0] == name:
        args_list = args_list[1:]
    parser = build_parser(name)
    args = parser.parse_args(args_list)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except AnonfilterError as error:
        if args.debug:
            traceback.print_exc()
        print(f"anonfilter: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("anonfilter: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
