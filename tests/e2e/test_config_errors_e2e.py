"""A bad configuration stops the real entry points with one line that names the key, never a traceback.

One bad value per program here; tests/service/test_config_errors.py checks every one in-process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.service.test_config_errors import BAD
from tests.support.service import REPO

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [["marketflow"], ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]])
def test_a_bad_value_stops_startup_with_one_line(tmp_path: Path, command: list[str]) -> None:
    config, line = BAD[0]
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
