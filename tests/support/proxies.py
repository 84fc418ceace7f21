"""Real proxy servers on loopback, started by the tests: tinyproxy (HTTP CONNECT) and dante (SOCKS5).

Each sends its outgoing connections from its own loopback address, so an
exchange stand-in can tell from the peer address which way a connection
came: 127.0.0.1 direct, 127.0.0.4 through tinyproxy, 127.0.0.3 through dante.
"""

import shutil
import subprocess
from pathlib import Path

from tests.support.net import free_port, wait_for

DIRECT_PEER = "127.0.0.1"
DANTE_PEER = "127.0.0.3"
TINYPROXY_PEER = "127.0.0.4"


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        raise RuntimeError(f"{name} is not installed: run `make test-servers` (Debian: tinyproxy-bin, dante-server)")
    return found


class ProxyServer:
    peer: str
    scheme: str

    def __init__(self, workdir: Path, port: int | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.credentials = credentials
        self._workdir = workdir
        self.log = workdir / f"{type(self).__name__.lower()}-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"{self.scheme}://{auth}127.0.0.1:{self.port}"

    def command(self, config: Path) -> list[str]:
        raise NotImplementedError

    def config_text(self) -> str:
        raise NotImplementedError

    def start(self) -> "ProxyServer":
        config = self._workdir / f"{type(self).__name__.lower()}-{self.port}.conf"
        config.write_text(self.config_text())
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command(config), stdout=log, stderr=log)
        wait_for(self._listening, timeout=10, message=f"{type(self).__name__} on {self.port}")
        return self

    def _listening(self) -> bool:
        import socket

        if self.process.poll() is not None:
            raise AssertionError(f"{type(self).__name__} exited: {self.log.read_text()[-1000:]}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


class TinyProxy(ProxyServer):
    peer, scheme = TINYPROXY_PEER, "http"

    def command(self, config: Path) -> list[str]:
        return [_binary("tinyproxy"), "-d", "-c", str(config)]

    def config_text(self) -> str:
        auth = f"BasicAuth {self.credentials[0]} {self.credentials[1]}\n" if self.credentials else ""
        # No ConnectPort line: CONNECT is allowed to every port (the stand-ins use free ports).
        return f"Port {self.port}\nListen 127.0.0.1\nBind {self.peer}\nTimeout 60\nMaxClients 50\nLogLevel Info\n{auth}"


class Dante(ProxyServer):
    peer, scheme = DANTE_PEER, "socks5"

    def command(self, config: Path) -> list[str]:
        return [_binary("danted"), "-f", str(config), "-N", "1"]

    def config_text(self) -> str:
        return (
            f"logoutput: stderr\ninternal: 127.0.0.1 port = {self.port}\nexternal: {self.peer}\n"
            "socksmethod: none\nclientmethod: none\nuser.privileged: root\nuser.unprivileged: nobody\n"
            "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
            "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }\n"
        )
