"""Wire formats of the API's values."""

from datetime import UTC, datetime


def iso_ms(ts_ms: int) -> str:
    """``2026-11-21T10:15:30.123Z``: UTC, millisecond precision, as the API promises."""
    moment = datetime.fromtimestamp(ts_ms // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ts_ms % 1000:03d}Z"
