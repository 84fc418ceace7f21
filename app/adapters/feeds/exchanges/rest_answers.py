"""Reading an exchange's REST answers (trades of its history, pairs of its listing): what is not of the
documented shape is a ``RestError``, never a crash."""

from app.adapters.net.rest_client import RestError


def rows_at(answer: object, *path: str) -> list[dict]:
    """The list of objects (trades, pairs) at ``path`` inside ``answer``; ``RestError`` if it is not there."""
    for key in path:
        answer = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(answer, list) or not all(isinstance(row, dict) for row in answer):
        raise RestError(f"no list of objects at {'.'.join(path) or 'the top'}")
    return answer


def row_field(row: dict, name: str) -> object:
    if name not in row:
        raise RestError(f"an entry without {name!r}")
    return row[name]


def as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise RestError(f"not an integer: {value!r:.40}") from None
