"""The roll call of one alert: pure functions over plain rows (the reachability report
built on the same placing of devices is server/core/reachability.py).

Who is expected: every device of the alert's sites that is not revoked, and every person
with a role at one of those sites (`PersonRow`; the caller leaves out persons whose device
counts on another of the alert's sites). A device revoked (or moved to another site) after
it receipted the alert still counts where it receipted: an answer, above all "need help",
is never dropped. A device bound to a person counts for that person; a device without one (a
shared classroom PC) is an entry of its own. A person none of whose devices counts is "not
reached — no device": counted at each of their role's sites (zone "none"), listed with
`"reason": "no_device"`.

A device's status comes from its receipt, and for a device with a push registration also
from its pushes of the alert (server/core/delivery.py): a push that got through makes it
`delivered` even without a receipt or a live connection. A person's status is the highest
of their devices':

    need_help > safe > not_on_site > displayed > delivered > not_reached

Counts (the same shape for the whole alert, a site and a zone), each over entries:

    expected     persons + devices without a person
    reached      status delivered or higher        not_reached  expected - reached
    displayed    status displayed or higher        answered     safe + need_help + not_on_site
    safe, need_help, not_on_site                   the answers
    targeted, delivered, acked                     the protocol's names (protocol.messages.
                                                   RollCallCounts) for expected, reached, answered
    no_device    persons not reached because none of their devices counts (⊆ not_reached)

The message also counts devices (not entries) by the state of their latest push of the
alert (`push`: queued, sent, delivered, receipted, failed), in total and per site.

A site's or zone's counts aggregate only the devices there, so a person with devices at two
sites counts once in each site and once in the totals.

`compute()` answers a `RollCallReport`: the dashboards' `rollcall` message
(`protocol.messages.RollCall`, the one definition of the shape) and the lists of entries by
name. Its `document()` is what GET /api/v1/alerts/{id}/rollcall answers: the message's fields
(without `type`) plus the two lists, so an integrator reads both with one parser:

    {"alert_id", "at",
     "totals": counts,
     "sites": {"<site_id>": {"name", "totals": counts,
                             "zones": {"<zone_id>" | "none": {"name", "totals": counts}},
                             "push": push_counts}},
     "need_help":    [{"person_id", "person", "device_id", "device", "kind", "site_id",
                       "zone_id", "note", "location", "at"}]          oldest answer first
     "not_reached_count", "not_answered_count",
     "push": push_counts,
     "not_reached":  [entry]   reached by none of their devices     by name (HTTP only)
     "not_answered": [entry]]  reached, but no answer yet           by name (HTTP only)
    entry = {"person_id", "name", "status", "reason", "site_ids",
             "devices": [{"id", "name", "kind", "site_id", "zone_id", "status", "push"}]}
    reason = "no_device" (no device of theirs counts: `devices` is empty)
           | "not_delivered" (not reached on any of their devices) | null (reached)
    push   = the device's push object (server/core/delivery.py), or null

`unchanged()` tells whether a new message says nothing new (only `at` moved).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from protocol.codec import to_dict
from protocol.messages import (
    NeedHelp,
    PushCounts,
    RollCall,
    RollCallCounts,
    SiteRollCall,
    ZoneRollCall,
)
from protocol.vocabulary import DeviceKind, Response
from server.core import delivery
from server.core.delivery import PushRow

NOT_REACHED = "not_reached"
NO_DEVICE = "no_device"  # a person none of whose devices counts: not reached, and why
NOT_DELIVERED = "not_delivered"  # the reason of an entry with devices, none reached
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
    push: str | None = None  # the push registration's type (webpush, apns), None: none


@dataclass(frozen=True)
class PersonRow:
    """An active person with a role at some of the alert's sites (`site_ids`)."""

    id: int
    name: str
    site_ids: frozenset[int]


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
class Placed:
    """A counted device: where it counts, its status and its receipt."""

    device: DeviceRow
    site_id: int
    zone_id: int | None
    status: str
    receipt: ReceiptRow | None
    push: PushRow | None = None

    @property
    def entry(self) -> tuple[str, int]:
        if self.device.person_id is not None:
            return ("person", self.device.person_id)
        return ("device", self.device.id)


