"""A bad configuration stops the real entry points with one line that names the key, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.service import REPO

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("config", "line"),
    [
        ({"redis": {"url": "redis://127.0.0.1:70000/0"}}, "redis.url: not a valid URL"),
        ({"redis": {"url": "127.0.0.1:6379"}}, "redis.url: must start with redis://"),
        ({"aggregator": {"flush_interval_seconds": 0}}, "aggregator.flush_interval_seconds: must be greater than zero"),
        ({"sources": {"live": {"tcp": [{"name": "a", "port": 70000}]}}}, "sources.live.tcp[0].port: 70000 is not"),
    ],
)
@pytest.mark.parametrize("command", [["marketflow"], ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]])
def test_a_bad_value_stops_startup_with_one_line(tmp_path: Path, config: dict, line: str, command: list[str]) -> None:
    path = tmp_path / "marketflow.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "MARKETFLOW_CONFIG": str(path)}
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.startswith(f"marketflow: invalid configuration: {line}"), result.stderr[-2000:]
    assert result.stderr.count("\n") == 1, result.stderr[-2000:]
