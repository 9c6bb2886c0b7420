"""Push end to end: the real `pdv-alert serve` process, the local Web Push service and the
APNs stand-in (tests/peers/). Devices enroll and register over HTTP as a PWA or an iOS app
would; every event of every alert reaches every registered device, decrypted and with the
protocol's headers; provider answers (410, 429 + Retry-After, 5xx, a hang) do what they
must; an HTTP receipt stops the resends; a node killed mid-send loses nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol.vocabulary import Role
from push.vapid import generate_vapid_key
from server import demo
from tests.peers.apns import APNsStandIn, ProviderKey
from tests.peers.webpush import PeerSubscription, Received, WebPushPeer
from tests.server.serving import HTTP_TIMEOUT, Running, cli, database_url, environment, seed, serve

SLUG = "kopings-kommun"
SITE = "Ullvigymnasiet"
TOPIC = "se.koping.pdvalert"
TTL = 120
WAIT = 60.0  # seconds a push may take to arrive (the machine may be busy)
PRINCIPAL = next(p for p in demo.PEOPLE if p.roles == ((Role.PRINCIPAL, SITE),))
CHIEF = next(p for p in demo.PEOPLE if p.roles == ((Role.SECURITY_CHIEF, None),))
ADMIN = next(p for p in demo.PEOPLE if p.roles == ((Role.ADMIN, None),))


@dataclass
class Device:
    id: int
    token: str
    subscription: PeerSubscription | None = None  # a web device's browser side
    apns_token: str = ""

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class PushServer:
    """The serving process with its peers, a principal's logged-in client, and how to
    restart it on the same database (`restart`)."""

    tmp_path: Path
    url: str
    env: dict[str, str]
    peer: WebPushPeer
    apns: APNsStandIn
    running: Running
    leader: httpx.AsyncClient
    site_id: int = 0
    devices: dict[str, Device] = field(default_factory=dict)
    stack: ExitStack = field(default_factory=ExitStack)

    @property
    def base(self) -> str:
        return self.running.url

    async def enroll(self, name: str, kind: str) -> Device:
        """Enroll a device with a fresh code (from the admin) and register its push address
        over HTTP, as the device itself."""
        async with httpx.AsyncClient(base_url=self.base, timeout=HTTP_TIMEOUT) as admin:
            await login(admin, ADMIN)
            code = await admin.post(
                "/api/v1/enrollment-codes",
                json={"site_id": self.site_id, "device_kind": kind, "max_uses": 1},
            )
        assert code.status_code == 201, code.text
        async with httpx.AsyncClient(base_url=self.base, timeout=HTTP_TIMEOUT) as anonymous:
            enrolled = await anonymous.post(
                "/api/v1/devices/enroll",
                json={"code": code.json()["code"], "kind": kind, "name": name},
            )
        assert enrolled.status_code == 201, enrolled.text
        device = Device(id=enrolled.json()["device"]["id"], token=enrolled.json()["token"])
        if kind == "web":
            config = (await self.leader.get("/api/v1/config")).json()
            device.subscription = self.peer.subscribe(
                application_server_key=config["vapid_public_key"]
            )
            body: dict[str, Any] = {"webpush": device.subscription.to_json()}
        else:
            device.apns_token = f"{device.id:064x}"
            body = {"apns": {"token": device.apns_token, "environment": "sandbox"}}
        async with httpx.AsyncClient(base_url=self.base, timeout=HTTP_TIMEOUT) as own:
            registered = await own.put(
                "/api/v1/devices/self/push", json=body, headers=device.bearer
            )
        assert registered.status_code == 200, registered.text
        self.devices[name] = device
        return device

    async def trigger(self, **body: Any) -> dict[str, Any]:
        response = await self.leader.post(
            "/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": [self.site_id], **body}
        )
        assert response.status_code == 201, response.text
        alert: dict[str, Any] = response.json()
        return alert

    async def self_view(self, device: Device) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base, timeout=HTTP_TIMEOUT) as own:
            response = await own.get("/api/v1/devices/self", headers=device.bearer)
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view


async def login(client: httpx.AsyncClient, person: demo.DemoPerson) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": person.email, "password": person.password}
    )
    assert response.status_code == 200, response.text


def push_environment(
    tmp_path: Path, peer: WebPushPeer, apns: APNsStandIn, key: ProviderKey, **extra: str
) -> dict[str, str]:
    vapid = tmp_path / "vapid.pem"
    vapid.write_text(generate_vapid_key())
    p8 = tmp_path / "AuthKey.p8"
    p8.write_text(key.pem)
    env = environment()
    env.update(
        {
            "PDV_VAPID_PRIVATE_KEY": str(vapid),
            "PDV_VAPID_SUBJECT": "mailto:it@koping.example",
            "PDV_PUSH_ALLOWED_ORIGINS": json.dumps([peer.origin]),
            "PDV_PUSH_TTL_SECONDS": str(TTL),
            "PDV_APNS_KEY_FILE": str(p8),
            "PDV_APNS_KEY_ID": key.key_id,
            "PDV_APNS_TEAM_ID": key.team_id,
            "PDV_APNS_TOPIC": TOPIC,
            "PDV_APNS_URL": apns.url,
            "PDV_APNS_CA_FILE": apns.ca_file,
            "PDV_CATCH_UP_SECONDS": "0.5",
            "PDV_PUSH_TICK_SECONDS": "0.2",
        }
    )
    env.update({f"PDV_{name.upper()}": value for name, value in extra.items()})
    return env


async def start(stack: ExitStack, url: str, env: dict[str, str], stderr: Path) -> Running:
    """`serve` started off the event loop (the APNs stand-in runs on it), stopped (SIGKILL)
    when `stack` closes."""
    context = serve(url, env, stderr)
    process = await asyncio.to_thread(context.__enter__)
    stack.push(context.__exit__)
    return process


@pytest.fixture
async def push_server(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[PushServer]:
    """Demo data, the peers, and `pdv-alert serve` configured for both; a test's indirect
    parametrization adds settings (`{"push_timeout_seconds": "1"}`)."""
    extra: dict[str, str] = getattr(request, "param", {})
    key = ProviderKey.generate()
    with WebPushPeer() as peer:
        async with APNsStandIn(topic=TOPIC, directory=tmp_path / "apns") as apns:
            apns.trust(key)
            env = push_environment(tmp_path, peer, apns, key, **extra)
            url = database_url(tmp_path)
            await asyncio.to_thread(seed, url, env)
            with ExitStack() as stack:
                process = await start(stack, url, env, tmp_path / "serve.stderr")
                async with httpx.AsyncClient(base_url=process.url, timeout=HTTP_TIMEOUT) as leader:
                    await login(leader, PRINCIPAL)
                    roles = (await leader.get("/api/v1/me")).json()["roles"]
                    server = PushServer(
                        tmp_path=tmp_path,
                        url=url,
                        env=env,
                        peer=peer,
                        apns=apns,
                        running=process,
                        leader=leader,
                        site_id=roles[0]["site_id"],
                        stack=stack,
                    )
                    try:
                        yield server
                    finally:
                        peer.release()
                        apns.release()


async def received(
    peer: WebPushPeer, subscription: PeerSubscription, count: int, *, status: int | None = None
) -> list[Received]:
    """The pushes `subscription` got (with `status`: only those answered so at once, not
    held), once there are `count`."""

    def items() -> list[Received]:
        found = peer.received_by(subscription)
        return [
            item for item in found if status is None or (item.status == status and not item.hung)
        ]

    async with asyncio.timeout(WAIT):
        await peer.wait_until(lambda: len(items()) >= count)
    return items()


async def pushed_to_all(
    peer: WebPushPeer, subscriptions: list[PeerSubscription], *, seq: int
) -> None:
    """Until every subscription was pushed event `seq` (and it was answered at once)."""

    def done() -> bool:
        return all(
            any(r.payload["seq"] == seq and not r.hung for r in peer.received_by(subscription))
            for subscription in subscriptions
        )

    async with asyncio.timeout(WAIT):
        await peer.wait_until(done)


def seqs(items: list[Received]) -> list[int]:
    return [item.payload["seq"] for item in items]


async def test_every_event_reaches_every_registered_device_decrypted_with_its_headers(
    push_server: PushServer,
) -> None:
    """Trigger, update, resolve over HTTP: each registered browser's push service receives
    the three events, each decrypting to the documented payload with TTL, Urgency, Topic,
    aes128gcm and a VAPID token for the service's origin; the APNs stand-in gets them as
    critical alerts (an actual inrymning) with the collapse id of the alert."""
    server = push_server
    first = await server.enroll("Annas telefon", "web")
    second = await server.enroll("Klassrummets iPad", "web")
    ipad = await server.enroll("Rektors iPad", "ios")
    browsers = [device.subscription for device in (first, second) if device.subscription]
    triggered = await server.trigger()
    alert_id = triggered["alert"]["id"]
    await pushed_to_all(server.peer, browsers, seq=1)
    patched = await server.leader.patch(
        f"/api/v1/alerts/{alert_id}", json={"order": {"sv": "Gå till matsalen"}}
    )
    assert patched.status_code == 200, patched.text
    await pushed_to_all(server.peer, browsers, seq=2)
    resolved = await server.leader.post(f"/api/v1/alerts/{alert_id}/resolve")
    assert resolved.status_code == 200, resolved.text
    await pushed_to_all(server.peer, browsers, seq=3)

    for browser in browsers:
        by_event = {item.payload["event"]: item for item in server.peer.received_by(browser)}
        assert set(by_event) == {"triggered", "updated", "resolved"}
        payload = by_event["triggered"].payload
        assert set(payload) == {
            "alert_id",
            "seq",
            "event",
            "kind",
            "mode",
            "state",
            "title",
            "body",
            "sites",
            "url",
        }
        assert (payload["alert_id"], payload["kind"], payload["mode"]) == (
            alert_id,
            "pdv_lockdown",
            "actual",
        )
        assert payload["sites"] == [SITE]
        assert str(alert_id) in payload["url"]
        assert by_event["updated"].payload["body"] == "Gå till matsalen"
        assert by_event["resolved"].payload["state"] == "resolved"
        headers = by_event["triggered"].headers
        assert headers["ttl"] == str(TTL)
        assert headers["urgency"] == "high"
        assert headers["topic"] == f"alert-{alert_id}"
        assert headers["content-encoding"] == "aes128gcm"
        assert headers["authorization"].startswith("vapid t=")
        assert by_event["triggered"].claims["aud"] == server.peer.origin

    async with asyncio.timeout(WAIT):
        await server.apns.wait_until(
            lambda: len([r for r in server.apns.requests if r.token == ipad.apns_token]) >= 3
        )
    pushed = [r for r in server.apns.requests if r.token == ipad.apns_token]
    assert all(r.answer.status == 200 for r in pushed)
    first_push = next(r for r in pushed if r.payload["event"] == "triggered")
    assert first_push.headers["apns-push-type"] == "alert"
    assert first_push.headers["apns-priority"] == "10"
    assert first_push.headers["apns-collapse-id"] == f"alert-{alert_id}"
    assert first_push.headers["apns-topic"] == TOPIC
    assert first_push.payload["aps"]["interruption-level"] == "critical"
    assert first_push.payload["aps"]["sound"]["critical"] == 1
    view = await server.self_view(first)
    assert view["push"]["type"] == "webpush"
    assert "endpoint" not in json.dumps(view) and "p256dh" not in json.dumps(view)


async def test_a_cli_drill_is_pushed_not_critical_and_its_cancel_too(
    push_server: PushServer,
) -> None:
    """A drill triggered by the security chief from the CLI (no bus: the server finds it in
    the event log) reaches the browser, the iPad gets it time-sensitive, not critical; the
    chief's cancel is pushed too."""
    server = push_server
    browser = await server.enroll("Annas telefon", "web")
    ipad = await server.enroll("Rektors iPad", "ios")
    result = await asyncio.to_thread(
        subprocess.run,
        cli(
            "--database-url",
            server.url,
            "trigger",
            "--organization",
            SLUG,
            "--as",
            CHIEF.email,
            "--site",
            SITE,
            "--kind",
            "pdv_lockdown",
            "--mode",
            "drill",
        ),
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert browser.subscription is not None
    (item,) = await received(server.peer, browser.subscription, 1)
    assert (item.payload["mode"], item.payload["event"]) == ("drill", "triggered")
    async with asyncio.timeout(WAIT):
        await server.apns.wait_until(
            lambda: any(r.token == ipad.apns_token for r in server.apns.requests)
        )
    pushed = next(r for r in server.apns.requests if r.token == ipad.apns_token)
    assert pushed.payload["aps"]["interruption-level"] == "time-sensitive"
    assert "critical" not in json.dumps(pushed.payload["aps"].get("sound", ""))
    async with httpx.AsyncClient(base_url=server.base, timeout=HTTP_TIMEOUT) as chief:
        await login(chief, CHIEF)
        cancelled = await chief.post(f"/api/v1/alerts/{item.payload['alert_id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    await pushed_to_all(server.peer, [browser.subscription], seq=item.payload["seq"] + 1)
    last = server.peer.received_by(browser.subscription)[-1].payload
    assert (last["event"], last["state"]) == ("cancelled", "cancelled")


async def test_gone_removes_the_registration(push_server: PushServer) -> None:
    """A browser that unsubscribed answers 410: the server drops its registration (the
    device view shows `push: null`) and pushes it no more; the other device keeps its own."""
    server = push_server
    gone = await server.enroll("Gammal telefon", "web")
    kept = await server.enroll("Annas telefon", "web")
    assert gone.subscription is not None and kept.subscription is not None
    server.peer.unsubscribe(gone.subscription)
    await server.trigger()
    await received(server.peer, kept.subscription, 1)
    async with asyncio.timeout(WAIT):  # the dispatcher records the 410 after the answer
        view = await server.self_view(gone)
        while view["push"] is not None:
            await asyncio.sleep(0.1)
            view = await server.self_view(gone)
    assert (await server.self_view(kept))["push"]["type"] == "webpush"
    assert any(r.status == 410 for r in server.peer.refused)


@pytest.mark.parametrize(
    "push_server", [{"push_timeout_seconds": "1", "push_lease_seconds": "5"}], indirect=True
)
async def test_busy_failing_and_hanging_services_are_retried(push_server: PushServer) -> None:
    """429 with Retry-After is tried again no sooner than it says; a 503 and a push service
    that never answers (the send times out) are tried again too, and every device gets the
    alert in the end."""
    server = push_server
    busy = await server.enroll("Upptagen", "web")
    failing = await server.enroll("Trasig", "web")
    hanging = await server.enroll("Hänger", "web")
    assert busy.subscription and failing.subscription and hanging.subscription
    server.peer.answer(429, retry_after="2", times=1, subscription=busy.subscription)
    server.peer.answer(503, times=1, subscription=failing.subscription)
    server.peer.hang(times=1, subscription=hanging.subscription)
    await server.trigger()
    for device in (busy, failing, hanging):
        assert device.subscription is not None
        delivered = await received(server.peer, device.subscription, 1, status=201)
        assert seqs(delivered) == [1]
    first, retried = server.peer.received_by(busy.subscription)[:2]
    assert (first.status, retried.status) == (429, 201)
    assert retried.at - first.at >= 2.0
    assert [r.status for r in server.peer.received_by(failing.subscription)][:2] == [503, 201]
    assert server.peer.received_by(hanging.subscription)[0].hung


@pytest.mark.parametrize("push_server", [{"push_resend_after_seconds": "2"}], indirect=True)
async def test_an_http_receipt_stops_the_resends(push_server: PushServer) -> None:
    """A device that receipts the event over HTTP (as its service worker does) is not pushed
    it again; a device that says nothing gets it again after push_resend_after_seconds."""
    server = push_server
    answering = await server.enroll("Svarar", "web")
    silent = await server.enroll("Tyst", "web")
    assert answering.subscription is not None and silent.subscription is not None
    alert_id = (await server.trigger())["alert"]["id"]
    (pushed,) = await received(server.peer, answering.subscription, 1)
    async with httpx.AsyncClient(base_url=server.base, timeout=HTTP_TIMEOUT) as own:
        receipt = await own.post(
            f"/api/v1/alerts/{alert_id}/receipts",
            json={"seq": pushed.payload["seq"], "state": "displayed"},
            headers=answering.bearer,
        )
    assert receipt.status_code == 200, receipt.text
    resent = await received(server.peer, silent.subscription, 3)
    assert seqs(resent) == [1, 1, 1]
    assert seqs(server.peer.received_by(answering.subscription)) == [1]


@pytest.mark.parametrize(
    "push_server", [{"push_lease_seconds": "11", "push_timeout_seconds": "10"}], indirect=True
)
async def test_a_node_killed_mid_send_loses_nothing(push_server: PushServer) -> None:
    """kill -9 while every send of a trigger hangs at the push service, then a restart: the
    dead node's claimed sends are sent again when their lease runs out, so every device gets
    the trigger, and then the update (at least once, no gaps)."""
    server = push_server
    devices = [await server.enroll(f"Telefon {n}", "web") for n in range(8)]
    server.peer.hang()
    alert_id = (await server.trigger())["alert"]["id"]
    async with asyncio.timeout(WAIT):
        await server.peer.wait_until(lambda: server.peer.hanging >= len(devices))
    server.running.process.kill()
    await asyncio.to_thread(server.running.process.wait, 30)
    server.peer.reset()  # the push service answers again
    restarted = await start(server.stack, server.url, server.env, server.tmp_path / "again.stderr")
    browsers = [device.subscription for device in devices if device.subscription]
    await pushed_to_all(server.peer, browsers, seq=1)  # the dead node's claims, sent again
    async with httpx.AsyncClient(base_url=restarted.url, timeout=HTTP_TIMEOUT) as leader:
        await login(leader, PRINCIPAL)
        patched = await leader.patch(
            f"/api/v1/alerts/{alert_id}", json={"order": {"sv": "Stanna kvar"}}
        )
        assert patched.status_code == 200, patched.text
    await pushed_to_all(server.peer, browsers, seq=2)
    for browser in browsers:
        answered = [r for r in server.peer.received_by(browser) if not r.hung]
        assert sorted(set(seqs(answered))) == [1, 2]
