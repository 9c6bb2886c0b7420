"""A local Web Push service that speaks the real protocol (RFC 8030, 8291, 8292).

It issues browser-like subscriptions whose private key and auth secret it holds, as a browser
does (`subscribe()`), and for each `POST /push/<id>`:

1. checks the VAPID `Authorization: vapid t=<JWT>, k=<key>`: ES256 signature by `k` (once per
   distinct token and key, as push services cache verified tokens), `aud` =
   this service's origin, `exp` in the future and at most 24 h ahead, `sub` mailto:/https: —
   401 otherwise (403 when `k` is not the key the subscription was made with);
2. checks the headers (`TTL` present, `Urgency` and `Topic` valid, `Content-Encoding:
   aes128gcm`) — 400 otherwise; a body over 4096 bytes — 413;
3. decrypts the aes128gcm body (one record, the sender's point as key id) with the
   subscription's private key and auth secret and parses the JSON — 400 otherwise;
4. records it (`received`) and answers as scripted: 201 by default, or any status with an
   optional Retry-After, or hangs until `release()`.

Refused requests are recorded in `refused`. Unknown subscriptions get 404, unsubscribed ones
410. Runs on 127.0.0.1, port 0 by default, in a background thread (`with`/`async with`), or
as its own process: `python -m tests.peers.webpush --port N`, scripted then over HTTP under
`/_peer/` (see `control_routes`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

import http_ece
import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from push.message import WebPushSubscription

MAX_BODY = 4096
MAX_EXP_AHEAD = 24 * 3600
TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
URGENCIES = ("very-low", "low", "normal", "high")
VERIFIED_TOKENS = 1000  # distinct (JWT, key) pairs whose signature check is remembered


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


class Refusal(Exception):
    """A request the service does not accept: its HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class PeerSubscription:
    """A browser's side of a subscription: the endpoint, and the keys only it (the test)
    knows. `target` is what the server stores; `to_json()` is `PushSubscription.toJSON()`."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)
    application_server_key: str | None = None

    @property
    def p256dh(self) -> str:
        return b64url(point(self.private_key))

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    @property
    def target(self) -> WebPushSubscription:
        return WebPushSubscription(endpoint=self.endpoint, p256dh=self.p256dh, auth=self.auth)

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass(frozen=True)
class Received:
    """An accepted request: lower-cased headers, the decrypted JSON, the JWT's claims, the
    status answered (`hung`: held until `release()`), and when it arrived (epoch seconds)."""

    subscription_id: str
    headers: dict[str, str]
    payload: dict[str, Any]
    claims: dict[str, Any]
    status: int
    hung: bool
    at: float
    client: str  # the sender's host:port (one per connection)


@dataclass(frozen=True)
class Refused:
    """A request that failed a check (or went to an unknown/unsubscribed subscription)."""

    path: str
    status: int
    reason: str
    headers: dict[str, str]
    at: float


@dataclass
class Answer:
    """How to answer accepted requests: `status` (+ `Retry-After`, a body), or hang until
    `release()` and then answer `status`; `times` answers, then the next script (None: all)."""

    status: int = 201
    retry_after: str | None = None
    body: str = ""
    hang: bool = False
    times: int | None = None


class WebPushPeer:
    """The service (see the module docstring). Thread-safe: a test on any event loop scripts
    it and waits on it while it serves on its own thread."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.host = host
        self.clock = clock
        self._socket = socket.create_server((host, port))
        self.port: int = self._socket.getsockname()[1]
        self.origin = f"http://{host}:{self.port}"
        self._lock = threading.Lock()
        self._subscriptions: dict[str, PeerSubscription] = {}
        self._unsubscribed: set[str] = set()
        self._scripts: dict[str | None, list[Answer]] = {}
        self._received: list[Received] = []
        self._refused: list[Refused] = []
        self._verified: dict[tuple[str, bytes], dict[str, Any]] = {}  # (JWT, k) → claims
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._hanging = 0
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[Route("/push/{id}", self._push, methods=["POST"]), *control_routes(self)]
        )

    # -- subscriptions and scripts (any thread) ---------------------------------------------

    def subscribe(self, *, application_server_key: str | None = None) -> PeerSubscription:
        """A new subscription, as `pushManager.subscribe()` makes; with an
        `application_server_key`, requests signed by another key are refused (403)."""
        sub_id = secrets.token_urlsafe(12)
        subscription = PeerSubscription(
            id=sub_id,
            endpoint=f"{self.origin}/push/{sub_id}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
            application_server_key=application_server_key,
        )
        with self._lock:
            self._subscriptions[sub_id] = subscription
        return subscription

    def unsubscribe(self, subscription: PeerSubscription | str) -> None:
        """The browser dropped it: later requests get 410 Gone."""
        with self._lock:
            self._unsubscribed.add(_sub_id(subscription))

    def answer(
        self,
        status: int = 201,
        *,
        retry_after: str | None = None,
        body: str = "",
        times: int | None = None,
        subscription: PeerSubscription | str | None = None,
    ) -> None:
        """Answer `status` from now on (or `times` times) — for one subscription, or all."""
        self.script(Answer(status, retry_after, body, False, times), subscription)

    def hang(
        self, *, times: int | None = None, subscription: PeerSubscription | str | None = None
    ) -> None:
        """Never answer until `release()` (then 201)."""
        self.script(Answer(hang=True, times=times), subscription)

    def script(self, answer: Answer, subscription: PeerSubscription | str | None = None) -> None:
        """Queue `answer`: one with `times` runs out, then the next one applies; a newly
        queued answer without `times` replaces the whole queue."""
        key = None if subscription is None else _sub_id(subscription)
        with self._lock:
            queue = self._scripts.setdefault(key, [])
            if answer.times is None:
                queue.clear()
            queue.append(answer)

    def reset(self) -> None:
        """Back to answering 201 to everyone; hanging requests are released."""
        with self._lock:
            self._scripts.clear()
        self.release()

    def release(self) -> None:
        """Let every hanging request answer."""
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._release_now)
            except RuntimeError:  # stopped
                pass

    def _release_now(self) -> None:
        held, self._release = self._release, asyncio.Event()
        if held is not None:
            held.set()

    # -- what happened ------------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def refused(self) -> list[Refused]:
        with self._lock:
            return list(self._refused)

    @property
    def hanging(self) -> int:
        """Requests held right now."""
        with self._lock:
            return self._hanging

    def received_by(self, subscription: PeerSubscription | str) -> list[Received]:
        sub_id = _sub_id(subscription)
        return [item for item in self.received if item.subscription_id == sub_id]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Until `condition()` holds, re-checked whenever a request was handled (wrap in
        `asyncio.timeout`)."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(waiter)
        try:
            while True:
                waiter[1].clear()
                if condition():
                    return
                await waiter[1].wait()
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    async def wait_received(
        self, count: int, subscription: PeerSubscription | str | None = None
    ) -> list[Received]:
        """The accepted requests (of `subscription`), once there are at least `count`."""

        def items() -> list[Received]:
            return self.received if subscription is None else self.received_by(subscription)

        await self.wait_until(lambda: len(items()) >= count)
        return items()

    async def wait_refused(self, count: int) -> list[Refused]:
        await self.wait_until(lambda: len(self.refused) >= count)
        return self.refused

    def _changed(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                pass

    # -- the protocol -------------------------------------------------------------------------

    async def _push(self, request: Request) -> Response:
        headers = {key.lower(): value for key, value in request.headers.items()}
        body = await request.body()
        try:
            subscription = self._subscription(request.path_params["id"])
            claims = self.verify_vapid(headers.get("authorization", ""), subscription)
            check_headers(headers, body)
            payload = decrypt(body, subscription)
        except Refusal as refusal:
            with self._lock:
                self._refused.append(
                    Refused(request.url.path, refusal.status, refusal.reason, headers, self.clock())
                )
            self._changed()
            return Response(refusal.reason, status_code=refusal.status)
        answer = self._next_answer(subscription.id)
        with self._lock:
            self._received.append(
                Received(
                    subscription.id,
                    headers,
                    payload,
                    claims,
                    answer.status,
                    answer.hang,
                    self.clock(),
                    f"{request.client.host}:{request.client.port}" if request.client else "",
                )
            )
            self._hanging += answer.hang
        self._changed()
        if answer.hang:
            await self._hold()
        extra = {"Retry-After": answer.retry_after} if answer.retry_after is not None else {}
        if answer.status == 201:
            extra["Location"] = f"{self.origin}/message/{secrets.token_urlsafe(8)}"
        return Response(answer.body, status_code=answer.status, headers=extra)

    async def _hold(self) -> None:
        assert self._release is not None
        try:
            await self._release.wait()
        finally:
            with self._lock:
                self._hanging -= 1
            self._changed()

    def _subscription(self, sub_id: str) -> PeerSubscription:
        with self._lock:
            subscription = self._subscriptions.get(sub_id)
            gone = sub_id in self._unsubscribed
        if subscription is None:
            raise Refusal(404, "no such subscription")
        if gone:
            raise Refusal(410, "push subscription has unsubscribed or expired")
        return subscription

    def _next_answer(self, sub_id: str) -> Answer:
        with self._lock:
            for key in (sub_id, None):
                queue = self._scripts.get(key)
                if queue:
                    answer = queue[0]
                    if answer.times is not None:
                        answer.times -= 1
                        if answer.times <= 0:
                            queue.pop(0)
                    return answer
        return Answer()

    def verify_vapid(self, authorization: str, subscription: PeerSubscription) -> dict[str, Any]:
        """The JWT's claims when `authorization` is a valid VAPID header for this service."""
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise Refusal(401, "authorization scheme must be vapid")
        params = dict(part.strip().partition("=")[::2] for part in rest.split(",") if "=" in part)
        if "t" not in params or "k" not in params:
            raise Refusal(401, "vapid needs t= and k=")
        try:
            key_bytes = b64url_decode(params["k"])
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_bytes)
        except ValueError as exc:
            raise Refusal(401, "k is not a P-256 public key") from exc
        wanted = subscription.application_server_key
        if wanted is not None and b64url_decode(wanted) != key_bytes:
            raise Refusal(403, "k is not the subscription's applicationServerKey")
        claims = self._verified_claims(params["t"], key_bytes, key)
        if claims.get("aud") != self.origin:
            raise Refusal(401, f"aud {claims.get('aud')!r} is not {self.origin}")
        exp, now = claims.get("exp"), self.clock()
        if not isinstance(exp, int) or exp <= now:
            raise Refusal(401, "exp missing or past")
        if exp > now + MAX_EXP_AHEAD:
            raise Refusal(401, "exp more than 24 hours ahead")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.startswith(("mailto:", "https://")):
            raise Refusal(401, "sub must be mailto: or https:")
        return claims

    def _verified_claims(
        self, token: str, key_bytes: bytes, key: ec.EllipticCurvePublicKey
    ) -> dict[str, Any]:
        """`verify_jwt`, once per distinct (token, key): a sender reuses its JWT for hours, as
        push services cache verified tokens too; the claims are checked on every request."""
        cached = self._verified.get((token, key_bytes))
        if cached is None:
            cached = verify_jwt(token, key)
            with self._lock:
                if len(self._verified) >= VERIFIED_TOKENS:
                    self._verified.clear()
                self._verified[(token, key_bytes)] = cached
        return dict(cached)

    # -- running --------------------------------------------------------------------------

    async def serve(self) -> None:
        """Serve until `stop()` (or SIGINT/SIGTERM when on the main thread)."""
        self._loop = asyncio.get_running_loop()
        self._release = asyncio.Event()
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            http="httptools",  # the C parser: the peer is the benchmark's other side
            loop="asyncio",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=60,  # push services keep connections open for long
        )
        self._server = uvicorn.Server(config)
        await self._server.serve(sockets=[self._socket])

    def start(self) -> WebPushPeer:
        """Serve on a background thread; returns once it accepts requests."""
        self._thread = threading.Thread(
            target=asyncio.run, args=(self.serve(),), name=f"webpush-peer-{self.port}"
        )
        self._thread.daemon = True
        self._thread.start()
        deadline = time.monotonic() + 10
        while self._server is None or not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Web Push peer did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> WebPushPeer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> WebPushPeer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


