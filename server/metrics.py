"""The node's Prometheus metrics: one definition of every name, on one registry.

Counters and histograms are moved where the thing happens, and only once per event, batch,
send or login — never once per connection inside the fan-out loop (the fan-out observes its
own duration once, after writing to everyone). What can be read from state that exists
anyway is read when Prometheus scrapes, not kept current on the hot path: the live
connections by kind (the hub's subscribers, counted at scrape time) and the push outbox
(two indexed aggregates over `push_deliveries`, server/api/metrics.py).

The registry is the process's own, not prometheus-client's global one, so nothing a library
registers there leaks into /metrics and the names below are all there is. Values are per
process: with several nodes, sum the counters and take the max of the outbox gauges (every
node reads the same shared outbox).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from protocol.vocabulary import DeviceKind

REGISTRY = CollectorRegistry(auto_describe=True)
# process_resident_memory_bytes, process_open_fds, …: read from /proc/self at scrape time
# (capacity: memory per connection; an alert on file descriptors running out).
ProcessCollector(registry=REGISTRY)

# What a live WebSocket connection is, for `pdv_connections{kind}`: a device's kind, or a
# person's browser (the dashboard or the PWA before enrollment) logged in with a session.
PERSON_CONNECTION = "person"
CONNECTION_KINDS = (*(kind.value for kind in DeviceKind), PERSON_CONNECTION)

# Seconds; the fan-out of one event to 10,000 loopback clients takes tens of milliseconds.
FAN_OUT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BUS_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

CONNECTIONS = Gauge(
    "pdv_connections",
    "Live WebSocket connections on this node, by node and kind (counted at scrape time).",
    ["node", "kind"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "pdv_events_fanned_out",
    "Alert events this node fanned out to its connections, by event.",
    ["event"],
    registry=REGISTRY,
)
FAN_OUT_SECONDS = Histogram(
    "pdv_fan_out_duration_seconds",
    "Time to write one event to every matching connection of this node.",
    buckets=FAN_OUT_BUCKETS,
    registry=REGISTRY,
)
ANSWERS = Counter(
    "pdv_answers_stored",
    "Receipts and acks committed by this node (WebSocket and HTTP), by kind: "
    "delivered, displayed, ack.",
    ["kind"],
    registry=REGISTRY,
)
PUSH_RESULTS = Counter(
    "pdv_push_deliveries",
    "Push sends answered, by provider (webpush, apns) and result "
    "(delivered, retry, gone, rejected).",
    ["type", "result"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "pdv_push_outbox_depth",
    "Push deliveries still to be sent or resent (read from the database at scrape time).",
    registry=REGISTRY,
)
OUTBOX_OLDEST_DUE = Gauge(
    "pdv_push_outbox_oldest_due_seconds",
    "How long the most overdue push delivery has been due (0: none is overdue).",
    registry=REGISTRY,
)
BUS_LAG = Histogram(
    "pdv_bus_lag_seconds",
    "Time from publishing a signal on the Redis bus to hearing it back from Redis.",
    buckets=BUS_LAG_BUCKETS,
    registry=REGISTRY,
)
BUS_RECONNECTS = Counter(
    "pdv_bus_reconnects",
    "Times the Redis bus subscription was lost and made again.",
    registry=REGISTRY,
)
LOGIN_FAILURES = Counter(
    "pdv_login_failures",
    "Refused logins and current-password checks, by reason: credentials (wrong or unknown) "
    "or throttled.",
    ["reason"],
    registry=REGISTRY,
)


class Answer(Protocol):
    """What `count_answers` reads of a receipt update (server.storage.receipts)."""

    @property
    def delivered(self) -> bool: ...
    @property
    def displayed(self) -> bool: ...
    @property
    def response(self) -> str | None: ...


def count_answers(updates: Iterable[Answer]) -> None:
    """Count a committed batch of receipts and acks (one call per batch)."""
    tally: Tally[str] = Tally()
    for update in updates:
        tally["delivered"] += update.delivered
        tally["displayed"] += update.displayed
        tally["ack"] += update.response is not None
    for kind, count in tally.items():
        if count:
            ANSWERS.labels(kind=kind).inc(count)


def set_connections(node: str, by_kind: Mapping[str, int]) -> None:
    """The live connections by kind at scrape time; a kind without any reads 0."""
    for kind in CONNECTION_KINDS:
        CONNECTIONS.labels(node=node, kind=kind).set(by_kind.get(kind, 0))
