"""The service's entry points run in the test's own process: the ``marketflow`` script's ``main`` and
``gunicorn.conf.py`` as gunicorn loads it, each with the configuration file a test names.

What they print and return is the whole of what a user sees of a refusal; tests/e2e runs the real
programs for one case of each."""

import os
import runpy
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from app.adapters.server.cli import main
from tests.support.service import REPO


class Exited(NamedTuple):
    code: int
    out: str
    err: str


class EntryPoints:
    """The entry points over a configuration file of the test's own, with no other ``MARKETFLOW_`` variable set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], workdir: Path) -> None:
        self._monkeypatch = monkeypatch
        self._capsys = capsys
        self.config_path = workdir / "marketflow.yaml"
        for var in [name for name in os.environ if name.startswith("MARKETFLOW_")]:
            monkeypatch.delenv(var)
        # main() hands --port to gunicorn's settings through the environment: recorded here to be put back.
        monkeypatch.setenv("MARKETFLOW_HTTP_PORT", "")
        monkeypatch.delenv("MARKETFLOW_HTTP_PORT")
        monkeypatch.setenv("MARKETFLOW_CONFIG", str(self.config_path))
        self.configure({})

    def configure(self, config: dict) -> None:
        self.config_path.write_text(yaml.safe_dump(config))

    def marketflow(self, *args: str) -> Exited:
        """``marketflow <args>``, for the cases that end before gunicorn starts."""
        self._capsys.readouterr()
        code = main(list(args))
        return Exited(code, *self._capsys.readouterr())

    def gunicorn(self) -> Exited:
        """``gunicorn -c gunicorn.conf.py``'s reading of its settings, for a configuration that stops it."""
        # Imported afresh, as a new gunicorn would: the settings module reads the configuration at import.
        self._monkeypatch.delitem(sys.modules, "app.adapters.server.gunicorn_settings", raising=False)
        self._capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            runpy.run_path(str(REPO / "gunicorn.conf.py"))
        return Exited(exited.value.code, *self._capsys.readouterr())
