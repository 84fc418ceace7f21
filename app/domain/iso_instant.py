"""An instant as the service writes it: ISO 8601 in UTC to the millisecond, e.g. ``2026-11-21T10:15:30.123Z``.

One spelling for every answer, stream message and text about a time (the
trade gaps in /health and in a partial answer's reason), so a client can
match them character for character.
"""

from datetime import datetime, timedelta

# Naive on purpose: read as UTC, it makes ``isoformat`` write no offset, and the ``Z`` is ours.
_EPOCH = datetime(1970, 1, 1)


def iso_ms(ts_ms: int) -> str:
    """``ts_ms`` (Unix ms, from year 1 to 9999) in UTC with a four-digit year and exactly three decimals.

    Whole milliseconds are added to the epoch as integers, never through a
    float of seconds, so no instant is written a millisecond off.
    """
    return (_EPOCH + timedelta(milliseconds=ts_ms)).isoformat(timespec="milliseconds") + "Z"
