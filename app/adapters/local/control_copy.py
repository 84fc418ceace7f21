"""The ``ControlCopy`` port: one JSON file, replaced atomically, readable by its owner only.

Owner only because the proxy settings in it may carry credentials. Every
worker of a host saves it at the same moment after a change, so each writes
a temporary file of its own before the rename.
"""

import contextlib
import logging
import os
import tempfile
from pathlib import Path

import orjson

log = logging.getLogger(__name__)


class FileControlCopy:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, object] | None:
        try:
            state = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("local control copy unreadable: ignored", extra={"path": str(self.path), "error": str(exc)})
            return None
        return state if isinstance(state, dict) else None

    def save(self, state: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f"{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as out:  # mkstemp makes it 0600
                out.write(orjson.dumps(state))
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):  # the error that matters is the one being raised
                os.unlink(temporary)
            raise
