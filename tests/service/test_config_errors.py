"""A bad configuration stops each entry point with one line that names the key, never a traceback: the
``marketflow`` script and gunicorn.conf.py, run in-process (tests/e2e/test_config_errors_e2e.py runs the
real programs)."""

import pytest

from tests.support.entry_points import EntryPoints

BAD = [
    ({"redis": {"url": "redis://127.0.0.1:70000/0"}}, "redis.url: not a valid URL"),
    ({"redis": {"url": "127.0.0.1:6379"}}, "redis.url: must start with redis://"),
    ({"aggregator": {"flush_interval_seconds": 0}}, "aggregator.flush_interval_seconds: must be greater than zero"),
    ({"sources": {"live": {"tcp": [{"name": "a", "port": 70000}]}}}, "sources.live.tcp[0].port: 70000 is not"),
]


@pytest.mark.parametrize(("config", "line"), BAD)
@pytest.mark.parametrize("command", ["marketflow", "gunicorn"])
def test_a_bad_value_stops_startup_with_one_line(
    entry_points: EntryPoints, config: dict, line: str, command: str
) -> None:
    entry_points.configure(config)
    exited = entry_points.marketflow() if command == "marketflow" else entry_points.gunicorn()
    assert exited.code == 1
    assert exited.err.startswith(f"marketflow: invalid configuration: {line}"), exited.err
    assert exited.err.count("\n") == 1, exited.err
