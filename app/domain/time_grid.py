"""Time as the service counts it: Unix milliseconds, and the units it measures them in.

Every bucket, stored row and candle starts on a multiple of its grain (a
tenth, second, minute, hour, day or candle interval) counted from the Unix
epoch, so each grain's grid lines up with every coarser grain it divides.
``floor_to`` and ``ceil_to`` are the one place that snaps an instant to a grid.
"""

MS_PER_TENTH = 100
MS_PER_SECOND = 1000
MS_PER_MINUTE = 60 * MS_PER_SECOND
MS_PER_HOUR = 60 * MS_PER_MINUTE
MS_PER_DAY = 24 * MS_PER_HOUR
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 24 * SECONDS_PER_HOUR


def seconds_to_ms(seconds: float) -> int:
    """Seconds (a ``time.time()`` reading, a timeout) as whole milliseconds, truncated like every clock reading."""
    return int(seconds * MS_PER_SECOND)


def floor_to(ms: int, grain: int) -> int:
    """The start of the ``grain``-long bucket holding ``ms``: the last multiple of ``grain`` at or before it.

    Python's ``%`` takes the sign of ``grain``, so an instant before the epoch
    falls in the bucket starting at or before it too, never after.
    """
    return ms - ms % grain


def ceil_to(ms: int, grain: int) -> int:
    """The first multiple of ``grain`` at or after ``ms``: the first bucket holding nothing before ``ms``."""
    return -(-ms // grain) * grain
