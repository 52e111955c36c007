"""Prometheus metrics of one server: requests and latency per model, endpoint and status, batch
sizes per model, open sessions."""

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("zoo_requests", "Requests by model, endpoint and HTTP status.",
                                ["model", "endpoint", "status"], registry=self.registry)  # fmt: skip
        self.latency = Histogram("zoo_request_seconds", "Request latency in seconds.",
                                 ["model", "endpoint", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        self.batch = Histogram("zoo_batch_size", "Rows per model run (dynamic batching).", ["model"],
                               buckets=BATCH_BUCKETS, registry=self.registry)  # fmt: skip
        self.sessions = Gauge("zoo_open_sessions", "Open stateful sessions.", registry=self.registry)

    def observe(self, model: str, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(model, endpoint, str(status)).inc()
        self.latency.labels(model, endpoint, str(status)).observe(seconds)

    def text(self) -> bytes:
        return generate_latest(self.registry)
