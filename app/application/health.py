"""What /health reports: overall state, dependencies, every feed and who reads it, every process.

Each process puts its own summary (its feeds' states, its pipeline) in its
heartbeat (``ProcessRegistry``), so every worker of every host answers
alike: feeds read elsewhere are shown as their owner last reported them.
"""

import time
from collections.abc import Callable
from dataclasses import asdict

from app.application.aggregator import MinuteAggregator
from app.application.modes import ModeService
from app.application.pipeline import Pipeline, PipelineSnapshot
from app.application.ports.coordination import ProcessRegistry
from app.application.ports.storage import Pingable, StorageUnavailable
from app.application.source_status import SourceSnapshot, SourceStatus
from app.application.trade_gaps import TradeGaps, gap_view
from app.domain.secrets import mask_secrets


def process_name(host: str, pid: int) -> str:
    """How a process is named in /health, the heartbeats and every metric."""
    return f"{host}:{pid}"


def _probe(dependency: Pingable) -> dict[str, object]:
    try:
        return {"status": "up", "latency_ms": round(dependency.ping() * 1000, 3)}
    except StorageUnavailable as exc:
        return {"status": "down", "error": mask_secrets(str(exc))}


def _source_view(source: SourceSnapshot, now: float, gaps: TradeGaps) -> dict[str, object]:
    view: dict[str, object] = {
        "name": source.name,
        "state": source.state,
        "connected_since": source.connected_since,
        "last_message_age_s": None if source.last_message_at is None else round(now - source.last_message_at, 3),
        "messages": source.messages,
        "ticks": source.ticks,
        "reconnects": source.reconnects,
        "decode_errors": dict(source.decode_errors),
        "duplicates": source.duplicates,
        "last_error": source.last_error,
        "last_exchange_error": source.last_exchange_error,
    }
    if source.live:
        view.update(
            gaps_count=gaps.counts.get(source.name, 0),
            gaps=[gap_view(gap) for gap in gaps.of(source.name)],
            recovered=source.recovered,
            silent_symbols=list(source.silent_symbols),
            resubscribes=source.resubscribes,
            clock_skew=dict(source.clock_skew or {}),
        )
    return view


def _pipeline_view(pipeline: PipelineSnapshot) -> dict[str, object]:
    return {
        "running": pipeline.running,
        "queues": pipeline.queues,
        "received": pipeline.received,
        "ticks": pipeline.ticks,
        "cached": pipeline.cached,
        "rejected": pipeline.rejected,
        "drops": {"ingest": pipeline.ingest_dropped, "cache_write_failed": pipeline.cache_failed},
        "cache_consistent": pipeline.cache_consistent,
        "cache_restored": pipeline.cache_restored,
        "cache_lost": pipeline.cache_lost,
        "tick_to_cache_latency": pipeline.tick_to_cache_latency,
    }


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
        clients: Callable[[], int],
        proxy: Callable[[list[str]], dict[str, object]],
        host: str,
        pid: int,
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
        self._clients = clients
        self._proxy = proxy
        self._clock = clock
        self._host, self._pid = host, pid
        self.process_id = process_name(host, pid)

    def summary(self) -> dict[str, object]:
        """What this process says about itself in its heartbeat: its feeds, its pipeline, its minutes, its
        stream clients and its proxy routes, each read once."""
        return self._summary(self._pipeline.snapshot())

    def _summary(self, pipeline: PipelineSnapshot) -> dict[str, object]:
        now = self._clock()
        held = self._held()
        return {
            "host": self._host,
            "pid": self._pid,
            "feeds": held,
            "sources": [
                _source_view(pipeline.sources.get(name) or SourceStatus(name).snapshot(), now, self._gaps)
                for name in held
            ],
            "pipeline": _pipeline_view(pipeline),
            "aggregator": asdict(self._aggregator.snapshot()),
            "websocket_clients": self._clients(),
            "proxy": self._proxy(held),
        }

    def processes(self) -> list[dict[str, object]]:
        """Every process sharing the feeds, by id: this one as of now, the others as of their last heartbeat
        (only this one while Redis is down)."""
        return self._with_others({"id": self.process_id, **self.summary()})

    def _with_others(self, own: dict[str, object]) -> list[dict[str, object]]:
        try:
            reported = self._registry.processes()
        except StorageUnavailable:
            reported = []
        others = [p for p in reported if p.get("id") != self.process_id]
        return sorted([*others, own], key=lambda p: str(p["id"]))

    def report(self) -> dict[str, object]:
        redis, postgres = _probe(self._cache), _probe(self._store)
        # This process's own part fresh, rather than as of its last heartbeat (or missing while Redis is down).
        pipeline = self._pipeline.snapshot()
        own = {"id": self.process_id, **self._summary(pipeline)}
        processes = self._with_others(own)
        reported = {}
        for process in processes:
            views = process.get("sources")
            for view in views if isinstance(views, list) else []:
                if isinstance(view, dict):
                    reported[view.get("name")] = {**view, "owner": process["id"]}
        now = self._clock()
        sources = [
            reported.get(name) or {**_source_view(SourceStatus(name).snapshot(), now, self._gaps), "owner": None}
            for name in self._modes.exchanges()
        ]
        if not pipeline.running:
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
            "pipeline": own["pipeline"],
            "aggregator": own["aggregator"],
        }
