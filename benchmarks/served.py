"""A real gunicorn over a benchmark's configuration, and wrk against it: what the HTTP benchmarks share."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml


def health(base: str) -> dict:
    with urllib.request.urlopen(base + "/health", timeout=10) as response:
        return json.loads(response.read())


def serve(settings: dict, workdir: Path, port: int, ready: str = "up") -> tuple[subprocess.Popen, str]:
    """gunicorn over ``settings`` (their ``http`` section given ``port``); returns once ``/health`` answers and,
    with ``ready="owned"``, once every feed has an owner."""
    settings = {**settings, "http": {"host": "127.0.0.1", **settings.get("http", {}), "port": port}}
    path = workdir / "bench.yaml"
    path.write_text(yaml.safe_dump(settings))
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        env={**os.environ, "MARKETFLOW_CONFIG": str(path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            sources = health(base)["sources"]
            if ready == "up" or all(source["owner"] for source in sources):
                return process, base
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the service never came {ready}")


def wrk(url: str, seconds: int, connections: int = 32) -> tuple[float, str, str]:
    """Requests/s, p50 and p99 (as wrk prints them) of ``connections`` clients asking for ``url``."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1)
    return rps, p50, p99
