"""Log lines in either format hide every fragment of a configured secret, as gunicorn's dictConfig builds them."""

import logging
from logging.config import DictConfigurator

import orjson
import pytest

from app.adapters.server.logs import logging_dict

SAID = 'connect failed: could not translate host name "ss-w0rd.t3G@127.0.0.1" to address'


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_driver_error_quoting_a_piece_of_a_password_is_logged_without_it(fmt: str) -> None:
    config = logging_dict("INFO", fmt, ["pa@ss-w0rd.t3G", "admin-token-0123456789"])
    formatter = DictConfigurator({}).configure_formatter(config["formatters"]["default"])
    record = logging.LogRecord("app.x", logging.WARNING, __file__, 1, SAID, (), None)
    record.error = "admin-token-0123456789 and postgresql://u:pa@ss-w0rd.t3G@h/db"
    line = formatter.format(record)
    for piece in ("ss-w0rd", "t3G", "admin-token"):
        assert piece not in line
    if fmt == "json":
        entry = orjson.loads(line)
        assert entry["message"] == 'connect failed: could not translate host name "***" to address'
        assert entry["error"] == "*** and postgresql://u:***@h/db"
    else:
        assert line.endswith('WARNING app.x: connect failed: could not translate host name "***" to address')


def test_a_json_line_is_dated_as_every_answer_is() -> None:
    """The log's time is written as the API writes instants (``Z``, three decimals), so the two can be matched."""
    formatter = DictConfigurator({}).configure_formatter(logging_dict("INFO", "json", [])["formatters"]["default"])
    record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "hello", (), None)
    record.created = 1763712000.1239
    assert orjson.loads(formatter.format(record))["ts"] == "2025-11-21T08:00:00.123Z"
