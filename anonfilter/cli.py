"""The ``anonfilter`` command line.

``anonfilter -i IN -o OUT [options]`` transcodes a file; other work is done by subcommands
(``anonfilter plugins``, ...), each in its own module under :mod:`anonfilter.commands`.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import signal
import sys
import threading
import traceback
from types import FrameType
from typing import Callable, Iterator, NoReturn, Optional, Sequence

from anonfilter import __version__
from anonfilter.errors import AnonfilterError

SUBCOMMANDS: dict[str, str] = {
    "transcode": "anonfilter.commands.transcode",
    "batch": "anonfilter.commands.batch",
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
  anonfilter batch archive/ --out anon/           every video below archive/, in parallel on Ray (docs/scaling.md)
  anonfilter plugins                              list installed methods and detectors
  ffmpeg -i cam.mkv -c copy -f matroska - | anonfilter -i - -o - | ffmpeg -i - -c copy out.mkv
                                                  in a pipe: standard input to standard output

subcommands (anonfilter SUBCOMMAND --help for each):
{commands}
"""


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""Handled like Ctrl-C (SIGINT): what ``timeout``, ``docker stop``, systemd and a closed terminal send."""


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived: unwinds like Ctrl-C, so nothing unfinished is left behind."""

    received: Optional[int] = None
    """The last stop signal, for when a library turned the exception into a plain KeyboardInterrupt (Ray does)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with a suggestion for a mistyped option), not a usage block."""

    def error(self, message: str) -> NoReturn:
        """Raise the problem as an :class:`AnonfilterError` instead of printing usage and exiting."""
        raise AnonfilterError(f"{message}{self._hint(message)} (see {self.prog} --help)")

    def _hint(self, message: str) -> str:
        if message.startswith("unrecognized arguments:"):
            unknown = message.split(":", 1)[1].split()[0]
            close = difflib.get_close_matches(unknown.split("=")[0], list(self._option_string_actions), n=1)
            return f"; did you mean {close[0]}?" if close else ""
        if message.endswith("expected one argument"):
            return "; a value starting with '-' is written as ./-NAME or --option=-NAME"
        return ""


def build_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one subcommand (``transcode`` is the default one)."""
    module = importlib.import_module(SUBCOMMANDS[name])
    prog = "anonfilter" if name == "transcode" else f"anonfilter {name}"
    description = module.__doc__.strip().splitlines()[0] if module.__doc__ else ""
    if name == "transcode":
        description = (
            description.rstrip(".") + f"; other work is done by subcommands ({', '.join(sorted(set(SUBCOMMANDS) - {name}))}), listed below"
        )
    parser = Parser(
        prog=prog,
        description=description or None,
        epilog=EPILOG.format(commands=subcommand_list()) if name == "transcode" else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"anonfilter {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    module.add_arguments(parser)
    parser.set_defaults(run=module.run)
    return parser


def subcommand_list() -> str:
    """One line per subcommand: its name and the first line of its module's docstring."""
    lines = []
    for name in sorted(SUBCOMMANDS):
        doc = importlib.import_module(SUBCOMMANDS[name]).__doc__ or ""
        summary = doc.strip().splitlines()[0].rstrip(".") if doc.strip() else ""
        lines.append(f"  {name:<12}{summary}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the console script; returns the exit code.

    Every error ends in one line on stderr (``--debug`` adds the traceback): exit 2 for a
    problem with what was asked, 1 for a failure while running, 128 + the signal's number when
    stopped by SIGINT, SIGTERM or SIGHUP.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        with stop_signals_interrupt():
            parser = build_parser(subcommand(args_list))
            if args_list and args_list[0] in SUBCOMMANDS:
                args_list = args_list[1:]
            args = parser.parse_args(args_list)
            run: Callable[[argparse.Namespace], int] = args.run
            return run(args)
    except AnonfilterError as error:
        return _fail(str(error), error.exit_code, debug)
    except KeyboardInterrupt as error:
        signum = error.signum if isinstance(error, Interrupted) else Interrupted.received or signal.SIGINT
        what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        return _fail(f"{what}; nothing unfinished was kept", 128 + signum, debug)
    except MemoryError:
        return _fail("out of memory", 1, debug)
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        return _fail(f"{error.strerror or error}{where}", 1, debug)
    except Exception as error:  # a bug: still one line, the traceback with --debug
        return _fail(f"internal error ({type(error).__name__}: {error}); run with --debug for the traceback", 1, debug)


def subcommand(args: Sequence[str]) -> str:
    """The subcommand ``args`` name (``transcode`` when they start with an option); an unknown one is refused."""
    if not args or args[0].startswith("-"):
        return "transcode"
    if args[0] in SUBCOMMANDS:
        return args[0]
    close = difflib.get_close_matches(args[0], list(SUBCOMMANDS), n=1)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    raise AnonfilterError(
        f"unknown subcommand '{args[0]}'; {suggestion}subcommands: {', '.join(sorted(SUBCOMMANDS))} "
        "(to anonymize a video: anonfilter -i IN -o OUT)"
    )


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM and SIGHUP raise :class:`Interrupted` like Ctrl-C (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Optional[FrameType]) -> None:
        Interrupted.received = signum
        raise Interrupted(signum)

    Interrupted.received = None

    previous = {signum: signal.signal(signum, interrupt) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"anonfilter: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
