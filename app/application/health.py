"""What /health reports: overall state, dependencies, every feed and who reads it, every process.

Each process puts its own summary (its feeds' states, its pipeline) in its
heartbeat (``ProcessRegistry``), so every worker of every host answers
alike: feeds read elsewhere are shown as their owner last reported them.
"""

import os
import socket
import time
from collections.abc import Callable
from typing import Protocol

from app.application.aggregator import MinuteAggregator
from app.application.modes import ModeService
from app.application.pipeline import Pipeline
from app.application.ports import ProcessRegistry, SourceStatus, StorageUnavailable
from app.application.trade_gaps import TradeGaps, gap_view
from app.domain.secrets import mask_secrets


class Pingable(Protocol):
    def ping(self) -> float: ...


def _probe(dependency: Pingable) -> dict[str, object]:
    try:
        return {"status": "up", "latency_ms": round(dependency.ping() * 1000, 3)}
    except StorageUnavailable as exc:
        return {"status": "down", "error": mask_secrets(str(exc))}


def _source_view(status: SourceStatus, now: float, gaps: TradeGaps) -> dict[str, object]:
    view: dict[str, object] = {
        "name": status.name,
        "state": status.state,
        "connected_since": status.connected_since,
        "last_message_age_s": None if status.last_message_at is None else round(now - status.last_message_at, 3),
        "messages": status.messages,
        "ticks": status.ticks,
        "reconnects": status.reconnects,
        "decode_errors": dict(status.decode_errors),
        "duplicates": status.duplicates,
        "last_error": status.last_error,
        "last_exchange_error": status.last_exchange_error,
    }
    if status.clock_skew is not None:  # a live exchange: ids, backfill, silence and skew apply
        view.update(
            gaps_count=gaps.counts.get(status.name, 0),
            gaps=[gap_view(gap) for gap in gaps.of(status.name)],
            recovered=status.recovered,
            silent_symbols=list(status.silent_symbols),
            resubscribes=status.resubscribes,
            clock_skew=status.clock_skew.summary(),
        )
    return view


class HealthService:
    """``down`` when the pipeline is not running (nothing new can be answered);
    ``degraded`` when a store is unreachable or a feed is not connected (or read by nobody)."""

    def __init__(
        self,
        pipeline: Pipeline,
        modes: ModeService,
        cache: Pingable,
        store: Pingable,
        aggregator: MinuteAggregator,
        registry: ProcessRegistry,
        held: Callable[[], list[str]],
        gaps: TradeGaps,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pipeline = pipeline
        self._modes = modes
        self._cache = cache
        self._store = store
        self._aggregator = aggregator
        self._registry = registry
        self._held = held
        self._gaps = gaps
        self._clock = clock
        self.process_id = f"{socket.gethostname()}:{os.getpid()}"

    def summary(self) -> dict[str, object]:
        """What this process says about itself in its heartbeat: its feeds and its pipeline."""
        now = self._clock()
        statuses = self._pipeline.statuses
        held = self._held()
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "feeds": held,
            "sources": [_source_view(statuses.get(name) or SourceStatus(name), now, self._gaps) for name in held],
            "pipeline": self._pipeline_view(),
        }

    def report(self) -> dict[str, object]:
        redis, postgres = _probe(self._cache), _probe(self._store)
        try:
            processes = self._registry.processes()
        except StorageUnavailable:
            processes = []
        # This process's own part fresh, rather than as of its last heartbeat (or missing while Redis is down).
        own = {"id": self.process_id, **self.summary()}
        others = [p for p in processes if p.get("id") != self.process_id]
        processes = sorted([*others, own], key=lambda p: str(p["id"]))
        reported = {}
        for process in processes:
            for view in process.get("sources") or []:
                if isinstance(view, dict):
                    reported[view.get("name")] = {**view, "owner": process["id"]}
        sources = [
            reported.get(name) or {**_source_view(SourceStatus(name), self._clock(), self._gaps), "owner": None}
            for name in self._modes.exchanges()
        ]
        if not self._pipeline.running:
            overall = "down"
        elif redis["status"] != "up" or postgres["status"] != "up" or any(s["state"] != "connected" for s in sources):
            overall = "degraded"
        else:
            overall = "ok"
        return {
            "status": overall,
            "mode": self._modes.mode,
            "process": self.process_id,
            "redis": redis,
            "postgres": postgres,
            "sources": sources,
            "processes": [
                {"id": p["id"], "feeds": p.get("feeds", []), "pipeline": p.get("pipeline")} for p in processes
            ],
            "pipeline": self._pipeline_view(),
            "aggregator": {
                "open_minutes": self._aggregator.open_buckets,
                "unsent_batches": self._aggregator.unsent_batches,
                "rows_written": self._aggregator.rows_written,
                "rows_fenced": self._aggregator.rows_fenced,
                "batches_dropped": self._aggregator.batches_dropped,
                "batches_set_aside": self._aggregator.batches_set_aside,
                "ticks_replayed": self._aggregator.ticks_replayed,
            },
        }

    def _pipeline_view(self) -> dict[str, object]:
        stats = self._pipeline.stats
        return {
            "running": self._pipeline.running,
            "queues": self._pipeline.queue_depths(),
            "received": stats.received,
            "ticks": stats.ticks,
            "cached": stats.cached,
            "rejected": stats.rejected,
            "drops": {"ingest": stats.ingest_dropped, "cache_write_failed": stats.cache_failed},
            "cache_consistent": self._pipeline.cache_consistent,
            "cache_restored": stats.cache_restored,
            "cache_lost": stats.cache_lost,
            "tick_to_cache_latency": stats.latency_summary(),
        }
