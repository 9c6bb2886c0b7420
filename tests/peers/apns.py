"""A local APNs stand-in: HTTP/2 over TLS (h2 + asyncio) on 127.0.0.1, port 0.

It makes its own CA and server certificate (the client trusts `ca_file`), checks each request
as APNs does — `POST /3/device/<hex token>`, the `apns-*` headers (push type, priority, topic,
expiration, collapse id), the JSON payload and the ES256 provider token in `authorization:
bearer …` against the keys it was told to trust (verified here with `cryptography`, not with
the JWT library the sender signs with) — records every request, and answers 200 with an
`apns-id`, or what a test scripted per device token or for all: an APNs error (400, 403, 410
with a timestamp, 429, 500, 503, optionally with `Retry-After`), a GOAWAY, or no answer.

In tests: `async with APNsStandIn(topic=…, directory=tmp_path) as apns: apns.trust(key)`.
For the demo: `python -m tests.peers.apns --directory var/apns` prints one JSON line with the
settings to use (`apns_url`, `apns_ca_file`, `apns_key_file`, `apns_key_id`, `apns_team_id`,
`apns_topic`; the key is made on the first run and kept), logs each request to stderr (unless
`--quiet`) and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import datetime
import functools
import ipaddress
import json
import re
import signal
import ssl
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

TOKEN_PATH = re.compile(r"/3/device/((?:[0-9a-fA-F]{2}){8,200})")
PUSH_TYPES = {"alert", "background"}
MAX_PAYLOAD = 4096
TOKEN_LIFETIME = 3600  # APNs refuses a provider token older than one hour
CLOCK_SKEW = 60  # an `iat` this far ahead is still accepted
MAX_STREAMS = 1000  # concurrent streams per connection, as APNs allows a verified provider


@dataclass(frozen=True, slots=True)
class ProviderKey:
    """An APNs signing key as Apple issues it: the .p8 PEM text, its key id and team id."""

    key_id: str
    team_id: str
    pem: str

    @classmethod
    def generate(cls, *, key_id: str = "ABC123DEFG", team_id: str = "DEF123GHIJ") -> ProviderKey:
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return cls(key_id=key_id, team_id=team_id, pem=pem)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return _public_key(self.pem)


@functools.lru_cache(maxsize=64)
def _public_key(pem: str) -> ec.EllipticCurvePublicKey:
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return private.public_key()


@dataclass(frozen=True, slots=True)
class Answer:
    """What the stand-in answers: a status with APNs' `reason` (and `Retry-After`, a 410's
    `timestamp`), a GOAWAY (the request not processed), or nothing (`hang`)."""

    status: int = 200
    reason: str = ""
    retry_after: str | None = None
    timestamp: int | None = None
    goaway: bool = False
    hang: bool = False

    @classmethod
    def error(cls, status: int, reason: str, *, retry_after: str | None = None) -> Answer:
        return cls(status=status, reason=reason, retry_after=retry_after)

    @classmethod
    def unregistered(cls, timestamp_ms: int | None = None) -> Answer:
        when = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        return cls(status=410, reason="Unregistered", timestamp=when)

    @classmethod
    def go_away(cls) -> Answer:
        return cls(goaway=True)

    @classmethod
    def no_answer(cls) -> Answer:
        return cls(hang=True)


OK = Answer()


@dataclass(slots=True)
class Recorded:
    """One request as the stand-in saw it, and what it answered."""

    connection: int
    method: str
    path: str
    token: str | None
    headers: dict[str, str]
    payload: Any
    claims: dict[str, Any] | None  # the provider token's, when its signature held
    answer: Answer = OK


@dataclass(slots=True)
class _Rule:
    answer: Answer
    token: str | None
    times: int | None  # None: every time


@dataclass(slots=True)
class _Stream:
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)


class APNsStandIn:
    """The stand-in server. `url` and `ca_file` are what the sender is given; `trust(key)`
    accepts provider tokens signed by that key; `script(answer, token=…, times=…)` decides
    answers (newest rule first, a token's before the global ones; default 200)."""

    def __init__(
        self,
        *,
        topic: str,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topic = topic
        self.host = host
        self.clock = clock
        self.requests: list[Recorded] = []
        self.connections = 0  # accepted so far
        self.open_connections = 0
        self.ca_file, self._cert_file, self._key_file = make_certificates(directory, host)
        self._port = port
        self._keys: dict[str, ProviderKey] = {}
        self._verified: dict[str, dict[str, Any]] = {}  # token → claims, as APNs caches them
        self._rules: list[_Rule] = []
        self._server: asyncio.Server | None = None
        self._live: set[_StandInConnection] = set()
        self._changed = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the stand-in first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def trust(self, key: ProviderKey) -> None:
        self._keys[key.key_id] = key

    def script(self, answer: Answer, *, token: str | None = None, times: int | None = None) -> None:
        self._rules.insert(0, _Rule(answer=answer, token=token, times=times))

    def clear_script(self) -> None:
        self._rules.clear()

    async def start(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert_file, self._key_file)
        context.set_alpn_protocols(["h2"])
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _StandInConnection(self), self.host, self._port, ssl=context
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._live):
            connection.close()
        await self._server.wait_closed()

    async def __aenter__(self) -> APNsStandIn:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def wait_for(self, count: int) -> None:
        """Until at least `count` requests arrived (wrap in `asyncio.timeout`)."""
        await self.wait_until(lambda: len(self.requests) >= count)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self._changed.clear()
            await self._changed.wait()

    def release(self) -> int:
        """Answer every request held by `no_answer()` with 200 now; how many were held."""
        return sum(connection.release() for connection in list(self._live))

    # -- called by the connections ----------------------------------------------------------

    def _changed_now(self) -> None:
        self._changed.set()

    def _answer(self, connection: int, stream: _Stream) -> Recorded:
        headers = stream.headers
        path = headers.get(":path", "")
        match = TOKEN_PATH.fullmatch(path)
        token = match.group(1) if match else None
        claims, refusal = self._authorize(headers.get("authorization", ""))
        payload: Any = None
        with contextlib.suppress(ValueError):
            payload = json.loads(bytes(stream.body))
        recorded = Recorded(
            connection=connection,
            method=headers.get(":method", ""),
            path=path,
            token=token,
            headers={k: v for k, v in headers.items() if not k.startswith(":")},
            payload=payload,
            claims=claims,
        )
        refusal = self._refuse_request(recorded, len(stream.body)) if refusal is None else refusal
        recorded.answer = refusal or self._scripted(token)
        self.requests.append(recorded)
        self._changed.set()
        return recorded

    def _scripted(self, token: str | None) -> Answer:
        for rules in (
            [rule for rule in self._rules if rule.token is not None and rule.token == token],
            [rule for rule in self._rules if rule.token is None],
        ):
            for rule in rules:
                if rule.times is None:
                    return rule.answer
                if rule.times > 0:
                    rule.times -= 1
                    return rule.answer
        return OK

    def _authorize(self, authorization: str) -> tuple[dict[str, Any] | None, Answer | None]:
        """The provider token's claims when it verifies, else APNs' 403 answer."""
        if not authorization.startswith("bearer "):
            return None, Answer.error(403, "MissingProviderToken")
        token = authorization.removeprefix("bearer ")
        claims = self._verified.get(token)
        if claims is None:
            claims = verify_provider_token(token, self._keys)
            if claims is not None:
                if len(self._verified) >= 1000:
                    self._verified.clear()
                self._verified[token] = claims
        if claims is None:
            return None, Answer.error(403, "InvalidProviderToken")
        iat = claims["iat"]
        now = self.clock()
        if iat > now + CLOCK_SKEW:
            return None, Answer.error(403, "InvalidProviderToken")
        if now - iat > TOKEN_LIFETIME:
            return claims, Answer.error(403, "ExpiredProviderToken")
        return claims, None

    def _refuse_request(self, recorded: Recorded, size: int) -> Answer | None:
        """APNs' 4xx answer to a malformed request, or None."""
        headers = recorded.headers
        if recorded.method != "POST":
            return Answer.error(405, "MethodNotAllowed")
        if not recorded.path.startswith("/3/device/"):
            return Answer.error(404, "BadPath")
        if recorded.token is None:
            return Answer.error(400, "BadDeviceToken")
        push_type = headers.get("apns-push-type")
        if push_type not in PUSH_TYPES:
            return Answer.error(400, "InvalidPushType")
        if headers.get("apns-priority") != ("5" if push_type == "background" else "10"):
            return Answer.error(400, "BadPriority")
        if headers.get("apns-topic") != self.topic:
            return Answer.error(
                400, "TopicDisallowed" if "apns-topic" in headers else "MissingTopic"
            )
        if not headers.get("apns-expiration", "").isdigit():
            return Answer.error(400, "BadExpirationDate")
        if not 0 < len(headers.get("apns-collapse-id", "").encode()) <= 64:
            return Answer.error(400, "BadCollapseId")
        if size > MAX_PAYLOAD:
            return Answer.error(413, "PayloadTooLarge")
        return _refuse_payload(recorded.payload, push_type)


def _refuse_payload(payload: Any, push_type: str) -> Answer | None:
    if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
        return Answer.error(400, "PayloadEmpty")
    aps = payload["aps"]
    if push_type == "background" and (aps.get("content-available") != 1 or "alert" in aps):
        return Answer.error(400, "BadPayload")  # a stand-in check: background means no alert
    if push_type == "alert" and not isinstance(aps.get("alert"), dict | str):
        return Answer.error(400, "PayloadEmpty")
    return None


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_provider_token(token: str, keys: dict[str, ProviderKey]) -> dict[str, Any] | None:
    """The claims of an ES256 provider token whose `kid` is a trusted key, whose `iss` is that
    key's team and whose signature holds; None otherwise. (`iat`'s age is the caller's.)"""
    try:
        encoded_header, encoded_claims, encoded_signature = token.split(".")
        header = json.loads(_b64url(encoded_header))
        claims = json.loads(_b64url(encoded_claims))
        signature = _b64url(encoded_signature)
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    key = keys.get(header.get("kid", ""))
    if header.get("alg") != "ES256" or key is None or len(signature) != 64:
        return None
    if claims.get("iss") != key.team_id or not isinstance(claims.get("iat"), int):
        return None
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    signed = f"{encoded_header}.{encoded_claims}".encode()
    try:
        key.public_key().verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return None
    return claims


class _StandInConnection(asyncio.Protocol):
    """One client connection: h2 server side, answering each request at its stream's end."""

    def __init__(self, stand_in: APNsStandIn) -> None:
        self.stand_in = stand_in
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.h2.local_settings = Settings(
            client=False, initial_values={SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS}
        )
        self.transport: asyncio.Transport | None = None
        self.number = 0
        self.streams: dict[int, _Stream] = {}
        self.held: dict[int, str] = {}  # stream id → apns-id of requests not answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stand_in.connections += 1
        self.stand_in.open_connections += 1
        self.number = self.stand_in.connections
        self.stand_in._live.add(self)
        self.h2.initiate_connection()
        self._flush()
        self.stand_in._changed_now()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stand_in._live.discard(self)
        self.stand_in.open_connections -= 1
        self.stand_in._changed_now()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except ProtocolError:
            self._flush()
            self.close()
            return
        for event in events:
            if isinstance(event, RequestReceived) and event.stream_id is not None:
                headers = {str(k): str(v) for k, v in event.headers or []}
                self.streams[event.stream_id] = _Stream(headers=headers)
            elif isinstance(event, DataReceived) and event.stream_id is not None:
                self.streams[event.stream_id].body.extend(event.data or b"")
                self.h2.acknowledge_received_data(
                    event.flow_controlled_length or 0, event.stream_id
                )
            elif isinstance(event, StreamEnded) and event.stream_id is not None:
                self._respond(event.stream_id)
            elif isinstance(event, ConnectionTerminated):
                self.close()
        self._flush()

    def _respond(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id)
        apns_id = stream.headers.get("apns-id") or str(uuid.uuid4()).upper()
        answer = self.stand_in._answer(self.number, stream).answer
        if answer.hang:
            self.held[stream_id] = apns_id
        elif answer.goaway:
            data = json.dumps({"reason": "Shutdown"}).encode()
            self.h2.close_connection(last_stream_id=max(0, stream_id - 2), additional_data=data)
            self._flush()
            self.close()
        else:
            self._send(stream_id, apns_id, answer)

    def _send(self, stream_id: int, apns_id: str, answer: Answer) -> None:
        headers = [(":status", str(answer.status)), ("apns-id", apns_id)]
        if answer.status == 200:
            self.h2.send_headers(stream_id, headers, end_stream=True)
            return
        body: dict[str, Any] = {"reason": answer.reason}
        if answer.timestamp is not None:
            body["timestamp"] = answer.timestamp
        headers.append(("content-type", "application/json"))
        if answer.retry_after is not None:
            headers.append(("retry-after", answer.retry_after))
        self.h2.send_headers(stream_id, headers)
        self.h2.send_data(stream_id, json.dumps(body).encode(), end_stream=True)

    def release(self) -> int:
        held, self.held = self.held, {}
        for stream_id, apns_id in held.items():
            self._send(stream_id, apns_id, OK)
        self._flush()
        return len(held)

    def _flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def make_certificates(directory: Path, host: str) -> tuple[str, str, str]:
    """A CA and a server certificate for `host` (and localhost) it signed, written under
    `directory`: (CA file, certificate file, key file)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pdv-alert APNs stand-in CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "apns-ca.pem"
    cert_file = directory / "apns-server.pem"
    key_file = directory / "apns-server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return str(ca_file), str(cert_file), str(key_file)


def _demo_key(directory: Path, key_id: str, team_id: str) -> tuple[ProviderKey, Path]:
    """The demo's signing key, kept under `directory` (made on the first run)."""
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / f"AuthKey_{key_id}.p8"
    if key_file.exists():
        return ProviderKey(key_id, team_id, key_file.read_text()), key_file
    key = ProviderKey.generate(key_id=key_id, team_id=team_id)
    key_file.write_text(key.pem)
    key_file.chmod(0o600)
    return key, key_file


async def _serve(arguments: argparse.Namespace, key: ProviderKey, key_file: Path) -> None:
    directory = Path(arguments.directory)
    stand_in = APNsStandIn(
        topic=arguments.topic, directory=directory, host=arguments.host, port=arguments.port
    )
    stand_in.trust(key)
    async with stand_in:
        settings = {
            "apns_url": stand_in.url,
            "apns_ca_file": stand_in.ca_file,
            "apns_key_file": str(key_file),
            "apns_key_id": key.key_id,
            "apns_team_id": key.team_id,
            "apns_topic": arguments.topic,
        }
        print(json.dumps(settings), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        seen = 0
        while not stop.is_set():
            waiter = asyncio.ensure_future(stand_in.wait_for(seen + 1))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopping}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopping.cancel()
            for recorded in [] if arguments.quiet else stand_in.requests[seen:]:
                aps = recorded.payload.get("aps") if isinstance(recorded.payload, dict) else None
                print(
                    f"{recorded.method} {recorded.path} → {recorded.answer.status}"
                    f" {recorded.answer.reason} aps={json.dumps(aps, ensure_ascii=False)}",
                    file=sys.stderr,
                    flush=True,
                )
            seen = len(stand_in.requests)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.peers.apns", description=__doc__)
    parser.add_argument("--directory", required=True, help="CA, certificate and .p8 key go here")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--topic", default="se.pdvalert.demo", help="the app's bundle id")
    parser.add_argument("--key-id", default="DEMOKEY001")
    parser.add_argument("--team-id", default="DEMOTEAM01")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    arguments = parser.parse_args(argv)
    key, key_file = _demo_key(Path(arguments.directory), arguments.key_id, arguments.team_id)
    asyncio.run(_serve(arguments, key, key_file))


if __name__ == "__main__":
    main()