def _sub_id(subscription: PeerSubscription | str) -> str:
    return subscription if isinstance(subscription, str) else subscription.id


def verify_jwt(token: str, key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The claims of an ES256 JWT signed by `key` (JWS compact form, raw r||s signature)."""
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(claims_b64))
        signature = b64url_decode(signature_b64)
    except ValueError as exc:
        raise Refusal(401, "t is not a JWT") from exc
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise Refusal(401, "JWT alg must be ES256")
    if not isinstance(claims, dict) or len(signature) != 64:
        raise Refusal(401, "JWT claims or signature malformed")
    der = utils.encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise Refusal(401, "JWT signature does not verify with k") from exc
    return claims


def check_headers(headers: dict[str, str], body: bytes) -> None:
    """RFC 8030 §5.2–5.4 and RFC 8291 §4 on the request's headers and size."""
    if not headers.get("ttl", "").isdigit():
        raise Refusal(400, "TTL missing or not a non-negative integer")
    if headers.get("urgency", "normal") not in URGENCIES:
        raise Refusal(400, "Urgency not very-low|low|normal|high")
    if "topic" in headers and not TOPIC.fullmatch(headers["topic"]):
        raise Refusal(400, "Topic not ≤ 32 base64url characters")
    if headers.get("content-encoding") != "aes128gcm":
        raise Refusal(400, "Content-Encoding must be aes128gcm")
    if len(body) > MAX_BODY:
        raise Refusal(413, f"payload of {len(body)} bytes exceeds {MAX_BODY}")


def decrypt(body: bytes, subscription: PeerSubscription) -> dict[str, Any]:
    """The JSON in an aes128gcm body for `subscription`: one record, the sender's
    uncompressed P-256 point as key id (RFC 8291 §4)."""
    if len(body) < 21:
        raise Refusal(400, "body shorter than the aes128gcm header")
    record_size, id_length = struct.unpack("!LB", body[16:21])
    if id_length != 65 or len(body) - 21 - id_length > record_size:
        raise Refusal(400, "keyid is not a P-256 point, or more than one record")
    try:
        plaintext = http_ece.decrypt(
            body,
            private_key=subscription.private_key,
            auth_secret=subscription.auth_secret,
            version="aes128gcm",
        )
        payload = json.loads(plaintext)
    except (http_ece.ECEException, ValueError) as exc:
        raise Refusal(400, f"cannot decrypt: {exc}") from exc
    if not isinstance(payload, dict):
        raise Refusal(400, "payload is not a JSON object")
    return payload


def control_routes(peer: WebPushPeer) -> list[Route]:
    """Scripting over HTTP, for a peer in another process (the demo):
    `POST /_peer/subscriptions` {application_server_key?} → {id, subscription: toJSON};
    `DELETE /_peer/subscriptions/<id>` unsubscribes; `POST /_peer/answer` {status,
    retry_after?, body?, times?, hang?, subscription?}; `POST /_peer/release`;
    `GET /_peer/received` and `GET /_peer/refused` list what happened."""

    async def create(request: Request) -> Response:
        options = await request.json() if await request.body() else {}
        sub = peer.subscribe(application_server_key=options.get("application_server_key"))
        return JSONResponse({"id": sub.id, "subscription": sub.to_json()}, status_code=201)

    async def delete(request: Request) -> Response:
        peer.unsubscribe(request.path_params["id"])
        return Response(status_code=204)

    async def answer(request: Request) -> Response:
        options = await request.json()
        target = options.pop("subscription", None)
        peer.script(Answer(**options), target)
        return Response(status_code=204)

    async def release(request: Request) -> Response:
        peer.release()
        return Response(status_code=204)

    async def received(request: Request) -> Response:
        return JSONResponse([asdict(item) for item in peer.received])

    async def refused(request: Request) -> Response:
        return JSONResponse([asdict(item) for item in peer.refused])

    return [
        Route("/_peer/subscriptions", create, methods=["POST"]),
        Route("/_peer/subscriptions/{id}", delete, methods=["DELETE"]),
        Route("/_peer/answer", answer, methods=["POST"]),
        Route("/_peer/release", release, methods=["POST"]),
        Route("/_peer/received", received, methods=["GET"]),
        Route("/_peer/refused", refused, methods=["GET"]),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local Web Push service for pdv-alert.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    peer = WebPushPeer(args.host, args.port)
    print(f"webpush peer listening on {peer.origin}", flush=True)
    asyncio.run(peer.serve())


if __name__ == "__main__":
    main()
