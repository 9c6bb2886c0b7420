"""The roll call of one alert, and the reachability report of a drill or test: pure
functions over plain rows.

Who is expected: every device of the alert's sites that is not revoked. A device revoked (or
moved to another site) after it receipted the alert still counts where it receipted: an
answer, above all "need help", is never dropped. A device bound to a person counts for that
person; a device without one (a shared classroom PC) is an entry of its own.

A device's status comes from its receipt; a person's is the highest of their devices':

    need_help > safe > not_on_site > displayed > delivered > not_reached

Counts (the same shape for the whole alert, a site and a zone), each over entries:

    expected     persons + devices without a person
    reached      status delivered or higher        not_reached  expected - reached
    displayed    status displayed or higher        answered     safe + need_help + not_on_site
    safe, need_help, not_on_site                   the answers
    targeted, delivered, acked                     the protocol's names (protocol.messages.
                                                   RollCallCounts) for expected, reached, answered

A site's or zone's counts aggregate only the devices there, so a person with devices at two
sites counts once in each site and once in the totals.

`compute()` answers a `RollCallReport`: the dashboards' `rollcall` message
(`protocol.messages.RollCall`, the one definition of the shape) and the lists of entries by
name. Its `document()` is what GET /api/v1/alerts/{id}/rollcall answers: the message's fields
(without `type`) plus the two lists, so an integrator reads both with one parser:

    {"alert_id", "at",
     "totals": counts,
     "sites": {"<site_id>": {"name", "totals": counts,
                             "zones": {"<zone_id>" | "none": {"name", "totals": counts}}}},
     "need_help":    [{"person_id", "person", "device_id", "device", "kind", "site_id",
                       "zone_id", "note", "location", "at"}]          oldest answer first
     "not_reached_count", "not_answered_count",
     "not_reached":  [entry]   reached by none of their devices     by name (HTTP only)
     "not_answered": [entry]]  reached, but no answer yet           by name (HTTP only)
    entry = {"person_id", "name", "status", "site_ids",
             "devices": [{"id", "name", "kind", "site_id", "zone_id", "status"}]}

`unchanged()` tells whether a new message says nothing new (only `at` moved).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from protocol.codec import to_dict
from protocol.messages import NeedHelp, RollCall, RollCallCounts, SiteRollCall, ZoneRollCall
from protocol.vocabulary import DeviceKind, Response

NOT_REACHED = "not_reached"
DELIVERED = "delivered"
DISPLAYED = "displayed"
# Lowest to highest priority: a person's status is the highest of their devices'.
STATUSES: tuple[str, ...] = (
    NOT_REACHED,
    DELIVERED,
    DISPLAYED,
    Response.NOT_ON_SITE.value,
    Response.SAFE.value,
    Response.NEED_HELP.value,
)
RANK: Mapping[str, int] = {status: rank for rank, status in enumerate(STATUSES)}
ANSWERS = frozenset(response.value for response in Response)
NO_ZONE = "none"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

COUNT_KEYS = tuple(field.name for field in fields(RollCallCounts))


@dataclass(frozen=True)
class DeviceRow:
    """A device of the alert's sites (or one that receipted the alert)."""

    id: int
    name: str
    kind: str
    site_id: int
    zone_id: int | None = None
    person_id: int | None = None
    person_name: str | None = None
    revoked: bool = False


@dataclass(frozen=True)
class ReceiptRow:
    """One device's receipt of the alert."""

    device_id: int
    site_id: int
    delivered_at: datetime | None = None
    displayed_at: datetime | None = None
    acked_at: datetime | None = None
    response: str | None = None
    note: str = ""
    location: str = ""


@dataclass(frozen=True)
class _Placed:
    """A counted device: where it counts, its status and its receipt."""

    device: DeviceRow
    site_id: int
    zone_id: int | None
    status: str
    receipt: ReceiptRow | None

    @property
    def entry(self) -> tuple[str, int]:
        if self.device.person_id is not None:
            return ("person", self.device.person_id)
        return ("device", self.device.id)


def device_status(receipt: ReceiptRow | None) -> str:
    """A device's status from its receipt (None: not reached)."""
    if receipt is None:
        return NOT_REACHED
    if receipt.acked_at is not None and receipt.response in ANSWERS:
        return receipt.response
    if receipt.displayed_at is not None:
        return DISPLAYED
    if receipt.delivered_at is not None:
        return DELIVERED
    return NOT_REACHED


def _place(
    site_ids: Collection[int], devices: Iterable[DeviceRow], receipts: Iterable[ReceiptRow]
) -> list[_Placed]:
    """The devices that count on `site_ids`, each with where it counts and its status."""
    by_device = {receipt.device_id: receipt for receipt in receipts}
    placed = []
    for device in devices:
        receipt = by_device.get(device.id)
        site_id, zone_id = device.site_id, device.zone_id
        if receipt is None:
            if device.revoked:
                continue
        elif (device.revoked or site_id not in site_ids) and receipt.site_id != site_id:
            site_id, zone_id = receipt.site_id, None  # revoked or moved since it receipted
        if site_id not in site_ids:
            continue
        placed.append(_Placed(device, site_id, zone_id, device_status(receipt), receipt))
    return placed


