"""Scraping ``/metrics`` the way Prometheus does, into samples keyed by name and labels."""

import shutil
import subprocess
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.support.service import Service

Samples = dict[tuple[str, frozenset], float]


def exposition(service: Service) -> str:
    """``/metrics`` as Prometheus reads it."""
    with urllib.request.urlopen(f"{service.base}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


def promtool_findings(text: str) -> str:
    """What ``promtool check metrics`` says of this exposition ('' when it is clean)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: run `make test-servers` (Debian: prometheus)"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    return result.stdout + result.stderr + ("" if result.returncode == 0 else f"exit {result.returncode}")


def scrape(service: Service) -> Samples:
    text = exposition(service)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def summed(samples: Samples, name: str, by: str) -> dict[str, float]:
    """``sum by (by) (name)``: what a dashboard over several processes shows."""
    totals: dict[str, float] = {}
    for (sample, labels), value in samples.items():
        if sample == name:
            key = dict(labels)[by]
            totals[key] = totals.get(key, 0.0) + value
    return totals
