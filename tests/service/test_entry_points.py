"""The ways users start and manage the service, in-process: the ``marketflow`` script's arguments and
checks, gunicorn.conf.py's, and the ``flask marketflow`` commands through Flask's CLI runner.

tests/e2e/test_entry_points_e2e.py runs the real programs: ``marketflow --port`` serving and stopping,
and ``flask --app wsgi marketflow`` migrating and checking a configuration.
"""

import json
import socket
from pathlib import Path

import pytest
import yaml
from flask.testing import FlaskCliRunner

from app.adapters.postgres.schema import MIGRATIONS
from app.config.loader import ConfigError, load_config
from tests.support.entry_points import EntryPoints
from tests.support.in_process import build_app, run_command
from tests.support.net import free_port

HELP = """Usage:
  marketflow [--port <N>]
  marketflow --help

Options:
  --port N     Port number
"""


def test_help_is_exact(entry_points: EntryPoints) -> None:
    assert entry_points.marketflow("--help") == (0, HELP, "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unexpected argument '--bogus'"),
        (["--port"], "--port needs a number"),
        (["--port", "99999"], "--port must be a number from 1 to 65535"),
        (["--port", "http"], "--port must be a number"),
    ],
)
def test_bad_arguments_fail_with_one_line(entry_points: EntryPoints, args: list[str], message: str) -> None:
    exited = entry_points.marketflow(*args)
    assert exited.code == 2
    assert exited.err.count("\n") == 1
    assert message in exited.err


def test_port_in_use_fails_with_one_line(entry_points: EntryPoints) -> None:
    with socket.create_server(("0.0.0.0", 0)) as busy:
        port = busy.getsockname()[1]
        exited = entry_points.marketflow("--port", str(port))
    assert (exited.code, exited.err) == (1, f"marketflow: port {port} is already in use\n")


def test_invalid_config_fails_naming_the_key(entry_points: EntryPoints) -> None:
    entry_points.configure({"pipeline": {"wokers": 3}})
    assert entry_points.marketflow()[::2] == (1, "marketflow: invalid configuration: pipeline.wokers: unknown key\n")
    exited = entry_points.gunicorn()
    assert exited.code != 0
    assert "pipeline.wokers: unknown key" in exited.err


def test_a_worker_count_out_of_range_is_refused_naming_the_range(entry_points: EntryPoints) -> None:
    entry_points.configure({"http": {"workers": 300}})
    exited = entry_points.gunicorn()
    assert exited.code != 0
    assert "http.workers: must be from 1 to 256" in exited.err


