"""What does one Web Push notification cost the sender in CPU? Candidates for push/webpush.py,
measured the same way (bench/README.md, "Web Push: per-notification CPU").

Part 1, in process, no network: each step of building one request (VAPID JWT, aes128gcm
encryption) as pywebpush does it per call and as push/webpush.py does it.
Part 2, over HTTP to the local Web Push service (tests/peers/webpush.py) in its own process,
so its verification and decryption are not counted: the CPU of this process per notification
for pywebpush's async API (aiohttp) and for `WebPushSender` (httpx), N notifications with
C in flight.

    .venv/bin/python bench/push_crypto.py [--count 1000] [--concurrency 1,50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import http_ece  # noqa: E402
import httpx  # noqa: E402
import pywebpush  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from py_vapid import Vapid02  # noqa: E402

from push.message import Delivered, PushMessage, WebPushSubscription  # noqa: E402
from push.vapid import VapidTokens, generate_vapid_key, origin_of  # noqa: E402
from push.webpush import (  # noqa: E402
    WebPushRequest,
    WebPushSender,
    encode_payload,
    encrypt,
    subscription_keys,
    to_webpush_request,
)
from tests.peers.webpush import PeerSubscription  # noqa: E402

SUBJECT = "mailto:bench@pdv-alert.example"
TTL = 3600
MESSAGE = PushMessage(
    alert_id=123456,
    seq=98765,
    event="triggered",
    kind="pdv_lockdown",
    mode="actual",
    state="active",
    title="PDV – Pågående dödligt våld",
    body="Lås in er. Håll er borta från fönster och dörrar. Vänta på besked från polisen. " * 4,
    sites=("Västerskolan", "Västerskolan F–3"),
    url="https://larm.skola.example/alerts/123456",
)


def cpu_per_call(step: Callable[[], object], count: int) -> float:
    """Median over 5 batches of CPU µs per call."""
    samples = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(count):
            step()
        samples.append((time.process_time() - start) / count * 1e6)
    return statistics.median(samples)


def local_subscription(endpoint: str) -> WebPushSubscription:
    key = ec.generate_private_key(ec.SECP256R1())
    return PeerSubscription("b", endpoint, key, os.urandom(16)).target


def part_one(pem: str, count: int) -> list[tuple[str, float]]:
    subscription = local_subscription("https://fcm.googleapis.com/fcm/send/bench")
    info = {
        "endpoint": subscription.endpoint,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
    }
    vapid = Vapid02.from_pem(pem.encode())
    cache = VapidTokens(pem, subject=SUBJECT)
    plaintext = encode_payload(MESSAGE)
    data = plaintext.decode()
    audience = origin_of(subscription.endpoint)
    point, auth = subscription_keys(subscription)

    def pywebpush_sign() -> object:
        claims = {"sub": SUBJECT, "aud": audience, "exp": int(time.time()) + 12 * 3600}
        return vapid.sign(claims)

    def pywebpush_encode() -> object:
        return pywebpush.WebPusher(info).encode(plaintext, "aes128gcm")

    def pywebpush_request() -> object:
        pywebpush_sign()
        return pywebpush.WebPusher(info)._prepare_send_data(data, {}, ttl=TTL)

    def http_ece_encrypt() -> object:
        return encrypt(plaintext, subscription)

    def http_ece_only() -> object:  # without our key checks: the library's share
        return http_ece.encrypt(
            plaintext,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=point,
            auth_secret=auth,
            version="aes128gcm",
        )

    def ephemeral_key() -> object:
        return ec.generate_private_key(ec.SECP256R1())

    def our_request() -> object:
        return to_webpush_request(
            MESSAGE, subscription, vapid=cache, ttl_seconds=TTL, now=time.time()
        )

    return [
        ("VAPID JWT, signed per call (pywebpush)", cpu_per_call(pywebpush_sign, count)),
        (
            "VAPID JWT, cached per origin (VapidTokens)",
            cpu_per_call(
                lambda: cache.authorization(subscription.endpoint, now=time.time()), count
            ),
        ),
        ("P-256 key generation alone", cpu_per_call(ephemeral_key, count)),
        ("aes128gcm: pywebpush WebPusher.encode", cpu_per_call(pywebpush_encode, count)),
        ("aes128gcm: http_ece.encrypt alone", cpu_per_call(http_ece_only, count)),
        ("aes128gcm: push.webpush.encrypt (+ key checks)", cpu_per_call(http_ece_encrypt, count)),
        ("request: pywebpush (sign + encode + headers)", cpu_per_call(pywebpush_request, count)),
        ("request: to_webpush_request (cached JWT)", cpu_per_call(our_request, count)),
        ("payload JSON (encode_payload)", cpu_per_call(lambda: encode_payload(MESSAGE), count)),
        ("payload bytes", float(len(plaintext))),
    ]


async def start_peer() -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.peers.webpush",
        "--port",
        "0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    return process, line.decode().split()[-1]


async def subscriptions(origin: str, count: int) -> list[WebPushSubscription]:
    async with aiohttp.ClientSession() as session:
        made = []
        for _ in range(count):
            async with session.post(f"{origin}/_peer/subscriptions") as response:
                body = await response.json()
            keys = body["subscription"]["keys"]
            made.append(
                WebPushSubscription(body["subscription"]["endpoint"], keys["p256dh"], keys["auth"])
            )
        return made


async def measure(
    send: Callable[[WebPushSubscription], Awaitable[bool]],
    targets: list[WebPushSubscription],
    count: int,
    concurrency: int,
) -> tuple[float, float, int]:
    """CPU µs per notification, wall s, failures."""
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(index: int) -> None:
        nonlocal failures
        async with gate:
            try:
                delivered = await send(targets[index % len(targets)])
            except Exception:  # a client that raises (httpx) counts as a failure
                delivered = False
            failures += not delivered

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(count)))
    return (
        (time.process_time() - start_cpu) / count * 1e6,
        time.perf_counter() - start_wall,
        failures,
    )


Send = Callable[[WebPushSubscription], Awaitable[bool]]


def candidates(
    pem: str,
    session: aiohttp.ClientSession,
    httpx_client: httpx.AsyncClient,
    sender: WebPushSender,
) -> list[tuple[str, Send]]:
    data = encode_payload(MESSAGE).decode()
    vapid = Vapid02.from_pem(pem.encode())
    cache = VapidTokens(pem, subject=SUBJECT)
    timeout = aiohttp.ClientTimeout(total=10)

    async def pywebpush_signing(target: WebPushSubscription) -> bool:
        response = await pywebpush.webpush_async(
            {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}},
            data,
            vapid_private_key=vapid,
            vapid_claims={"sub": SUBJECT},
            ttl=TTL,
            headers={"Urgency": "high", "Topic": MESSAGE.topic},
            aiohttp_session=session,
            timeout=timeout,  # type: ignore[arg-type]
        )
        return not isinstance(response, str) and response.status == 201

    def request(target: WebPushSubscription) -> WebPushRequest:
        return to_webpush_request(MESSAGE, target, vapid=cache, ttl_seconds=TTL, now=time.time())

    async def builder_httpx(target: WebPushSubscription) -> bool:
        built = request(target)
        response = await httpx_client.post(
            built.url, headers=dict(built.headers), content=built.body
        )
        return response.status_code == 201

    async def builder_aiohttp(target: WebPushSubscription) -> bool:
        built = request(target)
        async with session.post(
            built.url, headers=dict(built.headers), data=built.body, timeout=timeout
        ) as response:
            await response.read()
            return response.status == 201

    async def sender_send(target: WebPushSubscription) -> bool:
        return isinstance(await sender.send(MESSAGE, target), Delivered)

    return [
        ("pywebpush.webpush_async (signs each call), aiohttp", pywebpush_signing),
        ("to_webpush_request (cached JWT) + httpx", builder_httpx),
        ("to_webpush_request (cached JWT) + aiohttp", builder_aiohttp),
        ("WebPushSender.send (as built)", sender_send),
    ]


async def compare(
    sends: list[tuple[str, Send]],
    targets: list[WebPushSubscription],
    count: int,
    concurrency: int,
    rounds: int,
) -> list[tuple[str, int, float, float, int]]:
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _ in sends}
    for _name, send in sends:  # warm-up: connections, imports
        await measure(send, targets, min(count, 200), concurrency)
    for _ in range(rounds):  # alternate, so drifts of the machine hit all alike
        for name, send in sends:
            results[name].append(await measure(send, targets, count, concurrency))
    return [
        (
            name,
            concurrency,
            statistics.median(cpu for cpu, _, _ in runs),
            statistics.median(wall for _, wall, _ in runs),
            sum(failed for _, _, failed in runs),
        )
        for name, runs in results.items()
    ]


async def part_two(
    pem: str, count: int, concurrencies: list[int], rounds: int
) -> list[tuple[str, int, float, float, int]]:
    process, origin = await start_peer()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    httpx_client = httpx.AsyncClient(
        timeout=10, limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
    )
    sender = WebPushSender(vapid_private_key=pem, vapid_subject=SUBJECT, ttl_seconds=TTL)
    try:
        targets = await subscriptions(origin, 100)
        sends = candidates(pem, session, httpx_client, sender)
        rows = []
        for concurrency in concurrencies:
            rows += await compare(sends, targets, count, concurrency, rounds)
        return rows
    finally:
        await session.close()
        await httpx_client.aclose()
        await sender.aclose()
        process.terminate()
        await process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000, help="notifications per run (part 2)")
    parser.add_argument(
        "--concurrency", default="1,50", help="requests in flight, comma-separated (part 2)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=400, help="calls per batch (part 1)")
    args = parser.parse_args()
    concurrencies = [int(item) for item in args.concurrency.split(",")]
    pem = generate_vapid_key()
    libraries = ("cryptography", "http_ece", "py-vapid", "pywebpush", "httpx", "httpcore")
    libraries += ("anyio", "aiohttp")
    print(
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        + ", ".join(f"{name} {installed(name)}" for name in (*libraries, "sniffio"))
    )
    print("\npart 1: building one request, CPU µs per call (median of 5 batches)")
    print(f"{'step':<52}{'µs':>10}")
    print("-" * 62)
    for name, value in part_one(pem, args.calls):
        print(f"{name:<52}{value:>10.1f}")
    print(
        f"\npart 2: {args.count} notifications to the local service per run, median of"
        f" {args.rounds} alternating runs; CPU of the sending process only"
    )
    print(f"{'candidate':<52}{'in flight':>10}{'CPU µs/notif':>14}{'wall s':>9}{'failed':>8}")
    print("-" * 93)
    for name, concurrency, cpu, wall, failed in asyncio.run(
        part_two(pem, args.count, concurrencies, args.rounds)
    ):
        print(f"{name:<52}{concurrency:>10}{cpu:>14.1f}{wall:>9.2f}{failed:>8}")


def installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


if __name__ == "__main__":
    main()
