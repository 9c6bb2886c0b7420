"""What the Prometheus metrics cost the fan-out, and what a scrape costs (bench/README.md
"Metrics").

The fan-out's only instrumentation is one histogram observation and one counter increment
per event, after the writes (server/realtime/hub.py); nothing per connection. This script
times (1) those two calls alone, (2) the hub's fan-out of one event to N in-memory
connections whose transports discard the frame (the real `Hub`, the real encoding), and
(3) what a scrape does: counting the hub's connections by kind and rendering the registry.

    .venv/bin/python -m bench.metrics_cost [--connections 10000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import generate_latest
from websockets.protocol import State

from server import metrics
from server.realtime.hub import Hub, Subscriber

ALERT: dict[str, Any] = {
    "id": 1,
    "kind": "pdv_lockdown",
    "mode": "actual",
    "sites": [1],
    "order": {"sv": "Inrymning. Lås dörren, släck, var tyst.", "en": "Lockdown."},
    "instructions": {"sv": "", "en": ""},
    "state": "active",
    "created_at": "2026-12-02T08:00:00+00:00",
    "updated_at": "2026-12-02T08:00:00+00:00",
    "ended_at": None,
    "created_by": "person:1",
}


class DiscardTransport:
    """A transport that takes the frame and keeps nothing (the kernel's part is not ours)."""

    def write(self, data: bytes) -> None:
        return None

    def get_write_buffer_size(self) -> int:
        return 0


@dataclass
class Connection:
    transport: DiscardTransport = field(default_factory=DiscardTransport)
    state: State = State.OPEN

    @property
    def protocol(self) -> Connection:
        return self


def event(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "event": "updated",
        "at": "2026-12-02T08:00:00+00:00",
        "actor": "person:1",
        "changes": {},
        "alert": ALERT,
    }


async def hub_with(connections: int) -> Hub:
    async def read_events(_org: int, _after: int) -> list[dict[str, Any]]:
        return []

    async def read_seq(_org: int) -> int:
        return 0

    hub = Hub(read_events=read_events, read_seq=read_seq)
    kinds = metrics.CONNECTION_KINDS
    for n in range(connections):
        subscriber = Subscriber(
            organization_id=1,
            site_ids=frozenset({1}),
            connection=Connection(),
            close=lambda _code, _reason: None,
            kind=kinds[n % len(kinds)],
        )
        await hub.subscribe(subscriber)
        hub.go_live(subscriber, sent_up_to=0)
    return hub


def per_call(function: Any, rounds: int) -> list[float]:
    """Seconds of each of `rounds` calls."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def row(name: str, times: list[float], unit: float, unit_name: str) -> str:
    values = sorted(t / unit for t in times)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (
        f"{name:<44} {statistics.median(values):>10.3f} {p99:>10.3f} {values[-1]:>10.3f}"
        f"  {unit_name}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    def instrumentation() -> None:
        metrics.FAN_OUT_SECONDS.observe(0.01)
        metrics.EVENTS.labels(event="updated").inc()

    calls = per_call(instrumentation, 100_000)
    hub = await hub_with(args.connections)
    seqs = iter(range(1, args.rounds + 11))
    for _ in range(10):  # warm
        hub.offer(1, event(next(seqs)))
    fan_outs = per_call(lambda: hub.offer(1, event(next(seqs))), args.rounds)
    scrapes = per_call(
        lambda: (
            metrics.set_connections("bench", hub.connections_by_kind()),
            generate_latest(metrics.REGISTRY),
        ),
        max(20, args.rounds // 10),
    )
    share = statistics.median(calls) / statistics.median(fan_outs)
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.node()}")
    print(f"{'':<44} {'p50':>10} {'p99':>10} {'max':>10}")
    print(row("instrumentation per event (observe + inc)", calls, 1e-6, "µs"))
    print(row(f"hub fan-out of one event to {args.connections:,}", fan_outs, 1e-3, "ms"))
    print(row(f"scrape: count {args.connections:,} by kind + render", scrapes, 1e-3, "ms"))
    print(f"instrumentation share of the fan-out (p50): {share:.4%}")


if __name__ == "__main__":
    asyncio.run(main())
