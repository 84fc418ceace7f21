"""This host's copy of the control state, on a real disk, saved by several workers at once."""

import stat
import threading
from pathlib import Path

from app.adapters.local.control_copy import FileControlCopy


def test_workers_saving_at_once_never_fail_and_leave_one_whole_copy(tmp_path: Path) -> None:
    path = tmp_path / "spool" / "control.json"
    failures: list[OSError] = []

    def worker(n: int) -> None:
        copy = FileControlCopy(path)  # each worker process has its own
        for i in range(100):
            try:
                copy.save({"mode": "live", "proxy": {"worker": n, "save": i}})
            except OSError as exc:
                failures.append(exc)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert failures == []
    state = FileControlCopy(path).load()
    assert state is not None
    assert (state["mode"], state["proxy"]["save"]) == ("live", 99)  # one worker's last save, whole
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # proxy credentials: the owner's only
    assert sorted(p.name for p in path.parent.iterdir()) == ["control.json"]  # no temporary file left
