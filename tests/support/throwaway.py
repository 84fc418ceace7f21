"""Private Redis and PostgreSQL servers that a test may stop, kill, pause and restart.

They run from the machine's server binaries on free loopback ports, in
temporary directories, and never touch the shared instances.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.net import free_port, wait_for


def _pg_bin(name: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    found = str(candidates[-1]) if candidates else shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return found


class RedisServer:
    """``options``: more of ``redis-server``'s command-line options (a cluster node's, say)."""

    def __init__(self, port: int | None = None, options: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.options = options
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [
                *(shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--loglevel", "warning"),
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, timeout=10, message=f"redis on {self.port}")
        return self

    def _up(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: gone at once, and with it every key (nothing is saved)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


class PostgresServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mf-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0  # initdb and postgres refuse to run as root
        if self._as_postgres:
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, "postgres")
        self._run([_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        self.process: subprocess.Popen | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _command(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self._as_postgres else args

    def _run(self, args: list[str]) -> None:
        subprocess.run(self._command(args), check=True, capture_output=True)

    def start(self) -> "PostgresServer":
        args = [_pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root)]
        args += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "logging_collector=off"]
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(self._command(args), stdout=log, stderr=log)
        wait_for(self._up, timeout=20, message=f"postgres on {self.port}")
        return self

    def _up(self) -> bool:
        result = subprocess.run(
            [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False, capture_output=True
        )
        return result.returncode == 0

    def _postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends: a crash, not a shutdown."""
        pid = self._postmaster_pid()
        children = subprocess.run(["pgrep", "-P", str(pid)], check=False, capture_output=True, text=True).stdout
        for child in [pid, *map(int, children.split())]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        wait_for(lambda: not self._up(), timeout=10, message="postgres gone")
        if self.process:
            self.process.wait(timeout=10)

    def pause(self) -> None:
        os.kill(self._postmaster_pid(), signal.SIGSTOP)
        children = subprocess.run(
            ["pgrep", "-P", str(self._postmaster_pid())], check=False, capture_output=True, text=True
        )
        for child in map(int, children.stdout.split()):
            os.kill(child, signal.SIGSTOP)

    def resume(self) -> None:
        children = subprocess.run(
            ["pgrep", "-P", str(self._postmaster_pid())], check=False, capture_output=True, text=True
        )
        for child in [self._postmaster_pid(), *map(int, children.stdout.split())]:
            os.kill(child, signal.SIGCONT)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self._postmaster_pid(), signal.SIGINT)  # fast shutdown (runuser would not pass it on)
            self.process.wait(timeout=10)

    def destroy(self) -> None:
        """Whatever state it is in (running, paused, killed): stop it and remove its files."""
        with contextlib.suppress(OSError, ValueError):
            self.resume()
        with contextlib.suppress(OSError, ValueError, subprocess.TimeoutExpired):
            self.stop()
        subprocess.run(["pkill", "-9", "-f", str(self.data)], check=False)
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
