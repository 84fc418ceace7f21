import gevent
import pytest

from app.adapters.breaker import Breaker
from app.application.ports.storage import StorageUnavailable


def fail() -> None:
    raise OSError("refused")


def test_fails_fast_after_a_failure_then_probes_once() -> None:
    breaker = Breaker("redis", retry_after=0.05, errors=(OSError,))
    calls = []
    with pytest.raises(StorageUnavailable, match="redis unavailable: OSError: refused"):
        breaker.call(fail)
    with pytest.raises(StorageUnavailable):
        breaker.call(lambda: calls.append("skipped"))
    assert calls == []
    gevent.sleep(0.06)

    def slow_probe() -> str:
        gevent.sleep(0.05)
        return "up"

    probe = gevent.spawn(breaker.call, slow_probe)
    gevent.sleep(0.01)
    with pytest.raises(StorageUnavailable):  # the probe is in flight: others still fail fast
        breaker.call(lambda: calls.append("during probe"))
    assert probe.get() == "up"
    assert breaker.call(lambda: "closed again") == "closed again"
    assert calls == []
