"""The reachability report of an alert — the drill report, and the after-action review of
an actual alert once it has ended: pure figures over the roll call's rows.

Devices are placed exactly as the roll call places them (`server.core.rollcall.place`):
the same devices count, a device is reached by receipt or by a push that got through, and
the persons with a role at a site none of whose devices counts are "no device". Times are
milliseconds from the alert's trigger (`created_at`) to a receipt state, never negative
(node clocks differ by a little); `None` when the device never got there.

    {"alert_id", "mode", "state", "created_at", "at",
     "totals": {"devices", "reached", "not_reached", "displayed", "no_device"},
     "latency_ms": {"p50", "p95", "max"},      delivery, over the devices that receipted
     "delivery" | "display" | "answer": figures over every device counted
     "push": push_counts,
     "sites": {"<site_id>": {"name", "totals", "latency_ms", "push",
                             "delivery", "display", "answer",
                             "devices": [device],
                             "no_device": [{"person_id", "name"}]}},
     "persons": [person],                      every targeted person, by name
     "never_reached": [{"person_id", "name", "site_id", "site"}]}   by name
    figures = {"count", "p50_ms", "p95_ms", "max_ms"}   count: devices that got there
    device  = {"device_id", "name", "kind", "zone_id", "person": {"id", "name"} | None,
               "delivered_at", "displayed_at", "latency_ms", "reached", "push",
               "delivered_ms", "displayed_ms", "answered_ms", "response"}
    person  = {"person_id", "name", "site_id", "zone_id", "devices", "reached",
               "first_delivered_ms", "answered_ms", "response", "note", "location"}

A person's `devices` counts their devices that count on the report's sites; `reached` is
true when any of them is reached; `first_delivered_ms` is the earliest delivery of any of
them; `answered_ms` the earliest answer; `response`, `note` and `location` are the answer
the roll call shows for them (need_help > safe > not_on_site, the latest on a tie). The
person's `site_id`/`zone_id` are where their first device (lowest id) counts, or — without
a device — the first of their role's sites and no zone.

`rows()` flattens a report into the CSV export's rows: one per person and device (a person
without a device is one row without a device; a shared device without a person one row
without a person).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from protocol.codec import to_dict
from server.core import delivery
from server.core.delivery import PushRow
from server.core.rollcall import (
    ANSWERS,
    NOT_REACHED,
    RANK,
    DeviceRow,
    PersonRow,
    Placed,
    ReceiptRow,
    absent_persons,
    place,
)

CSV_COLUMNS = (
    "site",
    "zone",
    "person",
    "device",
    "kind",
    "delivered_ms",
    "displayed_ms",
    "answered_ms",
    "response",
)


def percentile(values: Sequence[int], p: float) -> int | None:
    """The nearest-rank `p`th percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(values: Sequence[int]) -> dict[str, int | None]:
    """p50, p95 and max of `values` (each None when empty)."""
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else None,
    }


def figures(values: Sequence[int]) -> dict[str, int | None]:
    """`{"count", "p50_ms", "p95_ms", "max_ms"}` of some times in ms."""
    summary = latency_summary(values)
    return {
        "count": len(values),
        "p50_ms": summary["p50"],
        "p95_ms": summary["p95"],
        "max_ms": summary["max"],
    }


def elapsed_ms(created_at: datetime, moment: datetime | None) -> int | None:
    """Milliseconds from the alert to `moment`; never negative (node clocks differ by a
    little); None when there is no moment."""
    if moment is None:
        return None
    return max(0, round((moment - created_at).total_seconds() * 1000))


def _delivered(item: Placed) -> datetime | None:
    return item.receipt.delivered_at if item.receipt else None


def _displayed(item: Placed) -> datetime | None:
    return item.receipt.displayed_at if item.receipt else None


def _answer(item: Placed) -> ReceiptRow | None:
    """The device's receipt when it carries an answer."""
    receipt = item.receipt
    if receipt is None or receipt.acked_at is None or receipt.response not in ANSWERS:
        return None
    return receipt


def _answered(item: Placed) -> datetime | None:
    answer = _answer(item)
    return None if answer is None else answer.acked_at