def config_file(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "marketflow.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_flask_management_commands(runner: FlaskCliRunner, pg_dsn: str) -> None:
    listing = runner.invoke(args=["marketflow", "--help"])
    assert listing.exit_code == 0
    for command in ("migrate", "check-config", "simulate", "storage"):
        assert command in listing.output
    migrated = runner.invoke(args=["marketflow", "migrate"])
    assert migrated.exit_code == 0
    every = list(range(1, len(MIGRATIONS) + 1))  # a fresh database, or one an earlier test migrated
    applied, made = migrated.output.strip().splitlines()
    assert applied in {f"applied migrations {every}", "schema is up to date"}
    assert made.endswith(" partitions made ahead")
    again = runner.invoke(args=["marketflow", "migrate"]).output.strip().splitlines()
    assert again == ["schema is up to date", "0 partitions made ahead"]
    checked = runner.invoke(args=["marketflow", "check-config"])
    assert checked.exit_code == 0
    assert json.loads(checked.output.rsplit("config OK", 1)[0])["postgres"]["dsn"] == pg_dsn
    assert checked.output.rstrip().endswith("config OK")


def test_credentials_are_masked_in_check_config(tmp_path: Path) -> None:
    app = build_app(config_file(tmp_path, {"postgres": {"dsn": "postgresql://mf:s3cret@db:5432/x"}}))
    checked = run_command(app, "check-config")
    assert "s3cret" not in checked.output
    assert "postgresql://mf:***@db:5432/x" in checked.output


def test_every_credential_form_is_masked_by_check_config_and_migrate(tmp_path: Path) -> None:
    """Each secret below must vanish from everything the commands print; the masked forms must show."""
    proxies = ["http://u:s3cretC@x@127.0.0.1:3128", "socks5://u%40x:s3cret%40D@127.0.0.1:1080"]
    path = config_file(tmp_path, {"redis": {"url": "redis://:s3cretA@cache:6379/0"}, "proxy": {"proxies": proxies}})
    env = {
        "MARKETFLOW_POSTGRES_DSN": f"host=127.0.0.1 port={free_port()} user=mf password='s3cret B: x' dbname=x",
        "MARKETFLOW_ADMIN_TOKEN": "s3cretTOKEN-0123456789",
    }
    app = build_app(path, env)
    checked = run_command(app, "check-config")
    assert checked.exit_code == 0, checked.output
    printed = json.loads(checked.output.rsplit("config OK", 1)[0])
    assert printed["redis"]["url"] == "redis://:***@cache:6379/0"
    assert printed["postgres"]["dsn"].startswith("host=127.0.0.1 port=")
    assert printed["postgres"]["dsn"].endswith(" user=mf password=*** dbname=x")
    assert printed["proxy"]["proxies"] == ["http://u:***@127.0.0.1:3128", "socks5://u%40x:***@127.0.0.1:1080"]
    assert printed["http"]["admin_token"] == "***"
    migrated = run_command(app, "migrate")
    assert migrated.exit_code == 1
    # sys.exit's message: on stderr from the real program, in the runner's output here.
    assert "marketflow: cannot reach PostgreSQL at host=127.0.0.1" in migrated.output
    assert "password=*** dbname=x" in migrated.output

    path = config_file(tmp_path, {"redis": {"url": "redis://mf:s3cretE@cache:6379/0"}})
    env = {"MARKETFLOW_POSTGRES_DSN": "postgresql://mf:s3cret%40F%40@db:5432/x"}
    second = run_command(build_app(path, env), "check-config")
    assert second.exit_code == 0, second.output
    printed = json.loads(second.output.rsplit("config OK", 1)[0])
    assert (printed["redis"]["url"], printed["postgres"]["dsn"]) == (
        "redis://mf:***@cache:6379/0",
        "postgresql://mf:***@db:5432/x",
    )
    # A DSN that can't be read stops the app being built at all (wsgi.py prints this one line and exits 1).
    with pytest.raises(ConfigError) as bad:
        load_config(path, env={"MARKETFLOW_POSTGRES_DSN": "host=db password=s3cretG dbname"})
    assert "postgres.dsn: not a valid PostgreSQL connection string" in str(bad.value)
    for output in (checked.output, migrated.output, second.output, str(bad.value)):
        assert "s3cret" not in output
        assert "Traceback" not in output


@pytest.mark.parametrize(
    ("key", "env", "url"),
    [
        ("postgres.dsn", "MARKETFLOW_POSTGRES_DSN", "postgresql://u:pa@ss-w0rd.t3G@127.0.0.1:{port}/db"),
        ("postgres.dsn", "MARKETFLOW_POSTGRES_DSN", "postgresql://u:p/a@ss-w0rd.t3G@127.0.0.1:{port}/db"),
        ("postgres.dsn", "MARKETFLOW_POSTGRES_DSN", "postgresql://u:100%ss-w0rd.t3G@127.0.0.1:{port}/db"),
        ("redis.url", "MARKETFLOW_REDIS_URL", "redis://:pa/ss-w0rd.t3G@127.0.0.1:{port}/0"),
    ],
)
def test_a_password_a_driver_would_read_in_pieces_is_refused_saying_how_to_encode_it(
    tmp_path: Path, key: str, env: str, url: str
) -> None:
    """``flask marketflow migrate`` with such a password printed a piece of it in libpq's own words (``could not
    translate host name "ss-w0rd.t3G@127.0.0.1"``): now the configuration is refused, naming the key, quoting
    nothing of the password, and saying how to percent-encode it."""
    try:
        app = build_app(config_file(tmp_path, {}), {env: url.format(port=free_port())})
        shown = run_command(app, "migrate").output + run_command(app, "check-config").output
    except ConfigError as exc:
        shown = str(exc)
    assert shown.startswith(f"{key}: the user name or password holds a character a URL reserves"), shown
    assert "percent-encode them (@ as %40, : as %3A, / as %2F" in shown
    for piece in ("ss-w0rd", "t3G", "pa@", "p/a"):
        assert piece not in shown
