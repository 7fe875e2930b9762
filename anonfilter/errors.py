"""Errors that reach the user as one clear line (no traceback)."""


class AnonfilterError(Exception):
    """A problem the user can act on; the CLI prints ``anonfilter: <message>`` and exits non-zero."""
