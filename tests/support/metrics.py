"""Scraping ``/metrics`` the way Prometheus does, into samples keyed by name and labels."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.support.service import Service

Samples = dict[tuple[str, frozenset], float]


def scrape(service: Service) -> Samples:
    with urllib.request.urlopen(f"{service.base}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
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