def device_status(receipt: ReceiptRow | None, *, pushed: bool = False) -> str:
    """A device's status from its receipt (None: none), or `delivered` when it has no
    receipt beyond that but a push got the alert to it (`pushed`, see core.delivery)."""
    if receipt is not None:
        if receipt.acked_at is not None and receipt.response in ANSWERS:
            return receipt.response
        if receipt.displayed_at is not None:
            return DISPLAYED
        if receipt.delivered_at is not None:
            return DELIVERED
    return DELIVERED if pushed else NOT_REACHED


def place(
    site_ids: Collection[int],
    devices: Iterable[DeviceRow],
    receipts: Iterable[ReceiptRow],
    pushes: Iterable[PushRow],
) -> list[Placed]:
    """The devices that count on `site_ids`, each with where it counts and its status."""
    by_device = {receipt.device_id: receipt for receipt in receipts}
    push_of = {push.device_id: push for push in pushes}
    placed = []
    for device in devices:
        receipt = by_device.get(device.id)
        push = push_of.get(device.id)
        site_id, zone_id = device.site_id, device.zone_id
        if receipt is None:
            if device.revoked:
                continue
        elif (device.revoked or site_id not in site_ids) and receipt.site_id != site_id:
            site_id, zone_id = receipt.site_id, None  # revoked or moved since it receipted
        if site_id not in site_ids:
            continue
        pushed = delivery.reached(registered=device.push is not None, push=push)
        status = device_status(receipt, pushed=pushed)
        placed.append(Placed(device, site_id, zone_id, status, receipt, push))
    return placed


def absent_persons(
    site_ids: Collection[int], persons: Iterable[PersonRow], placed: Iterable[Placed]
) -> dict[int, PersonRow]:
    """The persons with a role at `site_ids` none of whose devices counts there, by id."""
    present = {item.device.person_id for item in placed}
    return {
        person.id: person
        for person in persons
        if person.id not in present and not person.site_ids.isdisjoint(site_ids)
    }


def _statuses(placed: Iterable[Placed]) -> dict[tuple[str, int], str]:
    """Each entry's status: the highest of its devices'."""
    best: dict[tuple[str, int], str] = {}
    for item in placed:
        current = best.get(item.entry)
        if current is None or RANK[item.status] > RANK[current]:
            best[item.entry] = item.status
    return best


