"""Reading ``/metrics`` as Prometheus does: prometheus-client's own text parser."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def scrape(base_url: str, **kwargs: object) -> list[Sample]:
    """Every sample ``GET /metrics`` shows, parsed (a parse error fails the test)."""
    response = httpx.get(base_url + "/metrics", timeout=10, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(
        sample.value
        for sample in samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def key_labels(samples: list[Sample]) -> set[str]:
    """The labels naming service keys in the request counter (a digest: ``key-`` and 8 hex digits)."""
    keys = {s.labels["key"] for s in samples if s.name == "deepseek_free_api_requests_total"}
    assert keys <= {"anonymous", "caller-token"} | {k for k in keys if re.fullmatch(r"key-[0-9a-f]{8}", k)}
    return {k for k in keys if k.startswith("key-")}
