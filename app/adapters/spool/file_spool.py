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
the store's error, so one bad batch never blocks the ones after it. It is
bounded like the spool: past ``max_bytes`` it is rotated to
``<spool>.dead.1``, replacing the one before, so what is set aside takes at
most twice the bound, the newest kept.

Each process spools to a file of its own beside ``spool_path``
(``minutes.<run>.jsonl``), held with an exclusive ``flock`` while it runs
(taken before the file gets that name, so no process starting at the same
moment takes it for an orphan).
Several workers of one host never share a file, and a file whose lock is
free belongs to a process that is gone: the first process to open its
spool adopts such orphans (their pending batches join its own, with their
own seqs and fencing tokens, and the orphan is removed). So a crashed
worker's batches are written by the next process of that host; the store's
fence refuses the rows of feeds another process has taken since (that
process replayed those ticks from the cache instead).
"""

import fcntl
import logging
import operator
import os
from dataclasses import fields
from pathlib import Path
from typing import BinaryIO

import orjson

from app.domain.minutes import MinuteBatch, MinuteRow

log = logging.getLogger(__name__)


# A row's fields in order, read in one C call: ``astuple`` copies deeply and cost a checkpoint of thousands of
# rows a tenth of a second of held loop.
_ROW_FIELDS = operator.attrgetter(*(f.name for f in fields(MinuteRow)))


def _encode(batch: MinuteBatch) -> bytes:
    rows = [_ROW_FIELDS(row) for row in batch.rows]
    return orjson.dumps({"batch": batch.batch_id, "rows": rows, "seq": batch.seq, "fences": batch.fences}) + b"\n"


def _decode(entry: dict) -> MinuteBatch:
    rows = tuple(MinuteRow(*row) for row in entry["rows"])
    return MinuteBatch(entry["batch"], rows, int(entry["seq"]), {str(k): int(v) for k, v in entry["fences"].items()})


def _load(path: Path) -> dict[str, MinuteBatch]:
    """The pending batches of a spool file: every batch line without a later ack."""
    pending: dict[str, MinuteBatch] = {}
    for line in path.read_bytes().splitlines():
        try:
            entry = orjson.loads(line)
            if "ack" in entry:
                pending.pop(entry["ack"], None)
            elif "batch" in entry:
                batch = _decode(entry)
                pending[batch.batch_id] = batch
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("spool: skipped a damaged line", extra={"path": str(path)})
    return pending


def _locked(file: BinaryIO, path: Path) -> bool:
    """Take the file's exclusive lock without waiting; False while another process holds it, or once
    ``path`` no longer names it (another process adopted and removed it between our open and our lock)."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    try:
        return os.stat(path).st_ino == os.fstat(file.fileno()).st_ino
    except FileNotFoundError:
        return False


class FileSpool:
    """Opens its file on first use, so building the app touches no disk."""

    def __init__(self, base: Path, max_bytes: int, run: str) -> None:
        self._base = base
        self.path = base.with_name(f"{base.stem}.{run}{base.suffix}")
        self._max_bytes = max_bytes
        self.dropped = 0
        self.set_aside_count = 0
        self.dead_path = base.with_name(base.name + ".dead")
        self._pending: dict[str, MinuteBatch] = {}
        self._file: BinaryIO | None = None

    def _opened(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._open_locked()
            self._adopt_orphans()
        return self._file

    def _open_locked(self) -> BinaryIO:
        """This process's file, locked before it takes its name: between a plain open and the lock, another
        process starting at the same moment would take it for the spool of a process that is gone."""
        existing = self.path.exists()  # reopened after ``close``: ours already
        name = self.path if existing else self.path.with_name(self.path.name + ".new")
        file = name.open("ab")
        if not _locked(file, name):
            file.close()
            raise RuntimeError(f"spool {self.path} is held by another process")
        if not existing:
            os.replace(name, self.path)
        return file

    def _adopt_orphans(self) -> None:
        """Take over the batches of spool files whose process is gone (their lock is free)."""
        pattern = f"{self._base.stem}*{self._base.suffix}"
        for orphan in sorted(self._base.parent.glob(pattern)):
            if orphan == self.path:
                continue
            try:
                file = orphan.open("rb")
            except FileNotFoundError:  # adopted by another process just now
                continue
            with file:
                if not _locked(file, orphan):
                    continue  # a live process's spool, or one adopted meanwhile
                batches = _load(orphan)
                for batch in batches.values():
                    if batch.batch_id not in self._pending:
                        self._pending[batch.batch_id] = batch
                        self._write(_encode(batch), durable=False)
                if batches:
                    self._write(b"", durable=True)
                    log.info("adopted the spool of a process that is gone", extra={"batches": len(batches)})
                orphan.unlink()

    def pending(self) -> list[MinuteBatch]:
        self._opened()
        return list(self._pending.values())

    def append(self, batch: MinuteBatch) -> None:
        line = _encode(batch)
        if self._opened().tell() + len(line) > self._max_bytes:
            self._rewrite(reserve=len(line))
        self._pending[batch.batch_id] = batch
        self._write(line, durable=True)

    def ack(self, batch_id: str) -> None:
        file = self._opened()
        if self._pending.pop(batch_id, None) is None:
            return
        if self._pending:
            self._write(orjson.dumps({"ack": batch_id}) + b"\n", durable=False)
        else:
            file.truncate(0)
            file.seek(0)

    def set_aside(self, batch: MinuteBatch, reason: str) -> None:
        """Appended to the dead-letter file; one that would outgrow the spool's bound first becomes
        ``<spool>.dead.1`` (replacing the one before), so the two stay within twice the bound."""
        entry = orjson.loads(_encode(batch))
        line = orjson.dumps({**entry, "error": reason}) + b"\n"
        try:
            full = self.dead_path.stat().st_size + len(line) > self._max_bytes
        except FileNotFoundError:
            full = False
        if full:
            os.replace(self.dead_path, self.dead_path.with_name(self.dead_path.name + ".1"))
            log.warning("dead-letter file rotated", extra={"path": str(self.dead_path)})
        with self.dead_path.open("ab") as dead:
            dead.write(line)
            dead.flush()
            os.fsync(dead.fileno())
        self.set_aside_count += 1
        self.ack(batch.batch_id)

    def close(self) -> None:
        """Let the file go (and its lock): what a process that ends does, so another may adopt it."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, data: bytes, durable: bool) -> None:
        file = self._opened()
        file.write(data)
        file.flush()
        if durable:
            os.fsync(file.fileno())

    def _rewrite(self, reserve: int) -> None:
        """Keep only pending batches; drop the oldest while they alone exceed the bound."""
        lines = [_encode(batch) for batch in self._pending.values()]
        while lines and sum(map(len, lines)) + reserve > self._max_bytes:
            lines.pop(0)
            lost = next(iter(self._pending))
            self._pending.pop(lost)
            self.dropped += 1
            log.error("spool full: dropped the oldest minute batch", extra={"batch": lost})
        temporary = self.path.with_name(self.path.name + ".tmp")
        out = temporary.open("wb")
        _locked(out, temporary)  # held on the new file before it takes the name, so no other process adopts it
        out.write(b"".join(lines))
        out.flush()
        os.fsync(out.fileno())
        os.replace(temporary, self.path)
        self._opened().close()
        self._file = out
