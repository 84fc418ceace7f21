import pytest
from prometheus_client import CollectorRegistry

from app.adapters.metrics.instrumented import MeasuredCache, MeasuredStore, WriteMetrics
from app.application.ports.storage import StorageUnavailable
from app.domain.buckets import CacheBatch
from app.domain.minutes import MinuteBatch, MinuteRow
from app.domain.tick import Tick

TICKS = CacheBatch([Tick("ex1", "BTCUSDT", 1.0, 1), Tick("ex1", "BTCUSDT", 2.0, 2), Tick("ex2", "BTCUSDT", 3.0, 3)], [])
ROWS = MinuteBatch("b1", (MinuteRow("ex1", "BTCUSDT", 0, 1, 1.0, 1.0, 1.0),), 0)


class Inner:
    """A backend whose writes answer ``result``, or raise ``error`` once it is set."""

    def __init__(self, result: object) -> None:
        self.result = result
        self.error: Exception | None = None

    def write(self, batch: object) -> object:
        if self.error is not None:
            raise self.error
        return self.result


@pytest.mark.parametrize(
    ("measured", "backend", "batch", "items", "result"),
    [(MeasuredCache, "redis", TICKS, 3, True), (MeasuredStore, "postgres", ROWS, 1, ["ex2"])],
)
def test_every_write_is_sized_and_timed_by_outcome_and_passes_its_answer_or_error_on(
    measured: type, backend: str, batch: object, items: int, result: object
) -> None:
    registry = CollectorRegistry()
    inner = Inner(result)
    writer = measured(inner, WriteMetrics(registry, "host:7"))
    assert writer.write(batch) == result
    inner.error = StorageUnavailable("down")
    with pytest.raises(StorageUnavailable):
        writer.write(batch)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"process": "host:7", "backend": backend, **labels})

    assert (sample("marketflow_write_batch_size_count"), sample("marketflow_write_batch_size_sum")) == (2, 2 * items)
    assert sample("marketflow_write_seconds_count", outcome="ok") == 1
    assert sample("marketflow_write_seconds_count", outcome="failed") == 1
    assert 0 <= sample("marketflow_write_seconds_sum", outcome="ok") < 1
