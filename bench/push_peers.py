"""The local push peers as benchmark processes, driven by `push.py` over stdin/stdout.

    python bench/push_peers.py webpush
    python bench/push_peers.py apns --directory DIR

Each runs one of the project's peers unchanged (tests/peers/webpush.py `WebPushPeer`,
tests/peers/apns.py `APNsStandIn`: every request fully checked — VAPID JWT and aes128gcm
decryption, or the provider token and the `apns-*` headers) in its own process, so that its
CPU is not the server's, and adds what the benchmark needs and the peers' control API does
not give: arrival times on CLOCK_MONOTONIC (system-wide on Linux, the driver's clock), tallied
per event seq, and a wait for "N distinct devices got seq S".

Commands and answers are one JSON object per line:

    {"op": "subscribe", "count": N, "path": P}   (webpush) → {"op": "subscribed", "count"}
        writes N subscriptions to P, one `PushSubscription.toJSON()` per line
    {"op": "wait", "seq": S, "count": N, "timeout": T}
        → {"op": "tally", "seq", "devices", "requests", "first", "last", "refused", "statuses"}
    {"op": "quit"}

The first line printed is {"op": "started", ...} with the peer's address (and, for apns,
the settings the server needs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.peers.apns import APNsStandIn, ProviderKey, Recorded, _Stream  # noqa: E402
from tests.peers.webpush import WebPushPeer  # noqa: E402

POLL = 0.01  # seconds between looks at the peer's records while waiting


def mono() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def answer(reply: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


@dataclass
class Tally:
    """Arrivals of one seq: the distinct devices, every request, first and last arrival."""

    devices: set[str] = field(default_factory=set)
    requests: int = 0
    first: float | None = None
    last: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)

    def add(self, device: str, at: float, status: int) -> None:
        self.requests += 1
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        self.devices.add(device)
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)


class Tallies:
    """Per-seq tallies, fed incrementally from a peer's growing list of records."""

    def __init__(self) -> None:
        self.by_seq: dict[int, Tally] = {}
        self.seen = 0  # records already tallied

    def add(self, seq: Any, device: str, at: float, status: int) -> None:
        if isinstance(seq, int):
            self.by_seq.setdefault(seq, Tally()).add(device, at, status)

    def reply(self, seq: int, refused: int) -> dict[str, Any]:
        tally = self.by_seq.get(seq, Tally())
        return {
            "op": "tally",
            "seq": seq,
            "devices": len(tally.devices),
            "requests": tally.requests,
            "first": tally.first,
            "last": tally.last,
            "refused": refused,
            "statuses": tally.statuses,
        }


# -- Web Push ------------------------------------------------------------------------------


def run_webpush() -> None:
    peer = WebPushPeer()  # its clock is the wall clock: it checks the JWT's `exp` with it
    peer.start()  # serves on its own thread
    tallies = Tallies()

    def catch_up() -> None:
        offset = time.time() - mono()  # `Received.at` on the driver's clock
        records = peer.received  # a copy; only the new ones are tallied
        for item in records[tallies.seen :]:
            seq = item.payload.get("seq")
            tallies.add(seq, item.subscription_id, item.at - offset, item.status)
        tallies.seen = len(records)

    answer({"op": "started", "origin": peer.origin})
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "subscribe":
            with open(command["path"], "w", encoding="utf-8") as out:
                for _ in range(command["count"]):
                    out.write(json.dumps(peer.subscribe().to_json()) + "\n")
            answer({"op": "subscribed", "count": command["count"]})
        elif op == "wait":
            deadline = mono() + command["timeout"]
            while True:
                catch_up()
                tally = tallies.by_seq.get(command["seq"])
                if (tally is not None and len(tally.devices) >= command["count"]) or (
                    mono() > deadline
                ):
                    break
                time.sleep(POLL)
            answer(tallies.reply(command["seq"], len(peer.refused)))
        elif op == "quit":
            break
    peer.stop()


# -- APNs ----------------------------------------------------------------------------------


class TimedStandIn(APNsStandIn):
    """The stand-in, unchanged, plus the arrival time of each answered request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tallies = Tallies()
        self.refused = 0

    def _answer(self, connection: int, stream: _Stream) -> Recorded:
        recorded = super()._answer(connection, stream)
        at = mono()
        payload = recorded.payload if isinstance(recorded.payload, dict) else {}
        if recorded.answer.status == 200:
            self.tallies.add(payload.get("seq"), recorded.token or "", at, 200)
        else:
            self.refused += 1
        return recorded


def provider_key(directory: Path) -> tuple[ProviderKey, Path]:
    """A provider key for this run, as a .p8 file the server reads."""
    key = ProviderKey.generate(key_id="BENCHKEY01", team_id="BENCHTEAM1")
    key_file = directory / "AuthKey_BENCHKEY01.p8"
    directory.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key.pem)
    return key, key_file


async def run_apns(directory: Path, key: ProviderKey, key_file: Path) -> None:
    topic = "se.pdvalert.bench"
    stand_in = TimedStandIn(topic=topic, directory=directory)
    stand_in.trust(key)
    loop = asyncio.get_running_loop()
    async with stand_in:
        answer(
            {
                "op": "started",
                "settings": {
                    "apns_url": stand_in.url,
                    "apns_ca_file": stand_in.ca_file,
                    "apns_key_file": str(key_file),
                    "apns_key_id": key.key_id,
                    "apns_team_id": key.team_id,
                    "apns_topic": topic,
                },
            }
        )
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            command = json.loads(line)
            if command["op"] == "wait":
                seq, count = command["seq"], command["count"]

                def complete(seq: int = seq, count: int = count) -> bool:
                    tally = stand_in.tallies.by_seq.get(seq)
                    return tally is not None and len(tally.devices) >= count

                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(command["timeout"]):
                        await stand_in.wait_until(complete)
                answer(stand_in.tallies.reply(seq, stand_in.refused))
            elif command["op"] == "quit":
                break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["webpush", "apns"])
    parser.add_argument("--directory", type=Path, help="apns: CA, certificate and key go here")
    args = parser.parse_args()
    if args.kind == "webpush":
        run_webpush()
    else:
        if args.directory is None:
            parser.error("apns needs --directory")
        asyncio.run(run_apns(args.directory, *provider_key(args.directory)))


if __name__ == "__main__":
    main()
