"""The pipeline's parts, built and connected: sources -> ingest queue -> decode workers -> results queue ->
collector -> cache queue -> cache writer, and the minute cadence beside them (``app/application/pipeline.py``
says what each part does)."""

from dataclasses import dataclass

from gevent.queue import Queue

from app.application.aggregator import MinuteAggregator
from app.application.cache_writer import CacheWriter
from app.application.ingestion import Ingestion, IngestSettings
from app.application.minute_cadence import MinuteCadence
from app.application.pipeline import Pipeline
from app.application.pipeline_stats import PipelineStats
from app.application.ports.storage import TickCache
from app.application.recent_window import RecentWindow
from app.application.tick_collector import TickCollector


@dataclass(frozen=True)
class PipelineSettings:
    workers: int
    ingest_queue_size: int
    ingest_put_timeout: float
    result_queue_size: int
    cache_batch_size: int
    cache_batch_interval: float
    cache_queue_size: int
    aggregate_interval: float
    checkpoint_interval: float
    max_price: float


def build_pipeline(
    settings: PipelineSettings,
    cache: TickCache,
    window: RecentWindow,
    aggregator: MinuteAggregator,
) -> Pipeline:
    stats = PipelineStats()
    results: Queue = Queue(settings.result_queue_size)
    cache_queue: Queue = Queue(settings.cache_queue_size)
    writer = CacheWriter(cache, window, cache_queue, settings.cache_batch_size, stats)
    ingest = IngestSettings(
        settings.workers, settings.ingest_queue_size, settings.ingest_put_timeout, settings.max_price
    )
    # Ticks carry the aggregator's lease of their feed; the writer marks each feed before its first read.
    ingestion = Ingestion(ingest, results, stats, aggregator, writer)
    collector = TickCollector(
        results, cache_queue, window, aggregator, settings.cache_batch_size, settings.cache_batch_interval
    )
    cadence = MinuteCadence(aggregator, cache, settings.aggregate_interval, settings.checkpoint_interval)
    return Pipeline(ingestion, results, collector, cache_queue, writer, cadence, stats)