def reachability(
    *,
    alert_id: int,
    mode: str,
    created_at: datetime,
    sites: Mapping[int, str],
    devices: Iterable[DeviceRow],
    receipts: Iterable[ReceiptRow],
    at: datetime,
    persons: Iterable[PersonRow] = (),
    pushes: Iterable[PushRow] = (),
    state: str | None = None,
) -> dict[str, Any]:
    """The report over `sites` (site id → name), described in the module docstring.
    Devices are listed not-reached first, then reached by push alone, then by latency, then
    by name; persons by name."""
    person_rows = list(persons)
    placed = place(sites, devices, receipts, pushes)
    absent = absent_persons(sites, person_rows, placed)
    per_site: dict[int, list[Placed]] = {site_id: [] for site_id in sites}
    for item in placed:
        per_site[item.site_id].append(item)
    site_documents: dict[str, Any] = {}
    for site_id in sorted(sites):
        missing = [person for person in absent.values() if site_id in person.site_ids]
        site_documents[str(site_id)] = {
            "name": sites[site_id],
            **_report_part(per_site[site_id], len(missing), created_at),
            "devices": sorted(
                (_report_device(item, created_at) for item in per_site[site_id]),
                key=_report_order,
            ),
            "no_device": [
                {"person_id": person.id, "name": person.name}
                for person in sorted(missing, key=lambda person: (person.name, person.id))
            ],
        }
    person_documents = _persons(placed, absent.values(), sites, created_at)
    return {
        "alert_id": alert_id,
        "mode": mode,
        "state": state,
        "created_at": created_at.isoformat(),
        "at": at.isoformat(),
        **_report_part(placed, len(absent), created_at),
        "sites": site_documents,
        "persons": person_documents,
        "never_reached": [
            {
                "person_id": person["person_id"],
                "name": person["name"],
                "site_id": person["site_id"],
                "site": sites.get(person["site_id"]),
            }
            for person in person_documents
            if not person["reached"]
        ],
    }


def _times(items: Iterable[Placed], created_at: datetime, moment: Any) -> list[int]:
    return [value for item in items if (value := elapsed_ms(created_at, moment(item))) is not None]


def _report_part(items: Sequence[Placed], absent: int, created_at: datetime) -> dict[str, Any]:
    """A report's `totals`, `latency_ms`, figures and `push` over `items` and `absent`
    persons."""
    delivered = _times(items, created_at, _delivered)
    reached = sum(1 for item in items if item.status != NOT_REACHED)
    displayed = sum(1 for item in items if _displayed(item) is not None)
    return {
        "totals": {
            "devices": len(items),
            "reached": reached,
            "not_reached": len(items) - reached,
            "displayed": displayed,
            "no_device": absent,
        },
        "latency_ms": latency_summary(delivered),
        "delivery": figures(delivered),
        "display": figures(_times(items, created_at, _displayed)),
        "answer": figures(_times(items, created_at, _answered)),
        "push": to_dict(delivery.counts(item.push for item in items)),
    }


def _report_device(item: Placed, created_at: datetime) -> dict[str, Any]:
    device = item.device
    delivered_at, displayed_at, answer = _delivered(item), _displayed(item), _answer(item)
    delivered_ms = elapsed_ms(created_at, delivered_at)
    return {
        "device_id": device.id,
        "name": device.name,
        "kind": device.kind,
        "zone_id": item.zone_id,
        "person": None
        if device.person_id is None
        else {"id": device.person_id, "name": device.person_name},
        "delivered_at": None if delivered_at is None else delivered_at.isoformat(),
        "displayed_at": None if displayed_at is None else displayed_at.isoformat(),
        "latency_ms": delivered_ms,
        "reached": item.status != NOT_REACHED,
        "push": delivery.document(registration=device.push, push=item.push),
        "delivered_ms": delivered_ms,
        "displayed_ms": elapsed_ms(created_at, displayed_at),
        "answered_ms": None if answer is None else elapsed_ms(created_at, answer.acked_at),
        "response": None if answer is None else answer.response,
    }