def _statuses(placed: Iterable[_Placed]) -> dict[tuple[str, int], str]:
    """Each entry's status: the highest of its devices'."""
    best: dict[tuple[str, int], str] = {}
    for item in placed:
        current = best.get(item.entry)
        if current is None or RANK[item.status] > RANK[current]:
            best[item.entry] = item.status
    return best


def counts(statuses: Iterable[str]) -> RollCallCounts:
    """The counts of a set of entry statuses (see the module docstring)."""
    tally = dict.fromkeys(STATUSES, 0)
    for status in statuses:
        tally[status] += 1
    expected = sum(tally.values())
    answered = sum(tally[answer] for answer in ANSWERS)
    reached = expected - tally[NOT_REACHED]
    displayed = answered + tally[DISPLAYED]
    return RollCallCounts(
        expected=expected,
        reached=reached,
        not_reached=tally[NOT_REACHED],
        displayed=displayed,
        answered=answered,
        safe=tally[Response.SAFE.value],
        need_help=tally[Response.NEED_HELP.value],
        not_on_site=tally[Response.NOT_ON_SITE.value],
        targeted=expected,
        delivered=reached,
        acked=answered,
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _entry(status: str, items: Sequence[_Placed]) -> dict[str, Any]:
    first = items[0].device
    return {
        "person_id": first.person_id,
        "name": first.person_name if first.person_id is not None else first.name,
        "status": status,
        "site_ids": sorted({item.site_id for item in items}),
        "devices": [
            {
                "id": item.device.id,
                "name": item.device.name,
                "kind": item.device.kind,
                "site_id": item.site_id,
                "zone_id": item.zone_id,
                "status": item.status,
            }
            for item in sorted(items, key=lambda item: item.device.id)
        ],
    }


def _need_help(items: Sequence[_Placed]) -> NeedHelp:
    """The latest "need help" answer among an entry's devices."""
    asking = [item for item in items if item.status == Response.NEED_HELP.value]
    latest = max(asking, key=lambda item: (_acked(item), item.device.id))
    receipt = latest.receipt
    assert receipt is not None
    return NeedHelp(
        person_id=latest.device.person_id,
        person=latest.device.person_name if latest.device.person_id is not None else None,
        device_id=latest.device.id,
        device=latest.device.name,
        kind=DeviceKind(latest.device.kind),
        site_id=latest.site_id,
        zone_id=latest.zone_id,
        note=receipt.note,
        location=receipt.location,
        at=_iso(receipt.acked_at),
    )


def _acked(item: _Placed) -> datetime:
    acked = item.receipt.acked_at if item.receipt else None
    return acked or _EPOCH


def _name_key(entry: Mapping[str, Any]) -> tuple[str, int]:
    return ((entry["name"] or "").casefold(), entry["devices"][0]["id"])


@dataclass(frozen=True)
class RollCallReport:
    """The roll call of one alert: the `rollcall` message dashboards get (counts, and the
    entries asking for help in full) and the entries not reached and not answered by name."""

    message: RollCall
    not_reached: list[dict[str, Any]]
    not_answered: list[dict[str, Any]]

    def document(self) -> dict[str, Any]:
        """GET /alerts/{id}/rollcall: the message's fields without `type`, plus the lists."""
        body = to_dict(self.message)
        del body["type"]
        body["not_reached"] = self.not_reached
        body["not_answered"] = self.not_answered
        return body


def _site(name: str, items: Sequence[_Placed], zone_names: Mapping[int, str]) -> SiteRollCall:
    by_zone: dict[int | None, list[_Placed]] = {}
    for item in items:
        by_zone.setdefault(item.zone_id, []).append(item)
    return SiteRollCall(
        name=name,
        totals=counts(_statuses(items).values()),
        zones={
            (NO_ZONE if zone_id is None else str(zone_id)): ZoneRollCall(
                name=None if zone_id is None else zone_names.get(zone_id),
                totals=counts(_statuses(in_zone).values()),
            )
            for zone_id, in_zone in sorted(by_zone.items(), key=lambda pair: pair[0] or 0)
        },
    )


def _entries(
    entries: Mapping[tuple[str, int], Sequence[_Placed]],
    overall: Mapping[tuple[str, int], str],
    wanted: Collection[str],
) -> list[dict[str, Any]]:
    """The entries whose status is one of `wanted`, by name."""
    found = [_entry(status, entries[key]) for key, status in overall.items() if status in wanted]
    return sorted(found, key=_name_key)


def compute(
    *,
    alert_id: int,
    sites: Mapping[int, str],
    devices: Iterable[DeviceRow],
    receipts: Iterable[ReceiptRow],
    at: datetime,
    zones: Mapping[int, str] | None = None,
) -> RollCallReport:
    """The roll call over `sites` (site id → name; only these are counted). `zones` maps
    zone ids to names."""
    zone_names = zones or {}
    placed = _place(sites, devices, receipts)
    entries: dict[tuple[str, int], list[_Placed]] = {}
    by_site: dict[int, list[_Placed]] = {site_id: [] for site_id in sites}
    for item in placed:
        entries.setdefault(item.entry, []).append(item)
        by_site[item.site_id].append(item)
    overall = _statuses(placed)
    need_help = [
        _need_help(entries[key])
        for key, status in overall.items()
        if status == Response.NEED_HELP.value
    ]
    need_help.sort(key=lambda item: (item.at or "", item.device_id))
    not_reached = _entries(entries, overall, (NOT_REACHED,))
    not_answered = _entries(entries, overall, (DELIVERED, DISPLAYED))
    message = RollCall(
        alert_id=alert_id,
        at=at.isoformat(),
        totals=counts(overall.values()),
        sites={
            site_id: _site(sites[site_id], by_site[site_id], zone_names)
            for site_id in sorted(sites)
        },
        need_help=need_help,
        not_reached_count=len(not_reached),
        not_answered_count=len(not_answered),
    )
    return RollCallReport(message=message, not_reached=not_reached, not_answered=not_answered)


def unchanged(previous: RollCall | None, current: RollCall) -> bool:
    """Whether `current` says nothing `previous` did not (only `at` may differ)."""
    return previous is not None and replace(previous, at=current.at) == current


# -- reachability ------------------------------------------------------------------------


def percentile(values: Sequence[int], p: float) -> int | None:
    """The nearest-rank `p`th percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(values: Sequence[int]) -> dict[str, int | None]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else None,
    }


def _latency_ms(created_at: datetime, delivered_at: datetime | None) -> int | None:
    """Milliseconds from the alert to the delivery; never negative (node clocks differ by
    a little)."""
    if delivered_at is None:
        return None
    return max(0, round((delivered_at - created_at).total_seconds() * 1000))


def reachability(
    *,
    alert_id: int,
    mode: str,
    created_at: datetime,
    sites: Mapping[int, str],
    devices: Iterable[DeviceRow],
    receipts: Iterable[ReceiptRow],
    at: datetime,
) -> dict[str, Any]:
    """The reachability report of a drill or test, per device (not per person):

    {"alert_id", "mode", "created_at", "at",
     "totals": {"devices", "reached", "not_reached", "displayed"},
     "latency_ms": {"p50", "p95", "max"},            over the reached devices; None if none
     "sites": {"<site_id>": {"name", "totals", "latency_ms",
                             "devices": [{"device_id", "name", "kind", "zone_id",
                                          "person": {"id", "name"} | None,
                                          "delivered_at", "displayed_at", "latency_ms"}]}}}

    Devices are listed not-reached first, then by latency, then by name."""
    placed = _place(sites, devices, receipts)
    per_site: dict[int, list[_Placed]] = {site_id: [] for site_id in sites}
    for item in placed:
        per_site[item.site_id].append(item)

    def summary(items: Sequence[_Placed]) -> tuple[dict[str, int], dict[str, int | None]]:
        latencies = [
            value
            for item in items
            if (value := _latency_ms(created_at, _delivered(item))) is not None
        ]
        displayed = sum(
            1 for item in items if item.receipt is not None and item.receipt.displayed_at
        )
        totals = {
            "devices": len(items),
            "reached": len(latencies),
            "not_reached": len(items) - len(latencies),
            "displayed": displayed,
        }
        return totals, latency_summary(latencies)

    def device_item(item: _Placed) -> dict[str, Any]:
        device, receipt = item.device, item.receipt
        return {
            "device_id": device.id,
            "name": device.name,
            "kind": device.kind,
            "zone_id": item.zone_id,
            "person": None
            if device.person_id is None
            else {"id": device.person_id, "name": device.person_name},
            "delivered_at": _iso(receipt.delivered_at if receipt else None),
            "displayed_at": _iso(receipt.displayed_at if receipt else None),
            "latency_ms": _latency_ms(created_at, _delivered(item)),
        }

    def order(item: dict[str, Any]) -> tuple[int, int, str, int]:
        latency = item["latency_ms"]
        return (
            0 if latency is None else 1,
            latency or 0,
            item["name"].casefold(),
            item["device_id"],
        )

    site_documents: dict[str, Any] = {}
    for site_id in sorted(sites):
        totals, latency = summary(per_site[site_id])
        site_documents[str(site_id)] = {
            "name": sites[site_id],
            "totals": totals,
            "latency_ms": latency,
            "devices": sorted((device_item(item) for item in per_site[site_id]), key=order),
        }
    totals, latency = summary(placed)
    return {
        "alert_id": alert_id,
        "mode": mode,
        "created_at": created_at.isoformat(),
        "at": at.isoformat(),
        "totals": totals,
        "latency_ms": latency,
        "sites": site_documents,
    }


def _delivered(item: _Placed) -> datetime | None:
    return item.receipt.delivered_at if item.receipt else None
