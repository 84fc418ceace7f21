"""The ``ControlCopy`` port: one JSON file, replaced atomically, readable by its owner only.

Owner only because the proxy settings in it may carry credentials.
"""

import logging
import os
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
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(state))
        os.replace(temporary, self.path)