def _report_order(item: dict[str, Any]) -> tuple[int, int, str, int]:
    """Not reached first, then reached by push alone (no latency), then by latency."""
    latency = item["latency_ms"]
    group = 0 if not item["reached"] else (1 if latency is None else 2)
    return (group, latency or 0, item["name"].casefold(), item["device_id"])


def _persons(
    placed: Sequence[Placed],
    absent: Iterable[PersonRow],
    sites: Mapping[int, str],
    created_at: datetime,
) -> list[dict[str, Any]]:
    """Every targeted person: those with a counted device, and those without one."""
    by_person: dict[int, list[Placed]] = {}
    for item in placed:
        if item.device.person_id is not None:
            by_person.setdefault(item.device.person_id, []).append(item)
    found = [_person(items, created_at) for items in by_person.values()]
    for person in absent:
        found.append(
            {
                "person_id": person.id,
                "name": person.name,
                "site_id": min(person.site_ids.intersection(sites)),
                "zone_id": None,
                "devices": 0,
                "reached": False,
                "first_delivered_ms": None,
                "answered_ms": None,
                "response": None,
                "note": None,
                "location": None,
            }
        )
    return sorted(found, key=lambda person: (person["name"].casefold(), person["person_id"]))


def _person(items: Sequence[Placed], created_at: datetime) -> dict[str, Any]:
    """One person from their counted devices."""
    first = min(items, key=lambda item: item.device.id)
    delivered = _times(items, created_at, _delivered)
    answered = _times(items, created_at, _answered)
    answers = [(item, answer) for item in items if (answer := _answer(item)) is not None]
    shown = (
        max(answers, key=lambda pair: (RANK[pair[0].status], pair[1].acked_at, pair[0].device.id))
        if answers
        else None
    )
    return {
        "person_id": first.device.person_id,
        "name": first.device.person_name or "",
        "site_id": first.site_id,
        "zone_id": first.zone_id,
        "devices": len(items),
        "reached": any(item.status != NOT_REACHED for item in items),
        "first_delivered_ms": min(delivered) if delivered else None,
        "answered_ms": min(answered) if answered else None,
        "response": None if shown is None else shown[1].response,
        "note": None if shown is None else shown[1].note,
        "location": None if shown is None else shown[1].location,
    }


def rows(report: Mapping[str, Any], *, zones: Mapping[int, str]) -> list[list[str]]:
    """The CSV export's rows (without the header, `CSV_COLUMNS`): per site, its devices by
    person name then device name, then its persons without a device. Empty cells for what
    is missing; times in ms."""
    found: list[list[str]] = []
    for site in report["sites"].values():
        site_rows: list[tuple[tuple[str, str, int], list[str]]] = []
        for device in site["devices"]:
            zone_id = device["zone_id"]
            person = device["person"]
            person_name = person["name"] if person else ""
            site_rows.append(
                (
                    (person_name.casefold(), device["name"].casefold(), device["device_id"]),
                    [
                        site["name"],
                        "" if zone_id is None else zones.get(zone_id, str(zone_id)),
                        person_name,
                        device["name"],
                        device["kind"],
                        _cell(device["delivered_ms"]),
                        _cell(device["displayed_ms"]),
                        _cell(device["answered_ms"]),
                        device["response"] or "",
                    ],
                )
            )
        site_rows.sort(key=lambda pair: pair[0])
        found.extend(row for _, row in site_rows)
        found.extend(
            [site["name"], "", person["name"], "", "", "", "", "", ""]
            for person in site["no_device"]
        )
    return found


def _cell(value: int | None) -> str:
    return "" if value is None else str(value)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading `'`
    (a person's name is typed by an admin, and a CSV opened in Excel must not run it)."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def csv_text(report: Mapping[str, Any], *, zones: Mapping[int, str]) -> str:
    """The CSV export: UTF-8 text starting with a byte-order mark (so Excel reads å, ä, ö),
    comma-separated, RFC 4180 quoting, CRLF line ends, the header `CSV_COLUMNS` first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([_safe_cell(cell) for cell in row] for row in rows(report, zones=zones))
    return "\ufeff" + buffer.getvalue()
