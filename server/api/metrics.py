"""`GET /metrics`: the node's Prometheus metrics (server/metrics.py) in the text format.

Who may scrape (docs/operations.md "Monitoring"): a client whose address is in
`metrics_networks` (behind a trusted proxy, the address the proxy reports) and, when
`metrics_token` is set, that sends it as `Authorization: Bearer …`. In production /metrics
answers nobody until a token is set: the counters say when alerts happen and how many devices
listen, which is nobody's business outside operations. Everything else answers
`metrics.forbidden`.

The scrape does the work the hot paths are spared: it counts the hub's live connections by
kind and reads the push outbox's depth and most overdue age from the database.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server import metrics
from server.api.deps import DatabaseDep, LiveNodeDep, SettingsDep
from server.clock import utcnow
from server.errors import ServiceError
from server.settings import Settings
from server.storage import push_deliveries

router = APIRouter(tags=["health"])

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _address_allowed(host: str, entries: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # "testclient", a Unix socket: not an address we can place
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(entries))


def check_access(request: Request, settings: Settings) -> None:
    """`metrics.forbidden` unless the caller may scrape (see the module docstring)."""
    if settings.environment == "production" and not settings.metrics_token:
        raise ServiceError("metrics.forbidden", "no metrics_token is set (production)")
    host = request.client.host if request.client else ""
    if not _address_allowed(host, tuple(settings.metrics_networks)):
        raise ServiceError("metrics.forbidden", "address not in metrics_networks")
    if settings.metrics_token:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given, settings.metrics_token.encode()
        ):
            raise ServiceError("metrics.forbidden", "wrong or missing bearer token")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def scrape(
    request: Request, settings: SettingsDep, database: DatabaseDep, node: LiveNodeDep
) -> Response:
    """The node's metrics in Prometheus' text format, for `metrics_networks` with the
    `metrics_token` (docs/operations.md "Monitoring" lists them and what to alert on)."""
    check_access(request, settings)
    if node is not None:
        metrics.set_connections(settings.node, node.connections_by_kind())
    async with database.session() as session:
        depth, overdue = await push_deliveries.outbox_backlog(session, now=utcnow())
    metrics.OUTBOX_DEPTH.set(depth)
    metrics.OUTBOX_OLDEST_DUE.set(overdue)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
