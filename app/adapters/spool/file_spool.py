"""The ``BatchSpool`` port as an append-only JSON-lines file.

Each sealed batch is appended and fsync'ed before ``append`` returns; an
acknowledgement is appended (without fsync: a lost ack only means the batch
is written again, which the store ignores by batch id). The file is emptied
whenever nothing is pending and rewritten with only the pending batches when
it outgrows its bound; if the pending batches alone exceed it, the oldest
are dropped, counted and logged. A half-written last line (a crash mid-write)
is ignored on load.

Each batch line carries its ``SealMark``, so the mark is on disk exactly
when its batch is. Emptying or rewriting the file writes the newest mark as
a line of its own, so a restart finds it even when nothing is pending.
"""

import logging
import os
from pathlib import Path

import orjson

from app.application.ports import MinuteBatch, MinuteRow, SealMark

log = logging.getLogger(__name__)


def _encode(batch: MinuteBatch) -> bytes:
    rows = [[r.exchange, r.symbol, r.minute_ms, r.count, r.mean, r.low, r.high] for r in batch.rows]
    mark = [batch.mark.run, batch.mark.seq]
    return orjson.dumps({"batch": batch.batch_id, "rows": rows, "mark": mark}) + b"\n"


def _decode(entry: dict) -> MinuteBatch:
    return MinuteBatch(entry["batch"], tuple(MinuteRow(*row) for row in entry["rows"]), SealMark(*entry["mark"]))


def _encode_mark(mark: SealMark | None) -> bytes:
    return orjson.dumps({"mark": [mark.run, mark.seq]}) + b"\n" if mark else b""


class FileSpool:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self.dropped = 0
        self.mark: SealMark | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._pending = self._load()
        self._file = path.open("ab")
        if self._pending:
            log.info("spool has batches from before", extra={"batches": len(self._pending), "path": str(path)})

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
                self.mark = mark
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("spool: skipped a damaged line", extra={"path": str(self.path)})
        return pending

    def pending(self) -> list[MinuteBatch]:
        return list(self._pending.values())

    def append(self, batch: MinuteBatch) -> None:
        line = _encode(batch)
        if self._file.tell() + len(line) > self._max_bytes:
            self._rewrite(reserve=len(line))
        self._pending[batch.batch_id] = batch
        self.mark = batch.mark
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())

    def keep_mark(self, mark: SealMark) -> None:
        self.mark = mark
        self._file.write(_encode_mark(mark))
        self._file.flush()
        os.fsync(self._file.fileno())

    def ack(self, batch_id: str) -> None:
        if self._pending.pop(batch_id, None) is None:
            return
        if self._pending:
            self._file.write(orjson.dumps({"ack": batch_id}) + b"\n")
            self._file.flush()
        else:
            self._file.truncate(0)
            self._file.seek(0)
            self._file.write(_encode_mark(self.mark))
            self._file.flush()

    def _rewrite(self, reserve: int) -> None:
        """Keep only pending batches; drop the oldest while they alone exceed the bound."""
        lines = [_encode(batch) for batch in self._pending.values()]
        mark = _encode_mark(self.mark)
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
        self._file.close()
        self._file = self.path.open("ab")

    def close(self) -> None:
        self._file.close()
