import pytest

from app.adapters.feeds.wire_line import decode_line, encode_line
from app.domain.errors import InvalidTick


def test_round_trip() -> None:
    line = encode_line("BTCUSDT", 96123.45, 1_763_712_000_123)
    assert line == b'{"symbol":"BTCUSDT","price":96123.45,"timestamp":1763712000123}'
    assert list(decode_line(line)) == [("BTCUSDT", 96123.45, 1_763_712_000_123, None, None)]


def test_a_quantity_is_a_fourth_field() -> None:
    line = encode_line("BTCUSDT", 96123.45, 1_763_712_000_123, 0.5)
    assert line == b'{"symbol":"BTCUSDT","price":96123.45,"timestamp":1763712000123,"quantity":0.5}'
    assert list(decode_line(line)) == [("BTCUSDT", 96123.45, 1_763_712_000_123, 0.5, None)]


def test_extra_fields_are_ignored() -> None:
    assert list(decode_line(b'{"symbol":"X","price":"1","timestamp":2,"venue":"y"}')) == [("X", "1", 2, None, None)]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b'{"price":NaN}', "invalid_json"),
        (b"[1,2]", "not_an_object"),
        (b'{"symbol":"BTCUSDT","timestamp":1}', "missing_field"),
        (b"\xff\xfe", "invalid_json"),
    ],
)
def test_malformed_lines(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidTick) as caught:
        list(decode_line(raw))
    assert caught.value.reason == reason
