"""The spool on a real file: durability, acknowledgements, damage and its bound."""

from pathlib import Path

from app.adapters.spool.file_spool import FileSpool
from app.application.ports import MinuteBatch, MinuteRow, SealMark

M = 1_763_712_000_000


def batch(n: int) -> MinuteBatch:
    start = M + n * 60_000
    row = MinuteRow("ex1", "BTCUSDT", start, n + 1, 0.1 + 0.2, 1e-8, 96123.45, 5.0, start + 7, 6.0, start + 9, 0.3, 5.5)
    return MinuteBatch(f"b{n}", (row,), SealMark("run-a", 10 * n))


def test_a_batch_spooled_before_open_and_close_were_kept_loads_without_them(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    path.write_bytes(b'{"batch":"old","rows":[["ex1","BTCUSDT",60000,2,1.5,1.0,2.0]],"mark":["run-a",3]}\n')
    (old,) = FileSpool(path, 1 << 20).pending()
    assert old.rows == (MinuteRow("ex1", "BTCUSDT", 60_000, 2, 1.5, 1.0, 2.0),)
    assert (old.rows[0].open, old.rows[0].volume) == (None, None)


def test_pending_batches_survive_a_restart_exactly(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    spool = FileSpool(path, 1 << 20)
    for n in range(3):
        spool.append(batch(n))
    spool.ack("b1")
    reloaded = FileSpool(path, 1 << 20)
    assert reloaded.pending() == [batch(0), batch(2)]


def test_the_file_is_emptied_when_nothing_is_pending_but_keeps_the_mark(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    spool = FileSpool(path, 1 << 20)
    assert spool.mark is None
    spool.append(batch(0))
    spool.append(batch(1))
    spool.ack("b0")
    spool.ack("b1")
    spool.ack("b1")  # a repeated ack is harmless
    assert path.read_bytes() == b'{"mark":["run-a",10]}\n'
    reloaded = FileSpool(path, 1 << 20)
    assert (reloaded.pending(), reloaded.mark) == ([], SealMark("run-a", 10))
    reloaded.append(batch(2))
    assert FileSpool(path, 1 << 20).pending() == [batch(2)]
    assert FileSpool(path, 1 << 20).mark == SealMark("run-a", 20)


def test_a_half_written_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    FileSpool(path, 1 << 20).append(batch(0))
    with path.open("ab") as file:
        file.write(b'{"batch":"b1","rows":[["ex')
    assert FileSpool(path, 1 << 20).pending() == [batch(0)]


def test_the_bound_drops_the_oldest_and_counts_it(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    size = 140  # one encoded batch is a little over 120 bytes
    spool = FileSpool(path, 3 * size)
    for n in range(6):
        spool.append(batch(n))
    assert spool.dropped > 0
    kept = [b.batch_id for b in spool.pending()]
    assert kept == [f"b{n}" for n in range(6 - len(kept), 6)]
    assert path.stat().st_size <= 3 * size
    assert FileSpool(path, 3 * size).pending() == spool.pending()
    assert FileSpool(path, 3 * size).mark == SealMark("run-a", 50)  # the newest mark outlives every rewrite


def test_a_line_of_the_wrong_shape_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    path.write_bytes(b'{"batch":"old","rows":[]}\n[1,2]\n{"mark":["r",1,2,3]}\n')
    FileSpool(path, 1 << 20).append(batch(0))
    assert FileSpool(path, 1 << 20).pending() == [batch(0)]


def test_nothing_touches_the_disk_before_first_use(tmp_path: Path) -> None:
    path = tmp_path / "var" / "spool.jsonl"
    spool = FileSpool(path, 1 << 20)  # what building the app does
    assert not path.parent.exists()
    assert spool.pending() == []
    assert path.exists()
