"""Errors that reach the user as one clear line (no traceback).

The CLI prints ``anonfilter: <message>`` and exits with the error's :attr:`exit_code`:
2 for a problem with what the user asked for (:class:`AnonfilterError`), 1 for a failure while
running (:class:`RunFailure`: a full disk, an I/O error, a frame the method could not anonymize
under ``--strict``). ``--debug`` shows the traceback as well.
"""


class AnonfilterError(Exception):
    """A problem the user can act on (bad input, option or plugin): one line, exit code 2."""

    exit_code = 2


class RunFailure(AnonfilterError):
    """The run failed after it started (disk full, I/O error, ``--strict`` violations): exit code 1."""

    exit_code = 1
