"""Recovered trades on their way into the pipeline, beside the stream's own messages.

Backfill hands trades to the same ``emit`` as the stream, as one message
that no exchange sends (it starts with a NUL byte): the feed's ``decode``
recognises it and yields its trades, so they are validated and deduplicated
exactly like streamed ones, in the order they were recovered.
"""

from collections.abc import Iterator

import orjson

from app.domain.tick import RawTrade

MARK = b"\x00recovered:"


def encode_recovered(trades: list[RawTrade]) -> bytes:
    return MARK + orjson.dumps(trades)


def is_recovered(raw: bytes) -> bool:
    return raw.startswith(MARK)


def decode_recovered(raw: bytes) -> Iterator[RawTrade]:
    yield from map(tuple, orjson.loads(raw[len(MARK) :]))
