"""Push with three nodes (tests/server/nodes/conftest.py) and the local Web Push service
(tests/peers/webpush.py): every node runs a dispatcher on the one outbox, and still each
delivery is sent once per attempt — never twice because several nodes saw it due."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg

from push.vapid import generate_vapid_key
from tests.peers.webpush import PeerSubscription, WebPushPeer
from tests.server.nodes.conftest import running_cluster
from tests.server.nodes.devices import WAIT

DEVICES = 12


async def _all_pushed(peer: WebPushPeer, subscriptions: list[PeerSubscription], seq: int) -> None:
    """Until every subscription got event `seq` answered 201."""

    def done() -> bool:
        return all(
            any(r.payload["seq"] == seq and r.status == 201 for r in peer.received_by(sub))
            for sub in subscriptions
        )

    async with asyncio.timeout(WAIT):
        await peer.wait_until(done)


async def test_a_push_is_sent_once_per_attempt_however_many_nodes_run(
    tmp_path: Path, demo_postgres: str
) -> None:
    """Twelve browsers registered over the three nodes; half of their push services answer
    503 once. A trigger on node a: each browser gets the event exactly once when its service
    took it at once, exactly twice (503, then 201) otherwise, and the outbox counts the
    same attempts; an update afterwards (so any late duplicate would have come) changes
    nothing of that."""
    vapid = tmp_path / "vapid.pem"
    vapid.write_text(generate_vapid_key())
    with WebPushPeer() as peer:
        async with running_cluster(
            tmp_path,
            demo_postgres,
            vapid_private_key=str(vapid),
            vapid_subject="mailto:it@koping.example",
            push_allowed_origins=json.dumps([peer.origin]),
            push_tick_seconds="0.2",
            push_resend_after_seconds="3600",
        ) as cluster:
            enrolled = await cluster.enroll(DEVICES, kind="web")
            async with cluster.http("a") as http:
                key = (await http.get("/api/v1/config")).json()["vapid_public_key"]
            browsers: dict[int, PeerSubscription] = {}
            for n, (device_id, token) in enumerate(enrolled):
                browsers[device_id] = peer.subscribe(application_server_key=key)
                async with cluster.http("abc"[n % 3]) as own:
                    registered = await own.put(
                        "/api/v1/devices/self/push",
                        json={"webpush": browsers[device_id].to_json()},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                assert registered.status_code == 200, registered.text
            failing = set(list(browsers)[::2])
            for device_id in failing:
                peer.answer(503, times=1, subscription=browsers[device_id])

            response = await cluster.trigger("a")
            assert response.status_code == 201, response.text
            alert_id = response.json()["alert"]["id"]
            await _all_pushed(peer, list(browsers.values()), seq=1)
            last = await cluster.set_order("b", alert_id, "Stanna kvar")
            await _all_pushed(peer, list(browsers.values()), seq=last)

            connection = await asyncpg.connect(cluster.database_url.replace("+asyncpg", ""))
            try:
                rows = await connection.fetch(
                    "SELECT device_id, attempts FROM push_deliveries WHERE seq = 1"
                )
            finally:
                await connection.close()
            attempts = {row["device_id"]: row["attempts"] for row in rows}
            for device_id, browser in browsers.items():
                first = [r.status for r in peer.received_by(browser) if r.payload["seq"] == 1]
                assert first == ([503, 201] if device_id in failing else [201]), device_id
                assert attempts[device_id] == len(first), device_id
