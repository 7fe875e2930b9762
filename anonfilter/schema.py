"""Option values checked against their declared type and range: one schema for every option.

Plugin options (``-O``, ``-D``) and the pipeline's own numeric options (``--margin``,
``--detect-every``, ...) are all declared as :class:`~anonfilter.hookspecs.Option` values and
checked here, so a value out of range is refused the same way everywhere, with one line that
names the option and its range, and ``--help`` and ``anonfilter plugins`` show the same range.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from anonfilter.errors import AnonfilterError
from anonfilter.hookspecs import Option
from anonfilter.masks import MaskStyle
from anonfilter.tracking.settings import TrackerSettings

PIPELINE_OPTIONS: tuple[Option, ...] = (
    Option("margin", float, MaskStyle.margin, "mask margin around the face box, fraction of its size per side", minimum=0, maximum=10),
    Option("detect_every", int, None, "run the detector on every N-th frame only", minimum=1, maximum=30),
    Option(
        "keep_distance",
        float,
        TrackerSettings.keep_distance,
        "dlib distance under which a face is a --keep person",
        above=0,
        maximum=0.6,  # 0.6 is dlib's own same-person threshold: above it strangers would be kept
    ),
    Option("max_gap", float, TrackerSettings.max_gap, "seconds of missed detections filled", minimum=0, maximum=10),
    Option(
        "extend", float, TrackerSettings.extend_before, "seconds anonymized before and after a face's detections", minimum=0, maximum=10
    ),
    Option("coast", float, TrackerSettings.coast, "seconds a lost live face stays anonymized", minimum=0, maximum=10),
    Option("delay", float, 0.0, "seconds the live engine holds frames back", minimum=0, maximum=10),
)
"""The ranges of the pipeline's own numeric options (``--margin``, ``--detect-every``, ...), by their
argparse ``dest``: :func:`check_arguments` checks parsed options against them, their ``--help``
shows the range (:func:`range_of`), and :class:`anonfilter.config.Config` checks its fields
against the same entries. Defaults are those of the values that hold them (:class:`MaskStyle`,
:class:`TrackerSettings`)."""


def describe_range(option: Option) -> str:
    """The option's allowed values in words, e.g. ``0 < threshold < 1`` or ``one of int8, fp32``; "" when any."""
    if option.choices is not None:
        return "one of " + ", ".join(str(choice) for choice in option.choices)
    lower = (
        f"{_number(option.above)} < "
        if option.above is not None
        else (f"{_number(option.minimum)} <= " if option.minimum is not None else "")
    )
    upper = (
        f" < {_number(option.below)}"
        if option.below is not None
        else (f" <= {_number(option.maximum)}" if option.maximum is not None else "")
    )
    if lower and not upper:  # "resolution >= 0" reads better than "0 <= resolution"
        bound, operator = lower[:-1].rsplit(" ", 1)
        return f"{option.name} {'>' if operator == '<' else '>='} {bound}"
    return f"{lower}{option.name}{upper}" if lower or upper else ""


def check_value(option: Option, value: Any) -> None:
    """Raise ``ValueError`` (a short reason) when ``value`` is outside ``option``'s declared range.

    Floats must be finite whatever the range; bounds apply to numbers only (a tuple such as a
    colour is left to the option's ``type``).
    """
    if option.choices is not None:
        if value not in option.choices:
            raise ValueError(f"must be {describe_range(option)}")
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    too_low = (option.above is not None and not value > option.above) or (option.minimum is not None and not value >= option.minimum)
    too_high = (option.below is not None and not value < option.below) or (option.maximum is not None and not value <= option.maximum)
    if too_low or too_high:
        raise ValueError(f"must be {describe_range(option)}")


def number_kind(option: Option) -> str:
    """What a number option takes, for messages: ``a number`` or ``a whole number``."""
    return "a number" if option.type is float else "a whole number"


def convert(option: Option, text: str) -> Any:
    """``option.type(text)``, checked with :func:`check_value`; ``ValueError`` or ``TypeError`` when bad.

    A number that does not parse says what the option takes, not Python's own message; a plugin's
    own type (a function) gives its own message.
    """
    try:
        value = option.type(text)
    except ValueError:
        if option.type in (int, float):
            raise ValueError(f"must be {number_kind(option)}") from None
        raise
    check_value(option, value)
    return value


def help_text(option: Option) -> str:
    """The option's help with its range and default, for ``--help`` and ``anonfilter plugins``."""
    allowed = describe_range(option)
    return f"{option.help} ({allowed + '; ' if allowed else ''}default: {_number(option.default)})"


def _number(value: Any) -> str:
    """``1`` rather than ``1.0`` for whole floats, anything else as ``str``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def range_of(dest: str) -> str:
    """The range of the pipeline option ``dest`` for its ``--help`` (``"; 0 <= margin <= 10"``)."""
    option = next(option for option in PIPELINE_OPTIONS if option.name == dest)
    return f"; {describe_range(option)}"


def check_arguments(args: object) -> None:
    """Check the pipeline options present in parsed ``args`` against :data:`PIPELINE_OPTIONS`.

    Raises :class:`AnonfilterError` (one line, exit 2) for the first value out of range, e.g.
    ``--margin nan: must be a finite number``. Options a command does not have are skipped.
    """
    for option in PIPELINE_OPTIONS:
        value = getattr(args, option.name, None)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is None:
                continue
            try:
                check_value(option, item)
            except ValueError as error:
                raise AnonfilterError(f"--{option.name.replace('_', '-')} {item}: {error}") from None
