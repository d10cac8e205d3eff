"""Prometheus metrics of one service instance, in its own registry (several apps in one process,
as in tests, never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("bilingual_requests", "HTTP requests by endpoint, method and status code",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("bilingual_request_latency_seconds", "HTTP request latency by endpoint",
                                 ["endpoint"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.tokens = Counter("bilingual_tokens_translated", "Tokens through the model (source tokens read, "
                              "target tokens produced)", ["kind"], registry=self.registry)
        self.texts = Counter("bilingual_texts_translated", "Texts translated", registry=self.registry)
        self.abandoned = Counter("bilingual_requests_abandoned", "Requests dropped before translation because "
                                 "their client went away", registry=self.registry)
        self.batch_requests = Histogram("bilingual_batch_requests", "HTTP requests served by one model call",
                                        registry=self.registry, buckets=BATCH_BUCKETS)
        self.batch_texts = Histogram("bilingual_batch_texts", "Texts in one model call",
                                     registry=self.registry, buckets=BATCH_BUCKETS)

    def observe_batch(self, requests: int, texts: int) -> None:
        self.batch_requests.observe(requests)
        self.batch_texts.observe(texts)

    def render(self) -> bytes:
        return generate_latest(self.registry)