def counts(statuses: Iterable[str]) -> RollCallCounts:
    """The counts of a set of entry statuses (see the module docstring); `NO_DEVICE` is the
    status of a person none of whose devices counts."""
    tally = dict.fromkeys((NO_DEVICE, *STATUSES), 0)
    for status in statuses:
        tally[status] += 1
    expected = sum(tally.values())
    answered = sum(tally[answer] for answer in ANSWERS)
    not_reached = tally[NOT_REACHED] + tally[NO_DEVICE]
    displayed = answered + tally[DISPLAYED]
    reached = expected - not_reached
    return RollCallCounts(
        expected=expected,
        reached=reached,
        not_reached=not_reached,
        displayed=displayed,
        answered=answered,
        safe=tally[Response.SAFE.value],
        need_help=tally[Response.NEED_HELP.value],
        not_on_site=tally[Response.NOT_ON_SITE.value],
        targeted=expected,
        delivered=reached,
        acked=answered,
        no_device=tally[NO_DEVICE],
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _entry(status: str, items: Sequence[Placed]) -> dict[str, Any]:
    first = items[0].device
    return {
        "person_id": first.person_id,
        "name": first.person_name if first.person_id is not None else first.name,
        "status": status,
        "reason": NOT_DELIVERED if status == NOT_REACHED else None,
        "site_ids": sorted({item.site_id for item in items}),
        "devices": [
            {
                "id": item.device.id,
                "name": item.device.name,
                "kind": item.device.kind,
                "site_id": item.site_id,
                "zone_id": item.zone_id,
                "status": item.status,
                "push": delivery.document(registration=item.device.push, push=item.push),
            }
            for item in sorted(items, key=lambda item: item.device.id)
        ],
    }


def _no_device_entry(person: PersonRow, site_ids: Collection[int]) -> dict[str, Any]:
    return {
        "person_id": person.id,
        "name": person.name,
        "status": NOT_REACHED,
        "reason": NO_DEVICE,
        "site_ids": sorted(person.site_ids.intersection(site_ids)),
        "devices": [],
    }


def _need_help(items: Sequence[Placed]) -> NeedHelp:
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


def _acked(item: Placed) -> datetime:
    acked = item.receipt.acked_at if item.receipt else None
    return acked or _EPOCH


def _name_key(entry: Mapping[str, Any]) -> tuple[str, int, int]:
    devices = entry["devices"]
    if devices:
        return ((entry["name"] or "").casefold(), 0, devices[0]["id"])
    return ((entry["name"] or "").casefold(), 1, entry["person_id"])


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


def _with_absent(items: Iterable[Placed], absent: int) -> list[str]:
    """The entry statuses of `items`, plus `absent` persons without a device."""
    return [*_statuses(items).values(), *[NO_DEVICE] * absent]


def _site(
    name: str, items: Sequence[Placed], absent: int, zone_names: Mapping[int, str]
) -> SiteRollCall:
    """One site's roll call: its placed devices, and `absent` persons without a device
    there (who count in the zone "none")."""
    by_zone: dict[int | None, list[Placed]] = {}
    for item in items:
        by_zone.setdefault(item.zone_id, []).append(item)
    if absent:
        by_zone.setdefault(None, [])
    return SiteRollCall(
        name=name,
        totals=counts(_with_absent(items, absent)),
        zones={
            (NO_ZONE if zone_id is None else str(zone_id)): ZoneRollCall(
                name=None if zone_id is None else zone_names.get(zone_id),
                totals=counts(_with_absent(in_zone, absent if zone_id is None else 0)),
            )
            for zone_id, in_zone in sorted(by_zone.items(), key=lambda pair: pair[0] or 0)
        },
        push=_push_counts(items),
    )


def _push_counts(items: Iterable[Placed]) -> PushCounts:
    return delivery.counts(item.push for item in items)


def _entries(
    entries: Mapping[tuple[str, int], Sequence[Placed]],
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
    persons: Iterable[PersonRow] = (),
    pushes: Iterable[PushRow] = (),
) -> RollCallReport:
    """The roll call over `sites` (site id → name; only these are counted). `zones` maps
    zone ids to names; `persons` are those with a role at the alert's sites; `pushes` the
    latest push of the alert per device."""
    zone_names = zones or {}
    placed = place(sites, devices, receipts, pushes)
    absent = absent_persons(sites, persons, placed)
    entries: dict[tuple[str, int], list[Placed]] = {}
    by_site: dict[int, list[Placed]] = {site_id: [] for site_id in sites}
    for item in placed:
        entries.setdefault(item.entry, []).append(item)
        by_site[item.site_id].append(item)
    absent_at = {
        site_id: sum(1 for person in absent.values() if site_id in person.site_ids)
        for site_id in sites
    }
    overall = _statuses(placed)
    need_help = [
        _need_help(entries[key])
        for key, status in overall.items()
        if status == Response.NEED_HELP.value
    ]
    need_help.sort(key=lambda item: (item.at or "", item.device_id))
    not_reached = _entries(entries, overall, (NOT_REACHED,))
    not_reached.extend(_no_device_entry(person, sites) for person in absent.values())
    not_reached.sort(key=_name_key)
    not_answered = _entries(entries, overall, (DELIVERED, DISPLAYED))
    message = RollCall(
        alert_id=alert_id,
        at=at.isoformat(),
        totals=counts(_with_absent(placed, len(absent))),
        sites={
            site_id: _site(sites[site_id], by_site[site_id], absent_at[site_id], zone_names)
            for site_id in sorted(sites)
        },
        need_help=need_help,
        not_reached_count=len(not_reached),
        not_answered_count=len(not_answered),
        push=_push_counts(placed),
    )
    return RollCallReport(message=message, not_reached=not_reached, not_answered=not_answered)


def unchanged(previous: RollCall | None, current: RollCall) -> bool:
    """Whether `current` says nothing `previous` did not (only `at` may differ)."""
    return previous is not None and replace(previous, at=current.at) == current
