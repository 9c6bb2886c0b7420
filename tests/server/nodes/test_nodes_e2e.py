"""N nodes, proven with real processes: three `pdv-alert serve` on one PostgreSQL database
and a private Redis, with device clients spread over them (tests/server/nodes/conftest.py).
An alert triggered on one node reaches the clients of the others; a node killed with -9
loses its clients to the others, which resume them without loss; a Redis restart during an
alert leaves every client with the current order; two nodes triggered at once make one
alert; a node started after the events serves resumes from the database. (The presence
sweep's takeover when its leader is killed: test_leadership_e2e.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.server.nodes.conftest import CHIEF, Cluster
from tests.server.nodes.devices import DeviceClient
from tests.server.relay import Relay


def _has_order(alert_id: int, order: str) -> Callable[[DeviceClient], bool]:
    return lambda device: device.order(alert_id) == order


async def _everyone(devices: list[DeviceClient], alert_id: int, order: str) -> None:
    await asyncio.gather(
        *(device.until(_has_order(alert_id, order), f"showing {order!r}") for device in devices)
    )


async def test_an_alert_triggered_on_one_node_reaches_the_clients_of_every_node(
    cluster: Cluster,
) -> None:
    """Trigger on node a: the clients connected to b and c get it live (by the bus), with
    the alert's order, and every client applied exactly seq 1."""
    devices = await cluster.connect([cluster.nodes[n].ws_url for n in ("a", "b", "c", "b", "c")])
    response = await cluster.trigger("a")
    assert response.status_code == 201, response.text
    alert = response.json()["alert"]
    await _everyone(devices, alert["id"], alert["order"]["sv"])
    assert all(device.applied == [1] for device in devices)
    assert all(device.welcomes[-1]["recovered"] is False for device in devices)  # first hello


async def test_a_killed_node_s_clients_resume_on_the_others_without_loss(
    cluster: Cluster,
) -> None:
    """Six clients reach the nodes through one address (a proxy, as in production); node b
    is killed with -9 during an alert and the order changes twice while its clients are
    away: they reconnect to the same address, land on a or c, resume (`recovered: true`)
    and have every event once, in order; the others never noticed."""
    backends = [cluster.nodes[n].ws_url for n in ("a", "b", "c")]
    async with Relay(backends) as proxy:  # the load balancer in front of the nodes
        devices = await cluster.connect([proxy.url] * 6)
        on_b = [d for d in devices if proxy.routes[d.ports[-1]] == cluster.nodes["b"].ws_url]
        assert len(on_b) == 2  # round robin: two per node
        response = await cluster.trigger("a")
        assert response.status_code == 201, response.text
        alert_id = response.json()["alert"]["id"]
        await _everyone(devices, alert_id, response.json()["alert"]["order"]["sv"])

        for device in on_b:
            device.may_reconnect.clear()  # held back until the order changed meanwhile
        await cluster.kill("b")
        await asyncio.gather(*(d.until(lambda d: not d.connected, "disconnected") for d in on_b))
        await cluster.set_order("c", alert_id, "Stanna i klassrummet")
        last = await cluster.set_order("a", alert_id, "Lås dörren, håll er borta från fönster")
        for device in on_b:
            device.may_reconnect.set()
        await _everyone(devices, alert_id, "Lås dörren, håll er borta från fönster")

        for device in on_b:
            await device.welcomed(2)
            assert proxy.routes[device.ports[-1]] != cluster.nodes["b"].ws_url
            resumed = device.welcomes[-1]
            assert resumed["recovered"] is True
            assert [e["seq"] for e in resumed["events"]] == [2, 3]
        assert all(device.applied == [1, 2, last] for device in devices)
        assert all(len(d.welcomes) == 1 for d in devices if d not in on_b)


@pytest.mark.parametrize("cluster", [{"catch_up_seconds": "3600"}], indirect=True)
async def test_every_client_has_the_current_order_after_redis_restarts_during_an_alert(
    cluster: Cluster,
) -> None:
    """Redis is killed during an alert and the order changes on node b while it is down
    (b's signal is lost); Redis starts again on its port: the nodes reconnect (jittered)
    and catch up from the database, so every client shows the current order. The periodic
    catch-up is an hour away: the reconnect alone delivers it. A later change goes through
    the bus again."""
    devices = await cluster.connect([cluster.nodes[n].ws_url for n in ("a", "b", "c", "a", "c")])
    response = await cluster.trigger("a")
    assert response.status_code == 201, response.text
    alert_id = response.json()["alert"]["id"]
    await _everyone(devices, alert_id, response.json()["alert"]["order"]["sv"])

    await asyncio.to_thread(cluster.redis.kill)
    await cluster.set_order("b", alert_id, "Utrym till idrottshallen")
    await asyncio.to_thread(cluster.redis.start)
    await _everyone(devices, alert_id, "Utrym till idrottshallen")

    await cluster.set_order("c", alert_id, "Stanna i idrottshallen")
    await _everyone(devices, alert_id, "Stanna i idrottshallen")
    assert all(device.applied == [1, 2, 3] for device in devices)
    assert all(len(device.welcomes) == 1 for device in devices)  # no client reconnected


async def test_concurrent_triggers_on_two_nodes_for_one_site_make_one_alert(
    cluster: Cluster,
) -> None:
    """The principal on node a and the security chief on node b press at the same moment,
    three times each: one alert, one `triggered` event, every answer names that alert."""
    async with cluster.leader("a") as principal, cluster.leader("b", CHIEF) as chief:
        body = {"kind": "pdv_lockdown", "site_ids": [cluster.site_id]}
        answers = await asyncio.gather(
            *(
                client.post("/api/v1/alerts", json=body)
                for _ in range(3)
                for client in (principal, chief)
            )
        )
        assert all(answer.status_code in (200, 201) for answer in answers), [
            a.text for a in answers
        ]
        assert len({answer.json()["alert"]["id"] for answer in answers}) == 1
        events = (await principal.get("/api/v1/alerts/events", params={"after_seq": 0})).json()
        assert [e["event"] for e in events["events"]] == ["triggered"]
        active = (await chief.get("/api/v1/alerts", params={"state": "active"})).json()
    assert len(active["alerts"]) == 1


async def test_a_node_started_after_the_events_serves_resumes_from_the_database(
    cluster: Cluster,
) -> None:
    """A client saw seq 1 on node a and went away; three more events are committed; node d
    starts only now (its memory holds none of them): the client resumes on d with exactly
    the missed events (`recovered: true`), and a new client gets the snapshot."""
    (early,) = await cluster.connect([cluster.nodes["a"].ws_url])
    response = await cluster.trigger("a")
    alert_id = response.json()["alert"]["id"]
    await early.until(lambda d: d.last_seq == 1, "at seq 1")
    await early.stop()
    await cluster.set_order("b", alert_id, "Ett")
    await cluster.set_order("c", alert_id, "Två")
    last = await cluster.set_order("a", alert_id, "Tre")

    await cluster.start("d")
    early.url = cluster.nodes["d"].ws_url
    early.start()
    await early.welcomed(2)
    resumed = early.welcomes[-1]
    assert (resumed["recovered"], resumed["seq"]) == (True, last)
    assert [e["seq"] for e in resumed["events"]] == [2, 3, 4]
    assert early.applied == [1, 2, 3, 4] and early.order(alert_id) == "Tre"
    (fresh,) = await cluster.connect([cluster.nodes["d"].ws_url])
    snapshot = fresh.welcomes[-1]
    assert snapshot["recovered"] is False and snapshot["seq"] == last
    assert [a["order"]["sv"] for a in snapshot["active"]] == ["Tre"]
