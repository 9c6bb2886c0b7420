"""Test mode end to end: a silent `test` alert reaches the connected devices, they receipt it,
and the reachability report shows per site and device who was reached and who was not."""

from __future__ import annotations

import json

from protocol.vocabulary import Role
from tests import factories
from tests.factories import bearer
from tests.server.realtime.clients import hello, next_of
from tests.server.realtime.conftest import LiveServer


async def test_test_alert_yields_a_reachability_report(live_server: LiveServer) -> None:
    """Two connected devices receipt the test alert; the offline one is listed not reached."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    for name in ("pc-1", "pc-2", "pc-offline"):
        await factories.device(world, name, site="A")
    clients = [(await hello(live_server.ws_url, world.tokens[n]))[0] for n in ("pc-1", "pc-2")]

    response = await live_server.http.post(
        "/api/v1/alerts",
        json={"kind": "pdv_lockdown", "mode": "test", "site_ids": [world.sites["A"]]},
        headers=bearer(world, "chief"),
    )
    assert response.status_code == 201, response.text
    alert_id = response.json()["alert"]["id"]
    for ws in clients:
        frame = await next_of(ws, "alert")
        assert frame["alert"]["mode"] == "test"  # the client shows nothing: silent test
        await ws.send(json.dumps({"type": "receipt", "alert_id": alert_id, "state": "delivered"}))
    await live_server.realtime.receipts.flush()

    report = await live_server.http.get(
        f"/api/v1/alerts/{alert_id}/reachability", headers=bearer(world, "chief")
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["mode"] == "test"
    assert body["totals"]["reached"] == 2 and body["totals"]["not_reached"] == 1
    site = body["sites"][str(world.sites["A"])]
    reached = {d["name"] for d in site["devices"] if d["delivered_at"] is not None}
    assert reached == {"pc-1", "pc-2"}
    assert body["latency_ms"]["max"] is not None and body["latency_ms"]["max"] >= 0
    for ws in clients:
        await ws.close()
