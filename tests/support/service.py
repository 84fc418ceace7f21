"""A real marketflow service: gunicorn started from the repository, driven over HTTP."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import yaml

from tests.conftest import REDIS_URL
from tests.support.net import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def http(method: str, url: str, timeout: float = 5.0, body: object = None) -> tuple[int, dict]:
    """``body``: sent as JSON, or as it is when bytes."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Service:
    """Writes ``config`` to a file and runs ``gunicorn -c gunicorn.conf.py wsgi:app`` on it."""

    def __init__(self, config: dict, workdir: Path) -> None:
        self.port = free_port()
        # One worker unless a test asks for more (the default is one per CPU).
        http_config = {"workers": 1, **config.get("http", {}), "port": self.port, "host": "127.0.0.1"}
        config = {**config, "http": http_config}
        # Tests talk to loopback only: never fall back to the real exchanges' default endpoints.
        live = config.setdefault("sources", {}).setdefault("live", {})
        live.setdefault("websocket", [])
        # Each service its own spool, unless a test means to share one across restarts.
        config.setdefault("aggregator", {}).setdefault("spool_path", str(workdir / f"spool-{self.port}.jsonl"))
        self.config_path = workdir / f"marketflow-{self.port}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / f"service-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Service":
        env = {**os.environ, "MARKETFLOW_CONFIG": str(self.config_path)}
        for var in (
            "MARKETFLOW_MODE",
            "MARKETFLOW_HTTP_PORT",
            "MARKETFLOW_REDIS_URL",
            "MARKETFLOW_POSTGRES_DSN",
            "MARKETFLOW_ADMIN_TOKEN",
        ):
            env.pop(var, None)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(GUNICORN), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,  # its own process group, so crash() reaches the worker too
        )
        try:
            wait_for(self._up, timeout=20, message=f"service on {self.port} ({self.log_path})")
        except BaseException:  # never left running behind a failed test
            self.crash()
            raise
        return self

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"service exited early with {self.process.returncode}: {self.logs()[-2000:]}")
        try:
            _status, body = self.get("/health")
        except OSError:
            return False
        return body.get("pipeline", {}).get("running", False)

    def get(self, path: str) -> tuple[int, dict]:
        return http("GET", self.base + path)

    def post(self, path: str, body: object = None) -> tuple[int, dict]:
        return http("POST", self.base + path, body=body)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def crash(self) -> None:
        """kill -9 of the whole service, master and worker: nothing gets to clean up."""
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._log.close()


@contextmanager
def private_service(workdir: Path, pg_dsn: str) -> Iterator[Service]:
    """A test-mode service with a Redis key prefix of its own: it must stop cleanly, and its keys go with it."""
    prefix = f"mftest{uuid.uuid4().hex[:8]}"
    config = {"mode": "test", "redis": {"url": REDIS_URL, "key_prefix": prefix}, "postgres": {"dsn": pg_dsn}}
    service = Service(config, workdir).start()
    yield service
    assert service.stop() == 0
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
