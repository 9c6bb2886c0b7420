"""CPU per push request of the parts this branch changed, in process (min of repeats, so
robust to other load): the dispatcher's message per device and the APNs request path up to
the bytes h2 writes.

    .venv/bin/python bench/push_requests.py
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from h2.config import H2Configuration  # noqa: E402
from h2.connection import H2Connection  # noqa: E402
from hpack import Encoder, HeaderTuple, NeverIndexedHeaderTuple  # noqa: E402

from protocol.vocabulary import Language  # noqa: E402
from push.apns import _StaticEncoder, apns_payload, to_apns_request  # noqa: E402
from push.message import ApnsRegistration  # noqa: E402
from server.dispatch.messages import message_for  # noqa: E402

N = 2000
REPEATS = 7
NOW = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
EVENT: dict[str, Any] = {
    "seq": 7,
    "event": "triggered",
    "at": NOW.isoformat(),
    "actor": {"type": "person", "id": 1},
    "changes": {},
    "alert": {
        "id": 42,
        "kind": "pdv_lockdown",
        "mode": "actual",
        "state": "active",
        "order": {"sv": "Lås in er och göm er", "en": "Lock in and hide"},
        "sites": [1],
    },
}


class _HuffmanFree(Encoder):
    """The encoder before this change: hpack's, without Huffman coding."""

    def encode(self, headers: Any, huffman: bool = False) -> bytes:
        return super().encode(headers, huffman=False)


def best(run: Any) -> float:
    """µs per item: the fastest of REPEATS runs of N items."""
    times = []
    for _ in range(REPEATS):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times) / N * 1e6


def messages_each() -> None:
    for _ in range(N):
        message_for(EVENT, language=Language.SV, site_names={1: "Skolan"}, public_url="https://x")


def messages_shared() -> None:
    cache: dict[tuple[int, int, Language], Any] = {}
    for _ in range(N):
        key = (1, 7, Language.SV)
        if key not in cache:
            cache[key] = message_for(
                EVENT, language=Language.SV, site_names={1: "Skolan"}, public_url="https://x"
            )


def apns_requests(encoder: type[Encoder], old_body: bool) -> Any:
    import json

    message = message_for(
        EVENT, language=Language.SV, site_names={1: "Skolan"}, public_url="https://x"
    )
    registrations = [ApnsRegistration(token=f"{i:064x}", environment="sandbox") for i in range(N)]
    token = "bearer " + "x" * 180

    def run() -> None:
        connection = None
        for index, registration in enumerate(registrations):
            if index % 100 == 0:
                connection = H2Connection(
                    H2Configuration(
                        client_side=True,
                        validate_outbound_headers=False,
                        normalize_outbound_headers=False,
                    )
                )
                connection.encoder = encoder()
                connection.initiate_connection()
                connection.data_to_send()
            assert connection is not None
            request = to_apns_request(message, registration, topic="se.pdv", now=NOW)
            body = (  # before: the payload dict built and dumped per request
                json.dumps(
                    apns_payload(message), ensure_ascii=False, separators=(",", ":")
                ).encode()
                if old_body
                else request.body
            )
            stream = connection.get_next_available_stream_id()
            headers: list[HeaderTuple | tuple[str, str]] = [
                (":method", "POST"),
                (":scheme", "https"),
                NeverIndexedHeaderTuple(":path", request.path),
                ("host", "127.0.0.1"),
                NeverIndexedHeaderTuple("apns-id", f"{index:036d}"),
                *request.headers.items(),
                ("authorization", token),
            ]
            connection.send_headers(stream, headers)
            connection.send_data(stream, body, end_stream=True)
            connection.data_to_send()

    return run


def main() -> None:
    print(f"µs of CPU per item, fastest of {REPEATS} runs of {N}")
    print(f"message per device, built each time:   {best(messages_each):7.1f}")
    print(f"message per device, one per event:     {best(messages_shared):7.1f}")
    print(f"APNs request to h2 bytes, hpack table: {best(apns_requests(_HuffmanFree, True)):7.1f}")
    print(
        f"APNs request to h2 bytes, static:      {best(apns_requests(_StaticEncoder, False)):7.1f}"
    )


if __name__ == "__main__":
    main()
