"""Resumes after a restart: the hub's memory is empty, so the first resume reads the missed
events from the database; hellos resuming from as far back then replay from memory (one read
for a storm of them), gap-free and each only what it may see."""

from __future__ import annotations

import asyncio

from protocol.vocabulary import Role
from tests import factories
from tests.factories import bearer
from tests.server.realtime.clients import hello
from tests.server.realtime.conftest import LiveServer


async def test_a_storm_of_resumes_reads_the_missed_events_once(live_server: LiveServer) -> None:
    world = await factories.organization(live_server.database, sites=("A", "B"))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"), (Role.PRINCIPAL, "B")))
    names = [f"a{n}" for n in range(6)]
    for name in names:
        await factories.device(world, name, site="A")
    await factories.device(world, "b", site="B")
    headers = bearer(world, "principal")
    # Committed while nobody was connected to this node (as before a restart): nothing of
    # it is in the hub's memory. Seqs 1-3 concern site A, 4 site B.
    response = await live_server.http.post(
        "/api/v1/alerts", json={"kind": "evacuate", "site_ids": [world.sites["A"]]}, headers=headers
    )
    alert_id = response.json()["alert"]["id"]
    await live_server.http.patch(
        f"/api/v1/alerts/{alert_id}", json={"kind": "secure"}, headers=headers
    )
    await live_server.http.post(f"/api/v1/alerts/{alert_id}/resolve", headers=headers)
    await live_server.http.post(
        "/api/v1/alerts", json={"kind": "evacuate", "site_ids": [world.sites["B"]]}, headers=headers
    )
    first, welcome = await hello(live_server.ws_url, world.tokens["b"])
    epoch = welcome["epoch"]
    assert welcome["seq"] == 4
    greeter = live_server.realtime.gateway.greeter
    reads = greeter.replay_reads

    resumed = await asyncio.gather(
        *(hello(live_server.ws_url, world.tokens[n], epoch=epoch, last_seq=1) for n in names)
    )
    assert greeter.replay_reads - reads == 1  # one read for all six
    for _, welcome in resumed:
        assert welcome["recovered"] is True
        assert [e["seq"] for e in welcome["events"]] == [2, 3]  # 4 is site B's

    ws, welcome = await hello(live_server.ws_url, world.tokens["b"], epoch=epoch, last_seq=0)
    assert greeter.replay_reads - reads == 2  # seq 1 was not in memory: read again
    assert [e["seq"] for e in welcome["events"]] == [4]
    again, welcome = await hello(live_server.ws_url, world.tokens["a0"], epoch=epoch, last_seq=0)
    assert greeter.replay_reads - reads == 2  # now memory reaches back to seq 1
    assert [e["seq"] for e in welcome["events"]] == [1, 2, 3]
    for client in (first, ws, again, *(client for client, _ in resumed)):
        await client.close()
