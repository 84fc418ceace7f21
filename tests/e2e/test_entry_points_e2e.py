"""The real programs users start and manage the service with: ``marketflow --port`` serves and stops, and
``flask --app wsgi marketflow`` migrates and checks a configuration.

Their arguments, refusals and masking are checked in-process by tests/service/test_entry_points.py;
a bad configuration stopping ``marketflow`` and gunicorn by tests/e2e/test_config_errors_e2e.py."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from app.adapters.postgres.schema import MIGRATIONS
from tests.support.net import free_port, wait_for
from tests.support.service import REPO, http

BIN = Path(sys.executable).parent


def run(args: list[str], env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, check=False, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def config_file(tmp_path: Path, config: dict) -> dict:
    path = tmp_path / "marketflow.yaml"
    path.write_text(yaml.safe_dump(config))
    return {"MARKETFLOW_CONFIG": str(path)}


def test_marketflow_port_serves_and_stops_cleanly(tmp_path: Path) -> None:
    env = config_file(
        tmp_path,
        {
            "redis": {"url": f"redis://127.0.0.1:{free_port()}/0"},
            "postgres": {"dsn": f"postgresql://postgres@127.0.0.1:{free_port()}/none"},
        },
    )
    port = free_port()
    log = tmp_path / "marketflow.log"
    process = subprocess.Popen(
        [str(BIN / "marketflow"), "--port", str(port)],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:

        def healthy() -> bool:
            try:
                return http("GET", f"http://127.0.0.1:{port}/health")[0] == 200
            except OSError:
                return False

        wait_for(healthy, timeout=20, message="marketflow --port")
        assert http("GET", f"http://127.0.0.1:{port}/mode")[1]["mode"] == "test"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    # Every line, the master's and the worker's from start to exit (gevent's patching included), one JSON object.
    lines = log.read_text().splitlines()
    assert lines
    assert [line for line in lines if not line.startswith("{")] == []
    assert all(isinstance(json.loads(line), dict) for line in lines)
    # gevent's warning about redis-py's asyncio part (never used) is not logged; any other warning would be.
    assert not [line for line in lines if "MonkeyPatchWarning" in line]


def test_flask_management_commands(tmp_path: Path, pg_dsn: str) -> None:
    env = {**config_file(tmp_path, {"postgres": {"dsn": pg_dsn}}), "FLASK_APP": "wsgi"}
    listing = run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "--help"], env)
    assert listing.returncode == 0
    for command in ("migrate", "check-config", "storage"):
        assert command in listing.stdout
    migrated = run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "migrate"], env)
    assert migrated.returncode == 0
    every = list(range(1, len(MIGRATIONS) + 1))  # a fresh database, or one an earlier test migrated
    applied, made = migrated.stdout.strip().splitlines()
    assert applied in {f"applied migrations {every}", "schema is up to date"}
    assert made.endswith(" partitions made ahead")
    assert run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "migrate"], env).stdout.strip().splitlines() == [
        "schema is up to date",
        "0 partitions made ahead",
    ]
    stored = run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "storage"], env)
    assert stored.returncode == 0
    assert "| market_data | 35 days |" in stored.stdout
    checked = run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "check-config"], env)
    assert checked.returncode == 0
    assert checked.stdout.rstrip().endswith("config OK")
    bad = run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "check-config"], config_file(tmp_path, {"mode": 1}))
    assert bad.returncode == 1
    assert "mode: must be one of test, live" in bad.stderr
