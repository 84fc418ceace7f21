"""The ``marketflow`` console script: the gunicorn service on a port of your choice."""

import errno
import os
import socket
import sys

from flask import Flask
from gunicorn.app.base import BaseApplication

USAGE = """Usage:
  marketflow [--port <N>]
  marketflow --help

Options:
  --port N     Port number
"""


class UsageError(ValueError):
    pass


def parse_port(args: list[str]) -> int | None:
    """The port from ``[--port N]`` (``--port=N`` too); None when not given."""
    if not args:
        return None
    if len(args) == 1 and args[0].startswith("--port="):
        value = args[0].split("=", 1)[1]
    elif len(args) == 2 and args[0] == "--port":
        value = args[1]
    elif args[0] == "--port" and len(args) == 1:
        raise UsageError("--port needs a number")
    else:
        raise UsageError(f"unexpected argument {' '.join(args)[:60]!r}")
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise UsageError(f"--port must be a number from 1 to 65535, got {value[:20]!r}")
    return int(value)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


class _Service(BaseApplication):
    def load_config(self) -> None:
        from app.adapters.server import gunicorn_settings

        for key in dir(gunicorn_settings):
            if key in self.cfg.settings:
                self.cfg.set(key, getattr(gunicorn_settings, key))

    def load(self) -> Flask:
        from app.composition import build_container, create_app
        from app.config.loader import load_config

        return create_app(build_container(load_config()))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--help"], ["-h"]):
        print(USAGE, end="")
        return 0
    try:
        port = parse_port(args)
    except UsageError as exc:
        print(f"marketflow: {exc} (see marketflow --help)", file=sys.stderr)
        return 2
    if port is not None:
        os.environ["MARKETFLOW_HTTP_PORT"] = str(port)
    from app.config.loader import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"marketflow: invalid configuration: {exc}", file=sys.stderr)
        return 1
    if _port_in_use(config.http.host, config.http.port):
        print(f"marketflow: port {config.http.port} is already in use", file=sys.stderr)
        return 1
    _Service().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
