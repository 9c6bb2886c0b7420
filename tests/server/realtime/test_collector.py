"""Collector control: fewer automatic passes, full passes only when the node is quiet, a pause
during fan-out, frozen start-up objects — and with `gc_tuning` off, the process's collector
left exactly as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from server.realtime import collector
from server.realtime.collector import THRESHOLDS, QuietCollector
from server.realtime.hub import Hub
from server.storage.database import Database
from tests.server.realtime.conftest import realtime_settings, start_live_server
from tests.server.realtime.test_hub import Database as EventLog
from tests.server.realtime.test_hub import MemoryConnection, event, subscriber


@pytest.fixture
def tuned() -> Iterator[None]:
    with collector.tuning(enabled=True):
        yield


@pytest.fixture
def untuned() -> Iterator[None]:
    with collector.tuning(enabled=False):
        yield


def new_hub() -> Hub:
    log = EventLog()
    return Hub(read_events=log.read_events, read_seq=log.read_seq)


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """The test starts and ends with no frozen objects."""
    gc.unfreeze()
    yield
    gc.unfreeze()


async def test_thresholds_are_raised_while_running_and_restored_after(tuned: None) -> None:
    """Inside the context the young generations are collected less often; after, as before."""
    before = gc.get_threshold()
    async with QuietCollector(hub=new_hub()):
        assert gc.get_threshold() == THRESHOLDS
    assert gc.get_threshold() == before


async def test_full_pass_only_when_no_recent_fan_out(tuned: None) -> None:
    """A fan-out within `quiet` seconds postpones the deliberate full pass."""
    hub = new_hub()
    quiet = QuietCollector(hub=hub, quiet=3600)
    assert quiet.collect_if_quiet()  # never fanned out: quiet
    sub = subscriber(MemoryConnection())
    await hub.subscribe(sub)
    hub.go_live(sub, sent_up_to=0)
    hub.offer(1, event(1))
    assert not quiet.collect_if_quiet()
    assert quiet.passes == 1


async def test_off_leaves_the_thresholds_alone(untuned: None) -> None:
    """With tuning off the quiet collector changes no threshold and schedules no pass."""
    before = gc.get_threshold()
    async with QuietCollector(hub=new_hub(), interval=0.001) as quiet:
        assert gc.get_threshold() == before
        assert quiet._task is None
    assert gc.get_threshold() == before


def test_pause_disables_the_collector_only_when_tuned() -> None:
    """`paused` disables collection inside when on, not at all when off, and never enables
    a collector that was disabled before."""
    assert gc.isenabled()
    with collector.tuning(enabled=True), collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with collector.tuning(enabled=False), collector.paused():
        assert gc.isenabled()
    gc.disable()
    try:
        with collector.tuning(enabled=True), collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_freezing_follows_the_setting(unfrozen: None) -> None:
    """Start-up objects are frozen when tuned, and not when tuning is off."""
    with collector.tuning(enabled=False):
        collector.freeze_start_up()
    assert gc.get_freeze_count() == 0
    with collector.tuning(enabled=True):
        collector.freeze_start_up()
    assert gc.get_freeze_count() > 0


def test_tuning_restores_the_previous_choice() -> None:
    """The switch is set for the life of an app and restored after, even nested."""
    start = collector.enabled()
    with collector.tuning(enabled=not start):
        assert collector.enabled() is not start
        with collector.tuning(enabled=start):
            assert collector.enabled() is start
        assert collector.enabled() is not start
    assert collector.enabled() is start


@pytest.mark.parametrize("gc_tuning", [True, False])
async def test_a_running_node_tunes_the_collector_only_when_set(
    database: Database, unfrozen: None, gc_tuning: bool
) -> None:
    """A real node (HTTP + gateway) raises the thresholds and freezes start-up objects with
    gc_tuning on; with it off the process's thresholds and frozen objects are untouched."""
    before = gc.get_threshold()
    settings = realtime_settings(gc_tuning=gc_tuning)
    async with start_live_server(settings, database) as live:
        assert (await live.http.get("/api/v1/health")).status_code == 200
        if gc_tuning:
            assert gc.get_threshold() == THRESHOLDS
            assert gc.get_freeze_count() > 0
        else:
            assert gc.get_threshold() == before
            assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
