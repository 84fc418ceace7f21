"""The ways users start and manage the service: marketflow, gunicorn, flask."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from app.adapters.postgres.schema import MIGRATIONS
from tests.support.net import free_port, wait_for
from tests.support.service import REPO, http

BIN = Path(sys.executable).parent
HELP = """Usage:
  marketflow [--port <N>]
  marketflow --help

Options:
  --port N     Port number
"""


def run(args: list[str], env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, check=False, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def config_file(tmp_path: Path, config: dict) -> dict:
    path = tmp_path / "marketflow.yaml"
    path.write_text(yaml.safe_dump(config))
    return {"MARKETFLOW_CONFIG": str(path)}


def test_help_is_exact() -> None:
    result = run([str(BIN / "marketflow"), "--help"])
    assert (result.returncode, result.stdout, result.stderr) == (0, HELP, "")


def test_bad_arguments_fail_with_one_line() -> None:
    for args, message in (
        (["--bogus"], "unexpected argument '--bogus'"),
        (["--port"], "--port needs a number"),
        (["--port", "99999"], "--port must be a number from 1 to 65535"),
        (["--port", "http"], "--port must be a number"),
    ):
        result = run([str(BIN / "marketflow"), *args])
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert message in result.stderr


def test_port_in_use_fails_with_one_line() -> None:
    with socket.create_server(("0.0.0.0", 0)) as busy:
        port = busy.getsockname()[1]
        result = run([str(BIN / "marketflow"), "--port", str(port)])
    assert result.returncode == 1
    assert result.stderr == f"marketflow: port {port} is already in use\n"


def test_invalid_config_fails_naming_the_key(tmp_path: Path) -> None:
    env = config_file(tmp_path, {"pipeline": {"wokers": 3}})
    result = run([str(BIN / "marketflow")], env)
    assert (result.returncode, result.stderr) == (
        1,
        "marketflow: invalid configuration: pipeline.wokers: unknown key\n",
    )
    result = run([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], env)
    assert result.returncode != 0
    assert "pipeline.wokers: unknown key" in result.stderr


def test_a_worker_count_out_of_range_is_refused_naming_the_range(tmp_path: Path) -> None:
    env = config_file(tmp_path, {"http": {"workers": 300}})
    result = run([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], env)
    assert result.returncode != 0
    assert "http.workers: must be from 1 to 256" in result.stderr


def test_marketflow_port_serves_and_stops_cleanly(tmp_path: Path) -> None:
    env = config_file(
        tmp_path,
        {
            "redis": {"url": f"redis://127.0.0.1:{free_port()}/0"},
            "postgres": {"dsn": f"postgresql://postgres@127.0.0.1:{free_port()}/none"},
        },
    )
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "marketflow"), "--port", str(port)],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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


def test_flask_management_commands(tmp_path: Path, pg_dsn: str) -> None:
    env = {**config_file(tmp_path, {"postgres": {"dsn": pg_dsn}}), "FLASK_APP": "wsgi"}
    listing = run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "--help"], env)
    assert listing.returncode == 0
    for command in ("migrate", "check-config"):
        assert command in listing.stdout
    migrated = run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "migrate"], env)
    assert migrated.returncode == 0
    every = list(range(1, len(MIGRATIONS) + 1))  # a fresh database, or one an earlier test migrated
    assert migrated.stdout.strip() in {f"applied migrations {every}", "schema is up to date"}
    assert run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "migrate"], env).stdout.strip() == (
        "schema is up to date"
    )
    checked = run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "check-config"], env)
    assert checked.returncode == 0
    assert checked.stdout.rstrip().endswith("config OK")
    bad = run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "check-config"], config_file(tmp_path, {"mode": 1}))
    assert bad.returncode == 1
    assert "mode: must be one of test, live" in bad.stderr


def test_credentials_are_masked_in_check_config(tmp_path: Path) -> None:
    env = config_file(tmp_path, {"postgres": {"dsn": "postgresql://mf:s3cret@db:5432/x"}})
    checked = run([str(BIN / "flask"), "--app", "wsgi", "marketflow", "check-config"], env)
    assert "s3cret" not in checked.stdout
    assert "postgresql://mf:***@db:5432/x" in checked.stdout


def test_every_credential_form_is_masked_by_check_config_and_migrate(tmp_path: Path) -> None:
    """Each secret below must vanish from everything the commands print; the masked forms must show."""
    flask = [str(BIN / "flask"), "--app", "wsgi", "marketflow"]
    proxies = ["http://u:s3cretC@x@127.0.0.1:3128", "socks5://u%40x:s3cret%40D@127.0.0.1:1080"]
    env = {
        **config_file(tmp_path, {"redis": {"url": "redis://:s3cretA@cache:6379/0"}, "proxy": {"proxies": proxies}}),
        "MARKETFLOW_POSTGRES_DSN": f"host=127.0.0.1 port={free_port()} user=mf password='s3cret B: x' dbname=x",
        "MARKETFLOW_ADMIN_TOKEN": "s3cretTOKEN-0123456789",
    }
    checked = run([*flask, "check-config"], env)
    assert checked.returncode == 0, checked.stderr
    printed = json.loads(checked.stdout.rsplit("config OK", 1)[0])
    assert printed["redis"]["url"] == "redis://:***@cache:6379/0"
    assert printed["postgres"]["dsn"].startswith("host=127.0.0.1 port=")
    assert printed["postgres"]["dsn"].endswith(" user=mf password=*** dbname=x")
    assert printed["proxy"]["proxies"] == ["http://u:***@127.0.0.1:3128", "socks5://u%40x:***@127.0.0.1:1080"]
    assert printed["http"]["admin_token"] == "***"
    migrated = run([*flask, "migrate"], env)
    assert migrated.returncode == 1
    assert "marketflow: cannot reach PostgreSQL at host=127.0.0.1" in migrated.stderr
    assert "password=*** dbname=x" in migrated.stderr

    env = {
        **config_file(tmp_path, {"redis": {"url": "redis://mf:s3cretE@cache:6379/0"}}),
        "MARKETFLOW_POSTGRES_DSN": "postgresql://mf:s3cret@F%40@db:5432/x",
    }
    second = run([*flask, "check-config"], env)
    assert second.returncode == 0, second.stderr
    printed = json.loads(second.stdout.rsplit("config OK", 1)[0])
    assert (printed["redis"]["url"], printed["postgres"]["dsn"]) == (
        "redis://mf:***@cache:6379/0",
        "postgresql://mf:***@db:5432/x",
    )
    bad = run([*flask, "check-config"], {**env, "MARKETFLOW_POSTGRES_DSN": "host=db password=s3cretG dbname"})
    assert bad.returncode == 1
    assert "postgres.dsn: not a valid PostgreSQL connection string" in bad.stderr
    for result in (checked, migrated, second, bad):
        output = result.stdout + result.stderr
        assert "s3cret" not in output
        assert "Traceback" not in output
