"""The service under test, run two ways from one configuration dict.

``Service`` is a real ``gunicorn -c gunicorn.conf.py wsgi:app`` process driven over loopback HTTP;
``InProcessService`` (tests/support/in_process.py) is the very container the server builds, started in
the test's own process and driven through Flask's test client. Both answer ``request``, ``get``,
``post``, ``logs`` and ``stop`` alike, so one scenario runs against either: in-process where the server
plays no part, through gunicorn where it does.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path
from typing import Generic, NamedTuple, Self, TypeVar

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


class Answer(NamedTuple):
    """One HTTP answer: its status, its headers (looked up by any case) and its body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class ServiceUnderTest:
    """What both ways of running the service share: the configuration file, and requests by path."""

    def __init__(self, config: dict, workdir: Path) -> None:
        # A port of its own: gunicorn listens on it; in-process it is the one requests are addressed to.
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

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self.launch()
        self.wait_up()
        return self

    def launch(self) -> None:
        """Set it going, without waiting for it to answer."""
        raise NotImplementedError

    def wait_up(self) -> None:
        """Wait until it answers with its pipeline running."""
        raise NotImplementedError

    def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> Answer:
        """One request with exactly these headers (Host too, when given) and this body."""
        raise NotImplementedError

    def get(self, path: str) -> tuple[int, dict]:
        answer = self.request("GET", path)
        return answer.status, answer.json()

    def post(self, path: str, body: object = None) -> tuple[int, dict]:
        """``body``: sent as JSON, or as it is when bytes."""
        if body is None:
            answer = self.request("POST", path)
        else:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            answer = self.request("POST", path, {"Content-Type": "application/json"}, data)
        return answer.status, answer.json()

    def trade_counts(self, pairs: Mapping[str, str], period: str = "5m") -> dict[str, int]:
        """Per key of ``pairs``, the trades of its ``exchange/SYMBOL`` in the last ``period``, as the API answers
        (0 while it has none)."""
        found = {}
        for name, pair in pairs.items():
            status, body = self.get(f"/prices/average/{pair}?period={period}")
            found[name] = body["count"] if status == 200 else 0
        return found

    def owners(self) -> dict[str, str | None]:
        """Each source of the mode, and the process reading it (None: nobody), as ``/health`` says."""
        return {source["name"]: source["owner"] for source in self.get("/health")[1]["sources"]}

    def logs(self) -> str:
        """Everything it logged so far, one JSON object a line."""
        raise NotImplementedError

    def stop(self) -> int:
        """Stop it the way its operator would; 0 when it stopped cleanly."""
        raise NotImplementedError


class Service(ServiceUnderTest):
    """Writes ``config`` to a file and runs ``gunicorn -c gunicorn.conf.py wsgi:app`` on it."""

    process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.config_path.with_name(f"service-{self.port}.log")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def launch(self) -> None:
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

    def wait_up(self) -> None:
        try:
            wait_for(self._up, timeout=20, message=f"service on {self.port} ({self.log_path})")
        except BaseException:  # never left running behind a failed test
            self.crash()
            raise

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"service exited early with {self.process.returncode}: {self.logs()[-2000:]}")
        try:
            _status, body = self.get("/health")
        except OSError:
            return False
        return body.get("pipeline", {}).get("running", False)

    def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> Answer:
        connection = HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

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


S = TypeVar("S", bound=ServiceUnderTest)


class Starter(Generic[S]):
    """``start(config)`` for a test, and ``start.together(config, ...)`` for services meant to come up at the same
    moment (hosts sharing the feeds). Each is stopped when the test ends, whatever happened."""

    def __init__(self, kind: Callable[[dict, Path], S], workdir: Path) -> None:
        self._kind = kind
        self._workdir = workdir
        self.running: list[S] = []

    def __call__(self, config: dict) -> S:
        return self.together(config)[0]

    def together(self, *configs: dict) -> list[S]:
        """All launched first, then each waited for."""
        services = [self._kind(config, self._workdir) for config in configs]
        for service in services:
            service.launch()
            self.running.append(service)
        for service in services:
            service.wait_up()
        return services


@contextmanager
def starter(kind: Callable[[dict, Path], S], workdir: Path) -> Iterator[Starter[S]]:
    start = Starter(kind, workdir)
    yield start
    for service in start.running:
        service.stop()
