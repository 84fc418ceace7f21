"""The spool on real files: durability, acknowledgements, damage, its bound, and orphans of dead processes."""

import threading
from pathlib import Path

import orjson

from app.adapters.spool.file_spool import FileSpool
from app.domain.minutes import MinuteBatch, MinuteRow

M = 1_763_712_000_000


def batch(n: int) -> MinuteBatch:
    start = M + n * 60_000
    row = MinuteRow("ex1", "BTCUSDT", start, n + 1, 0.1 + 0.2, 1e-8, 96123.45, 5.0, start + 7, 6.0, start + 9, 0.3, 5.5)
    return MinuteBatch(f"b{n}", (row,), 10 * n, {"ex1": 1_700_000_000_000_000 + n})


def test_a_batch_spooled_before_open_and_close_were_kept_loads_without_them(tmp_path: Path) -> None:
    base = tmp_path / "minutes.jsonl"
    orphan = tmp_path / "minutes.run-a.jsonl"
    orphan.write_bytes(b'{"batch":"old","rows":[["ex1","BTCUSDT",60000,2,1.5,1.0,2.0]],"seq":3,"fences":{"ex1":7}}\n')
    (old,) = FileSpool(base, 1 << 20, "run-b").pending()
    assert old.rows == (MinuteRow("ex1", "BTCUSDT", 60_000, 2, 1.5, 1.0, 2.0),)
    assert (old.rows[0].open, old.rows[0].volume, old.fences) == (None, None, {"ex1": 7})
    assert old.rows[0].feed == "ex1"  # spooled before shards: the exchange was the feed


def test_a_row_of_a_shard_keeps_its_feed_through_the_spool(tmp_path: Path) -> None:
    row = MinuteRow("ex1", "BTCUSDT", M, 1, 2.0, 2.0, 2.0, feed="ex1/3")
    spool = FileSpool(tmp_path / "minutes.jsonl", 1 << 20, "run-a")
    spool.append(MinuteBatch("s", (row,), 1, {"ex1/3": 9}))
    spool.close()
    assert FileSpool(tmp_path / "minutes.jsonl", 1 << 20, "run-b").pending() == [
        MinuteBatch("s", (row,), 1, {"ex1/3": 9})
    ]


def test_a_dead_process_pending_batches_are_adopted_exactly_once(tmp_path: Path) -> None:
    base = tmp_path / "minutes.jsonl"
    dead = FileSpool(base, 1 << 20, "run-a")
    for n in range(3):
        dead.append(batch(n))
    dead.ack("b1")
    dead.close()  # the process is gone: its lock with it
    successor = FileSpool(base, 1 << 20, "run-b")
    assert successor.pending() == [batch(0), batch(2)]  # seqs and fencing tokens kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minutes.run-b.jsonl"]
    successor.close()
    assert FileSpool(base, 1 << 20, "run-c").pending() == [batch(0), batch(2)]


def test_a_live_process_spool_is_left_alone(tmp_path: Path) -> None:
    base = tmp_path / "minutes.jsonl"
    live = FileSpool(base, 1 << 20, "run-a")
    live.append(batch(0))
    other = FileSpool(base, 1 << 20, "run-b")
    assert other.pending() == []
    assert live.pending() == [batch(0)]
    assert {p.name for p in tmp_path.iterdir()} == {"minutes.run-a.jsonl", "minutes.run-b.jsonl"}


def test_the_file_is_emptied_when_nothing_is_pending(tmp_path: Path) -> None:
    spool = FileSpool(tmp_path / "minutes.jsonl", 1 << 20, "run-a")
    spool.append(batch(0))
    spool.append(batch(1))
    spool.ack("b0")
    spool.ack("b1")
    spool.ack("b1")  # a repeated ack is harmless
    assert spool.path.read_bytes() == b""


def test_a_half_written_last_line_is_ignored(tmp_path: Path) -> None:
    base = tmp_path / "minutes.jsonl"
    dead = FileSpool(base, 1 << 20, "run-a")
    dead.append(batch(0))
    with dead.path.open("ab") as file:
        file.write(b'{"batch":"b1","rows":[["ex')
    dead.close()
    assert FileSpool(base, 1 << 20, "run-b").pending() == [batch(0)]


def test_the_bound_drops_the_oldest_and_counts_it(tmp_path: Path) -> None:
    base = tmp_path / "minutes.jsonl"
    size = 180  # one encoded batch is a little over 160 bytes
    spool = FileSpool(base, 3 * size, "run-a")
    for n in range(6):
        spool.append(batch(n))
    assert spool.dropped > 0
    kept = [b.batch_id for b in spool.pending()]
    assert kept == [f"b{n}" for n in range(6 - len(kept), 6)]
    assert spool.path.stat().st_size <= 3 * size
    pending = spool.pending()
    spool.close()
    assert FileSpool(base, 3 * size, "run-b").pending() == pending


def test_a_line_of_the_wrong_shape_is_skipped_not_fatal(tmp_path: Path) -> None:
    base = tmp_path / "minutes.jsonl"
    base.write_bytes(b'{"batch":"old","rows":[]}\n[1,2]\n{"mark":["r",1,2,3]}\n')  # an orphan of an old version
    spool = FileSpool(base, 1 << 20, "run-a")
    spool.append(batch(0))
    assert spool.pending() == [batch(0)]


def test_nothing_touches_the_disk_before_first_use(tmp_path: Path) -> None:
    base = tmp_path / "var" / "minutes.jsonl"
    spool = FileSpool(base, 1 << 20, "run-a")  # what building the app does
    assert not base.parent.exists()
    assert spool.pending() == []
    assert spool.path.exists()


def test_workers_starting_at_once_never_adopt_each_others_new_spools(tmp_path: Path) -> None:
    """Each opens its file and then locks it: another may find it in between, and must leave it alone."""
    for round_ in range(30):
        base = tmp_path / f"r{round_}" / "minutes.jsonl"
        base.parent.mkdir()
        spools = [FileSpool(base, 1 << 20, f"run-{n}") for n in range(6)]
        start = threading.Barrier(len(spools))

        workers = [threading.Thread(target=_spool_one, args=(s, n, start)) for n, s in enumerate(spools)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert sorted(p.name for p in base.parent.iterdir()) == sorted(s.path.name for s in spools)
        for spool in spools:
            spool.close()
        assert sorted(b.batch_id for b in FileSpool(base, 1 << 20, "next").pending()) == [f"b{n}" for n in range(6)]


def _spool_one(spool: FileSpool, n: int, start: threading.Barrier) -> None:
    start.wait()
    spool.append(batch(n))


def test_the_dead_letter_file_rotates_at_the_bound_keeping_the_newest(tmp_path: Path) -> None:
    spool = FileSpool(tmp_path / "minutes.jsonl", 600, "r")
    for n in range(12):
        spool.append(batch(n))
        spool.set_aside(batch(n), f"refused {n}")
    rotated = spool.dead_path.with_name("minutes.jsonl.dead.1")
    kept = [
        orjson.loads(line)["batch"] for path in (rotated, spool.dead_path) for line in path.read_bytes().splitlines()
    ]
    assert spool.dead_path.stat().st_size <= 600
    assert rotated.stat().st_size <= 600
    assert kept == ["b8", "b9", "b10", "b11"]  # the newest, in order: two per file
    assert spool.set_aside_count == 12
