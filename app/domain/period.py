"""Query periods such as ``30s`` or ``5m``."""

import re
from dataclasses import dataclass

from app.domain.errors import DomainError, InvalidPeriod
from app.domain.time_grid import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND

_UNIT_MS = {"s": MS_PER_SECOND, "m": MS_PER_MINUTE, "h": MS_PER_HOUR, "d": MS_PER_DAY}
# ASCII digits only, as the OpenAPI pattern ^[0-9]{1,9}[smhd]$ says (\d and int() take any Unicode digit).
_PATTERN = re.compile(r"([0-9]{1,9})([smhd])")
# A year of history is far beyond any retention we keep; larger asks are typos.
MAX_PERIOD_MS = 366 * MS_PER_DAY


@dataclass(frozen=True, slots=True)
class Period:
    """A look-back span; ``text`` is echoed back to the caller as they wrote it."""

    text: str
    ms: int


def parse_duration(text: str, what: str, usage: str, error: type[DomainError]) -> tuple[str, int]:
    """``<whole number><s|m|h|d>`` as its normalised spelling (no leading zeros) and milliseconds.

    The one spelling of a span in the API: periods and candle intervals, each
    with bounds of its own that the caller checks. Anything else is an
    ``error`` that names the parameter (``what``) and says what to write (``usage``).
    """
    match = _PATTERN.fullmatch(text)
    if not match:
        raise error(f"invalid {what} {text[:40]!r}: use {usage}")
    amount, unit = int(match.group(1)), match.group(2)
    return f"{amount}{unit}", amount * _UNIT_MS[unit]


def parse_period(text: str) -> Period:
    """Parse ``<whole number><s|m|h|d>``, up to 366 days; anything else is an ``InvalidPeriod``."""
    usage = "a positive whole number of s, m, h or d, e.g. 30s or 5m"
    name, ms = parse_duration(text, "period", usage, InvalidPeriod)
    if ms == 0:
        raise InvalidPeriod("period must be greater than zero")
    if ms > MAX_PERIOD_MS:
        raise InvalidPeriod(f"period {text[:40]!r} is longer than 366 days")
    return Period(name, ms)
