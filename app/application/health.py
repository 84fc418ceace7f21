"""What /health reports: overall state, dependencies, every feed and who reads it, every process.

Each process puts its own report (``ProcessReport``) in its heartbeat
(``ProcessRegistry``), so every worker of every host answers alike: feeds
read elsewhere are shown as their owner last reported them, this process's
own part as of now.
"""

from collections.abc import Mapping
from typing import Protocol

from app.application.modes import ModeService
from app.application.ports.coordination import ProcessRegistry
from app.application.ports.storage import Pingable, StorageUnavailable
from app.application.process_report import ProcessReport, SourceReport
from app.application.process_reporter import ProcessReporter
from app.application.report_codec import to_json
from app.domain.feed_snapshot import CONNECTED
from app.domain.secrets import Scrub, mask_secrets
from app.domain.time_grid import MS_PER_SECOND


def _probe(dependency: Pingable, scrub: Scrub) -> dict[str, object]:
    try:
        return {"status": "up", "latency_ms": round(dependency.ping() * MS_PER_SECOND, 3)}
    except StorageUnavailable as exc:
        return {"status": "down", "error": scrub(str(exc))}


def _scrubbed(source: dict[str, object], scrub: Scrub) -> dict[str, object]:
    """A feed's errors are a driver's or an exchange's own words: they may quote what we were told."""
    for key in ("last_error", "last_exchange_error"):
        if isinstance(source.get(key), str):
            source[key] = scrub(source[key])
    return source


class HistoryStatus(Protocol):
    def status(self) -> dict[str, object]:
        """Per tier of stored history, the days kept and the oldest instant kept."""
        ...


class HealthService:
    """``down`` when the pipeline is not running (nothing new can be answered); ``degraded`` when a
    dependency (``dependencies``: by the name /health gives it) is unreachable or a feed is not connected
    (or read by nobody). ``scrub`` hides every secret from the error texts it shows (a ``SecretScrubber``)."""

    def __init__(
        self,
        reporter: ProcessReporter,
        registry: ProcessRegistry,
        modes: ModeService,
        dependencies: Mapping[str, Pingable],
        scrub: Scrub = mask_secrets,
        history: HistoryStatus | None = None,
    ) -> None:
        self._reporter = reporter
        self._registry = registry
        self._modes = modes
        self._dependencies = dependencies
        self._scrub = scrub
        self._history = history

    def processes(self) -> list[ProcessReport]:
        """Every process sharing the feeds, by id: this one as of now, the others as of their last heartbeat
        (only this one while Redis is down)."""
        return self._with_others(self._reporter.report())

    def _with_others(self, own: ProcessReport) -> list[ProcessReport]:
        try:
            reported = self._registry.processes()
        except StorageUnavailable:
            reported = []
        return sorted([*(p for p in reported if p.id != own.id), own], key=lambda p: p.id)

    def report(self) -> dict[str, object]:
        probes = {name: _probe(dependency, self._scrub) for name, dependency in self._dependencies.items()}
        # This process's own part after the probes, fresh rather than as of its last heartbeat.
        own = self._reporter.report()
        processes = self._with_others(own)
        owners = {source.name: (source, process.id) for process in processes for source in process.sources}
        sources = []
        for name in self._modes.feeds():
            source, owner = owners.get(name, (SourceReport(name=name), None))
            sources.append(_scrubbed({**to_json(source), "owner": owner}, self._scrub))
        if not own.pipeline.running:
            overall = "down"
        elif any(probe["status"] != "up" for probe in probes.values()) or any(
            source["state"] != CONNECTED for source in sources
        ):
            overall = "degraded"
        else:
            overall = "ok"
        return {
            "status": overall,
            "mode": self._modes.mode,
            "process": own.id,
            **probes,
            "sources": sources,
            "processes": [
                {
                    "id": p.id,
                    "feeds": list(p.feeds),
                    "pipeline": to_json(p.pipeline),
                    "websocket_clients": p.websocket_clients,
                }
                for p in processes
            ],
            "pipeline": to_json(own.pipeline),
            "aggregator": to_json(own.aggregator),
            **({"history": self._history.status()} if self._history else {}),
        }
