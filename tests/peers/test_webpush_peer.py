"""The local Web Push service (tests/peers/webpush.py) can fail: it refuses what a real push
service refuses — a bad VAPID signature, the wrong audience, an expired or too distant
expiry, bad headers, a body it cannot decrypt — and it answers as scripted, also when run as
its own process."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from push.message import WebPushSubscription
from push.vapid import VapidTokens, generate_vapid_key
from push.webpush import WebPushRequest, to_webpush_request
from tests.peers.webpush import PeerSubscription, WebPushPeer
from tests.push import samples

ROOT = Path(__file__).resolve().parents[2]
SUBJECT = "mailto:it@skola.example"
VAPID = VapidTokens(generate_vapid_key(), subject=SUBJECT)
VAPID_PEM_24H = generate_vapid_key()
MESSAGE = samples.message(
    alert_id=3,
    seq=11,
    event="updated",
    kind="evacuate",
    mode="drill",
    title="Övning: utrymning",
    body="Gå till återsamlingsplatsen.",
    sites=("Norrskolan", "Södra"),
    url="/alerts/3",
)


@pytest.fixture
async def peer() -> AsyncIterator[WebPushPeer]:
    async with WebPushPeer() as running:
        yield running


def valid_request(subscription: PeerSubscription, *, now: float | None = None) -> WebPushRequest:
    return to_webpush_request(
        MESSAGE, subscription.target, vapid=VAPID, ttl_seconds=60, now=now or time.time()
    )


async def post(request: WebPushRequest, **changes: object) -> httpx.Response:
    headers = {**request.headers, **changes.pop("headers", {})}  # type: ignore[dict-item]
    headers = {key: value for key, value in headers.items() if value is not None}
    body = changes.pop("body", request.body)
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(request.url, headers=headers, content=body)  # type: ignore[arg-type]


async def test_a_valid_request_is_accepted_and_decrypted(peer: WebPushPeer) -> None:
    """The baseline the refusals below differ from: 201 with a Location, and the record."""
    subscription = peer.subscribe()
    response = await post(valid_request(subscription))
    assert response.status_code == 201
    assert response.headers["location"].startswith(f"{peer.origin}/message/")
    [received] = peer.received
    assert received.payload == MESSAGE.to_payload() and received.status == 201


def other_key_authorization(request: WebPushRequest) -> str:
    token = request.headers["Authorization"].split("t=")[1].split(",")[0]
    other = VapidTokens(generate_vapid_key(), subject=SUBJECT)
    return f"vapid t={token}, k={other.public_key}"


def foreign_audience(request: WebPushRequest) -> str:
    return VAPID.authorization("https://push.elsewhere.example/x", now=time.time())


def too_distant(request: WebPushRequest) -> str:
    far = VapidTokens(VAPID_PEM_24H, subject=SUBJECT, lifetime=24 * 3600, renew_before=0)
    return far.authorization(request.url, now=time.time() + 3600)


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (other_key_authorization, "signature"),
        (foreign_audience, "aud"),
        (too_distant, "24 hours"),
        (lambda request: request.headers["Authorization"].replace("vapid ", "WebPush "), "scheme"),
        (lambda request: request.headers["Authorization"].split(",")[0], "k="),
        (lambda request: "vapid t=abc.def.ghi, k=" + VAPID.public_key, "JWT"),
    ],
    ids=["bad-signature", "wrong-aud", "exp-over-24h", "legacy-scheme", "no-k", "not-a-jwt"],
)
async def test_a_bad_vapid_token_is_refused(
    peer: WebPushPeer, authorization: Callable[[WebPushRequest], str], reason: str
) -> None:
    """A token that does not verify, names another origin, or expires more than 24 h ahead
    gets 401 and is recorded as refused, not received."""
    request = valid_request(peer.subscribe())
    response = await post(request, headers={"Authorization": authorization(request)})
    assert response.status_code == 401
    assert reason in response.text
    assert peer.received == []
    [refused] = peer.refused
    assert refused.status == 401 and reason in refused.reason


async def test_an_expired_token_is_refused(peer: WebPushPeer) -> None:
    """A token whose exp has passed (signed 13 h ago, valid 12 h) gets 401."""
    subscription = peer.subscribe()
    request = valid_request(subscription, now=time.time() - 13 * 3600)
    response = await post(request)
    assert response.status_code == 401 and "exp" in response.text


async def test_a_verified_token_is_trusted_only_with_its_key_and_until_it_expires() -> None:
    """The peer remembers a token's signature check, never its validity: the same token with
    another key is still refused, and once the clock passes its exp it is refused too."""
    now = [time.time()]
    async with WebPushPeer(clock=lambda: now[0]) as peer:
        request = valid_request(peer.subscribe())
        assert (await post(request)).status_code == 201
        response = await post(request, headers={"Authorization": other_key_authorization(request)})
        assert response.status_code == 401 and "signature" in response.text
        now[0] += 13 * 3600
        response = await post(request)
        assert response.status_code == 401 and "exp" in response.text
        assert len(peer.received) == 1


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({"TTL": None}, 400, "TTL"),
        ({"TTL": "soon"}, 400, "TTL"),
        ({"Urgency": "urgent"}, 400, "Urgency"),
        ({"Topic": "alert 3"}, 400, "Topic"),
        ({"Topic": "a" * 33}, 400, "Topic"),
        ({"Content-Encoding": "aesgcm"}, 400, "Content-Encoding"),
    ],
)
async def test_bad_headers_are_refused(
    peer: WebPushPeer, headers: dict[str, str | None], status: int, reason: str
) -> None:
    """RFC 8030's header rules: TTL required, Urgency and Topic well-formed, and only
    aes128gcm bodies."""
    response = await post(valid_request(peer.subscribe()), headers=headers)
    assert (response.status_code, reason in response.text) == (status, True)
    assert peer.received == []


async def test_a_body_that_does_not_decrypt_is_refused(peer: WebPushPeer) -> None:
    """A flipped ciphertext byte, a body for another subscription, or a truncated header
    gets 400: the service really decrypts."""
    subscription, other = peer.subscribe(), peer.subscribe()
    request = valid_request(subscription)
    flipped = request.body[:-1] + bytes([request.body[-1] ^ 1])
    assert (await post(request, body=flipped)).status_code == 400
    assert (await post(request, body=valid_request(other).body)).status_code == 400
    assert (await post(request, body=request.body[:20])).status_code == 400
    assert peer.received == [] and len(peer.refused) == 3


async def test_unknown_and_unsubscribed_endpoints_are_gone(peer: WebPushPeer) -> None:
    """404 for an endpoint never issued, 410 once the browser unsubscribed."""
    subscription = peer.subscribe()
    request = valid_request(subscription)
    unknown = WebPushRequest(f"{peer.origin}/push/nobody", request.headers, request.body)
    assert (await post(unknown)).status_code == 404
    peer.unsubscribe(subscription)
    assert (await post(request)).status_code == 410


async def test_scripts_run_out_and_a_subscription_script_wins(peer: WebPushPeer) -> None:
    """A global 503 for two requests, then 201; a subscription's own 410 overrides the
    global script for it alone."""
    plain, special = peer.subscribe(), peer.subscribe()
    peer.answer(503, retry_after="2", times=2)
    peer.answer(410, subscription=special)
    statuses = [(await post(valid_request(plain))).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert (await post(valid_request(special))).status_code == 410
    assert [item.status for item in peer.received] == [503, 503, 201, 410]


async def test_a_hanging_request_answers_once_released(peer: WebPushPeer) -> None:
    """hang() holds a request (counted in `hanging`) until release()."""
    subscription = peer.subscribe()
    peer.hang(times=1)
    pending = asyncio.create_task(post(valid_request(subscription)))
    async with asyncio.timeout(10):
        await peer.wait_until(lambda: peer.hanging == 1)
        assert not pending.done()
        peer.release()
        assert (await pending).status_code == 201
        await peer.wait_until(lambda: peer.hanging == 0)


async def test_the_peer_runs_as_its_own_process() -> None:
    """`python -m tests.peers.webpush --port 0` serves; a subscription made over its control
    API receives, and GET /_peer/received shows the decrypted payload."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.peers.webpush",
        "--port",
        "0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        origin = line.decode().strip().rsplit(" ", 1)[1]
        async with httpx.AsyncClient(base_url=origin, timeout=10) as client:
            created = (await client.post("/_peer/subscriptions")).json()
            keys = created["subscription"]["keys"]
            assert created["subscription"]["endpoint"] == f"{origin}/push/{created['id']}"
            await client.post("/_peer/answer", json={"status": 429, "retry_after": "3", "times": 1})
            target = WebPushSubscription(
                created["subscription"]["endpoint"], keys["p256dh"], keys["auth"]
            )
            request = to_webpush_request(
                MESSAGE, target, vapid=VAPID, ttl_seconds=60, now=time.time()
            )
            first = await client.post(
                request.url, headers=dict(request.headers), content=request.body
            )
            second = await client.post(
                request.url, headers=dict(request.headers), content=request.body
            )
            assert (first.status_code, first.headers["retry-after"]) == (429, "3")
            assert second.status_code == 201
            received = (await client.get("/_peer/received")).json()
        assert [item["payload"] for item in received] == [MESSAGE.to_payload()] * 2
        assert [item["status"] for item in received] == [429, 201]
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) is not None
