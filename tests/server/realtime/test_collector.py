"""The collector's schedule: fewer automatic passes, full passes only when the node is quiet."""

from __future__ import annotations

import gc

from server.realtime.collector import THRESHOLDS, QuietCollector
from server.realtime.hub import Hub
from tests.server.realtime.test_hub import Database, MemoryConnection, event, subscriber


async def test_thresholds_are_raised_while_running_and_restored_after() -> None:
    """Inside the context the young generations are collected less often; after, as before."""
    before = gc.get_threshold()
    db = Database()
    async with QuietCollector(hub=Hub(read_events=db.read_events, read_seq=db.read_seq)):
        assert gc.get_threshold() == THRESHOLDS
    assert gc.get_threshold() == before


async def test_full_pass_only_when_no_recent_fan_out() -> None:
    """A fan-out within `quiet` seconds postpones the deliberate full pass."""
    db = Database()
    hub = Hub(read_events=db.read_events, read_seq=db.read_seq)
    collector = QuietCollector(hub=hub, quiet=3600)
    assert collector.collect_if_quiet()  # never fanned out: quiet
    sub = subscriber(MemoryConnection())
    await hub.subscribe(sub)
    hub.go_live(sub, sent_up_to=0)
    hub.offer(1, event(1))
    assert not collector.collect_if_quiet()
    assert collector.passes == 1
