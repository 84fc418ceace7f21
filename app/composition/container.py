"""The wired process: every service, started and stopped as a whole, in order."""

import logging
from dataclasses import dataclass, field
from typing import Protocol

from gevent.lock import Semaphore
from prometheus_client import CollectorRegistry

from app.adapters.http.access import AccessPolicy
from app.application.candle_queries import CandleQueries
from app.application.feed_ownership import FeedOwnership
from app.application.health import HealthService
from app.application.history_upkeep import HistoryUpkeep
from app.application.modes import ModeService
from app.application.pair_catalogue import PairCatalogue
from app.application.pipeline import Pipeline
from app.application.price_queries import PriceQueries
from app.application.price_stream import PriceStream
from app.application.process_reporter import ProcessReporter
from app.application.proxy_service import ProxyService
from app.application.shared_control import SharedControl
from app.application.stream_relay import StreamRelay
from app.config.schema import Config
from app.domain.market import Market

log = logging.getLogger(__name__)


class Closable(Protocol):
    def close(self) -> None: ...


@dataclass
class Container:
    config: Config
    market: Market
    pipeline: Pipeline
    modes: ModeService
    queries: PriceQueries
    candles: CandleQueries
    catalogue: PairCatalogue
    reporter: ProcessReporter
    health: HealthService
    proxy: ProxyService
    stream: PriceStream
    metrics: CollectorRegistry
    # Names this process (``host:pid``), as its HTTP request metrics are labelled.
    process: str
    access: AccessPolicy
    feeds: FeedOwnership
    control: SharedControl
    relay: StreamRelay
    history: HistoryUpkeep
    # What the process opened and must close last (the spool, the PostgreSQL pool).
    resources: list[Closable]
    started: bool = False
    _stopping: Semaphore = field(default_factory=Semaphore)

    def start(self) -> None:
        """Start the pipeline and the current mode's sources (server process only)."""
        if self.started:
            return
        self.started = True
        self.pipeline.start()
        self.control.restore()
        self.modes.start()
        self.feeds.start()
        self.control.start()
        self.relay.start()
        self.catalogue.start()
        self.proxy.start()
        self.history.start()
        log.info("pipeline started", extra={"mode": self.modes.mode})
        log.info(self.access.rule)

    def stop(self) -> None:
        """Stop sources, drain queues, flush every minute, close connections.

        Idempotent, and a second caller waits for the first one's drain to finish
        (SIGTERM starts it; ``worker_exit`` must not let the process end before it).
        """
        with self._stopping:
            self._stop()

    def _stop(self) -> None:
        if not self.started:
            return
        self.started = False
        self.history.stop()
        self.control.stop()
        self.relay.stop()
        self.catalogue.stop()
        self.stream.close_all()
        self.proxy.stop()
        self.feeds.stop_taking()
        self.pipeline.stop(timeout=max(1.0, self.config.http.graceful_timeout - 5))
        self.feeds.stop()  # leases handed back only now: a successor's replay finds every tick in the cache
        self.modes.stop()
        for resource in self.resources:
            resource.close()
        log.info("pipeline stopped")
