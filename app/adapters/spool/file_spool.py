"""The ``BatchSpool`` port as an append-only JSON-lines file.

Each sealed batch is appended and fsync'ed before ``append`` returns; an
acknowledgement is appended (without fsync: a lost ack only means the batch
is written again, which the store ignores by batch id). The file is emptied
whenever nothing is pending and rewritten with only the pending batches when
it outgrows its bound; if the pending batches alone exceed it, the oldest
are dropped, counted and logged. A half-written last line (a crash mid-write)
is ignored on load.

A batch the store refuses for what it holds (not for being down) is moved
to a dead-letter file beside the spool (``<spool>.dead``), fsync'ed, with
the store's error, so one bad batch never blocks the ones after it and
nothing is thrown away.

Each batch line carries its ``SealMark``, so the mark is on disk exactly
when its batch is. Emptying or rewriting the file writes the newest mark as
a line of its own, so a restart finds it even when nothing is pending.
"""

import logging
import os
from dataclasses import astuple
from pathlib import Path
from typing import BinaryIO

import orjson

from app.application.ports import MinuteBatch, MinuteRow, SealMark

log = logging.getLogger(__name__)


def _encode(batch: MinuteBatch) -> bytes:
    rows = [list(astuple(row)) for row in batch.rows]
    mark = [batch.mark.run, batch.mark.seq]
    return orjson.dumps({"batch": batch.batch_id, "rows": rows, "mark": mark}) + b"\n"


def _decode(entry: dict) -> MinuteBatch:
    return MinuteBatch(entry["batch"], tuple(MinuteRow(*row) for row in entry["rows"]), SealMark(*entry["mark"]))


def _encode_mark(mark: SealMark | None) -> bytes:
    return orjson.dumps({"mark": [mark.run, mark.seq]}) + b"\n" if mark else b""


class FileSpool:
    """Opens its file on first use, so building the app touches no disk."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self.dropped = 0
        self.set_aside_count = 0
        self.dead_path = path.with_name(path.name + ".dead")
        self._mark: SealMark | None = None
        self._pending: dict[str, MinuteBatch] = {}
        self._file: BinaryIO | None = None

    def _opened(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._pending = self._load()
            self._file = self.path.open("ab")
            if self._pending:
                log.info("spool has batches from before", extra={"batches": len(self._pending), "path": str(self.path)})
        return self._file

    @property
    def mark(self) -> SealMark | None:
        self._opened()
        return self._mark

    def _load(self) -> dict[str, MinuteBatch]:
        pending: dict[str, MinuteBatch] = {}
        if not self.path.exists():
            return pending
        for line in self.path.read_bytes().splitlines():
            try:
                entry = orjson.loads(line)
                if "ack" in entry:
                    pending.pop(entry["ack"], None)
                    continue
                mark = SealMark(*entry["mark"])
                if "batch" in entry:
                    batch = _decode(entry)
                    pending[batch.batch_id] = batch
                self._mark = mark
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("spool: skipped a damaged line", extra={"path": str(self.path)})
        return pending

    def pending(self) -> list[MinuteBatch]:
        self._opened()
        return list(self._pending.values())

    def append(self, batch: MinuteBatch) -> None:
        line = _encode(batch)
        if self._opened().tell() + len(line) > self._max_bytes:
            self._rewrite(reserve=len(line))
        self._pending[batch.batch_id] = batch
        self._mark = batch.mark
        self._write(line, durable=True)

    def keep_mark(self, mark: SealMark) -> None:
        self._opened()
        self._mark = mark
        self._write(_encode_mark(mark), durable=True)

    def ack(self, batch_id: str) -> None:
        file = self._opened()
        if self._pending.pop(batch_id, None) is None:
            return
        if self._pending:
            self._write(orjson.dumps({"ack": batch_id}) + b"\n", durable=False)
        else:
            file.truncate(0)
            file.seek(0)
            self._write(_encode_mark(self._mark), durable=False)

    def set_aside(self, batch: MinuteBatch, reason: str) -> None:
        entry = orjson.loads(_encode(batch))
        with self.dead_path.open("ab") as dead:
            dead.write(orjson.dumps({**entry, "error": reason}) + b"\n")
            dead.flush()
            os.fsync(dead.fileno())
        self.set_aside_count += 1
        self.ack(batch.batch_id)

    def _write(self, data: bytes, durable: bool) -> None:
        file = self._opened()
        file.write(data)
        file.flush()
        if durable:
            os.fsync(file.fileno())

    def _rewrite(self, reserve: int) -> None:
        """Keep only pending batches; drop the oldest while they alone exceed the bound."""
        lines = [_encode(batch) for batch in self._pending.values()]
        mark = _encode_mark(self._mark)
        while lines and len(mark) + sum(map(len, lines)) + reserve > self._max_bytes:
            lines.pop(0)
            lost = next(iter(self._pending))
            self._pending.pop(lost)
            self.dropped += 1
            log.error("spool full: dropped the oldest minute batch", extra={"batch": lost})
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("wb") as out:
            out.write(mark + b"".join(lines))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        self._opened().close()
        self._file = self.path.open("ab")
