"""The pure roll call: statuses, aggregation per person, site and zone, lists, the message
and the document (the reachability report is tests/server/core/test_reachability.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from protocol.codec import decode_server, encode, to_dict
from protocol.messages import RollCall
from server.core.delivery import PushRow
from server.core.rollcall import (
    COUNT_KEYS,
    RANK,
    STATUSES,
    DeviceRow,
    PersonRow,
    ReceiptRow,
    RollCallReport,
    compute,
    counts,
    device_status,
    unchanged,
)
from tests.server.core.rollcall_world import (
    AT,
    NO_PUSHES,
    SITES,
    answered,
    at,
    delivered,
    displayed,
    person,
    phone,
    pushed,
    registered,
)

ZONES = {10: "Hus A", 11: "Hus B"}


def report(
    devices: list[DeviceRow],
    receipts: list[ReceiptRow],
    sites: dict[int, str] = SITES,
    at: datetime = AT,
) -> RollCallReport:
    return compute(alert_id=7, sites=sites, zones=ZONES, devices=devices, receipts=receipts, at=at)


def roll(
    devices: list[DeviceRow], receipts: list[ReceiptRow], sites: dict[int, str] = SITES
) -> dict[str, Any]:
    """The document GET /alerts/{id}/rollcall answers."""
    return report(devices, receipts, sites).document()


def expected_counts(**values: int) -> dict[str, int]:
    result = dict.fromkeys(COUNT_KEYS, 0)
    result.update(values)
    result["targeted"] = result["expected"]
    result["delivered"] = result["reached"]
    result["acked"] = result["answered"]
    return result


# -- statuses ------------------------------------------------------------------------------


def test_statuses_are_ranked_need_help_first() -> None:
    """need_help > safe > not_on_site > displayed > delivered > not_reached."""
    ranked = sorted(STATUSES, key=RANK.__getitem__, reverse=True)
    assert ranked == ["need_help", "safe", "not_on_site", "displayed", "delivered", "not_reached"]


def test_device_status_follows_the_furthest_receipt_step() -> None:
    """No receipt: not reached; then delivered, displayed, and the answer when acked."""
    assert device_status(None) == "not_reached"
    assert device_status(ReceiptRow(device_id=1, site_id=1)) == "not_reached"
    assert device_status(delivered(1)) == "delivered"
    assert device_status(displayed(1)) == "displayed"
    assert device_status(answered(1, "not_on_site")) == "not_on_site"
    assert device_status(answered(1, "need_help")) == "need_help"


def test_counts_are_cumulative_and_carry_the_protocol_names() -> None:
    """reached and displayed include higher statuses; targeted/delivered/acked mirror them."""
    tally = counts(["not_reached", "delivered", "displayed", "safe", "need_help", "not_on_site"])
    assert to_dict(tally) == expected_counts(
        expected=6,
        reached=5,
        not_reached=1,
        displayed=4,
        answered=3,
        safe=1,
        need_help=1,
        not_on_site=1,
    )


# -- aggregation ---------------------------------------------------------------------------


def test_person_with_several_devices_counts_once_with_the_best_status() -> None:
    """A person's phone and desktop make one entry; the answered device decides."""
    devices = [phone(1, 100), phone(2, 100), phone(3, 101)]
    document = roll(devices, [delivered(1), answered(2, "safe")])
    assert document["totals"] == expected_counts(
        expected=2, reached=1, not_reached=1, displayed=1, answered=1, safe=1
    )
    assert [entry["person_id"] for entry in document["not_reached"]] == [101]
    assert document["not_answered"] == []


def test_need_help_beats_safe_across_a_persons_devices() -> None:
    """One device safe and another need_help: the person needs help, with that note."""
    devices = [phone(1, 100), phone(2, 100)]
    receipts = [
        answered(1, "safe", seconds=9),
        answered(2, "need_help", seconds=5, note="skadad", location="rum 12"),
    ]
    document = roll(devices, receipts)
    assert document["totals"]["need_help"] == 1 and document["totals"]["safe"] == 0
    assert document["need_help"] == [
        {
            "person_id": 100,
            "person": "Person 100",
            "device_id": 2,
            "device": "device 2",
            "kind": "ios",
            "site_id": 1,
            "zone_id": None,
            "note": "skadad",
            "location": "rum 12",
            "at": at(5).isoformat(),
        }
    ]


def test_safe_beats_not_on_site_and_displayed_beats_delivered() -> None:
    """The ranking holds between every pair of a person's devices."""
    devices = [phone(1, 100), phone(2, 100), phone(3, 101), phone(4, 101)]
    receipts = [answered(1, "not_on_site"), answered(2, "safe"), delivered(3), displayed(4)]
    document = roll(devices, receipts)
    assert document["totals"]["safe"] == 1 and document["totals"]["not_on_site"] == 0
    assert [(e["person_id"], e["status"]) for e in document["not_answered"]] == [(101, "displayed")]


def test_shared_devices_without_a_person_are_entries_of_their_own() -> None:
    """Two classroom PCs count as two entries, each named by the device."""
    devices = [phone(1, None), phone(2, None), phone(3, 100)]
    document = roll(devices, [answered(1, "safe")])
    assert document["totals"]["expected"] == 3
    assert [(e["person_id"], e["name"]) for e in document["not_reached"]] == [
        (None, "device 2"),
        (100, "Person 100"),
    ]


def test_revoked_devices_are_not_expected() -> None:
    """A revoked device without a receipt is left out; the person's other device counts."""
    devices = [phone(1, 100, revoked=True), phone(2, None, revoked=True), phone(3, 101)]
    document = roll(devices, [])
    assert document["totals"]["expected"] == 1
    assert [e["person_id"] for e in document["not_reached"]] == [101]


def test_a_device_revoked_after_answering_still_counts() -> None:
    """An answer is never dropped: a need-help from a since-revoked PC stays on the list."""
    devices = [phone(1, None, revoked=True)]
    document = roll(devices, [answered(1, "need_help", note="hjälp")])
    assert document["totals"]["need_help"] == 1
    assert document["need_help"][0]["note"] == "hjälp"


def test_a_device_moved_away_counts_where_it_receipted() -> None:
    """A device now at an untargeted site counts at the site of its receipt, without zone."""
    devices = [phone(1, 100, site=3, zone=10)]
    document = roll(devices, [answered(1, "safe", site_id=2)])
    assert document["sites"]["2"]["totals"]["safe"] == 1
    assert list(document["sites"]["2"]["zones"]) == ["none"]
    assert document["sites"]["1"]["totals"]["expected"] == 0


def test_devices_of_other_sites_are_ignored() -> None:
    """Only the given sites count: devices and receipts elsewhere don't."""
    devices = [phone(1, 100, site=1), phone(2, 101, site=2)]
    document = roll(devices, [answered(2, "safe", site_id=2)], sites={1: "Ullvi"})
    assert list(document["sites"]) == ["1"]
    assert document["totals"] == expected_counts(expected=1, not_reached=1)


def test_sites_and_zones_have_their_own_totals() -> None:
    """Each site and each zone (or "none") counts its devices; empty sites are listed too."""
    devices = [
        phone(1, 100, zone=10),
        phone(2, 101, zone=10),
        phone(3, 102, zone=11),
        phone(4, None),
    ]
    receipts = [answered(1, "safe"), answered(3, "need_help"), delivered(4)]
    document = roll(devices, receipts, sites={1: "Ullvi", 2: "Kyrkbacken"})
    site = document["sites"]["1"]
    assert site["name"] == "Ullvi"
    assert site["totals"]["expected"] == 4
    assert site["zones"]["10"] == {
        "name": "Hus A",
        "totals": expected_counts(
            expected=2, reached=1, not_reached=1, displayed=1, answered=1, safe=1
        ),
    }
    assert site["zones"]["11"]["totals"]["need_help"] == 1
    assert site["zones"]["none"] == {
        "name": None,
        "totals": expected_counts(expected=1, reached=1, delivered=1),
    }
    assert document["sites"]["2"] == {
        "name": "Kyrkbacken",
        "totals": expected_counts(),
        "zones": {},
        "push": NO_PUSHES,
    }


def test_a_person_at_two_sites_counts_once_in_each_and_once_in_total() -> None:
    """Sites aggregate their own devices; the totals aggregate all of the person's."""
    devices = [phone(1, 100, site=1), phone(2, 100, site=2)]
    document = roll(devices, [answered(2, "safe", site_id=2)])
    assert document["totals"] == expected_counts(
        expected=1, reached=1, displayed=1, answered=1, safe=1
    )
    assert document["sites"]["1"]["totals"]["not_reached"] == 1
    assert document["sites"]["2"]["totals"]["safe"] == 1


def test_lists_are_sorted_and_describe_every_device() -> None:
    """not_reached by name, need_help oldest answer first, entries list their devices."""
    devices = [phone(1, 102), phone(2, 101), phone(3, 103), phone(4, 104), phone(5, 104)]
    receipts = [
        answered(3, "need_help", seconds=30),
        answered(4, "need_help", seconds=10),
        delivered(5),
    ]
    document = roll(devices, receipts)
    assert [e["name"] for e in document["not_reached"]] == ["Person 101", "Person 102"]
    assert [item["person_id"] for item in document["need_help"]] == [104, 103]
    assert document["not_reached"][0] == {
        "person_id": 101,
        "name": "Person 101",
        "status": "not_reached",
        "reason": "not_delivered",
        "site_ids": [1],
        "devices": [
            {
                "id": 2,
                "name": "device 2",
                "kind": "ios",
                "site_id": 1,
                "zone_id": None,
                "status": "not_reached",
                "push": None,
            }
        ],
    }


def test_document_is_json_and_complete() -> None:
    """The document has every documented key and survives JSON."""
    document = roll([phone(1, 100)], [])
    assert set(document) == {
        "alert_id",
        "at",
        "totals",
        "sites",
        "need_help",
        "not_reached_count",
        "not_answered_count",
        "push",
        "not_reached",
        "not_answered",
    }
    assert json.loads(json.dumps(document)) == document
    assert document["at"] == AT.isoformat() and document["alert_id"] == 7


STATUS_RECEIPTS = st.sampled_from(
    [None, "delivered", "displayed", "safe", "need_help", "not_on_site"]
)


@given(
    st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from([1, 2]), STATUS_RECEIPTS),
        max_size=25,
    )
)
def test_totals_are_consistent_for_any_devices(rows: list[tuple[int, int, str | None]]) -> None:
    """reached + not_reached = expected, answers add up, and each site ≤ totals' expected."""
    devices, receipts = [], []
    for device_id, (owner, site, status) in enumerate(rows, start=1):
        devices.append(phone(device_id, owner if owner < 6 else None, site=site))
        if status == "delivered":
            receipts.append(delivered(device_id, site))
        elif status == "displayed":
            receipts.append(displayed(device_id, site))
        elif status is not None:
            receipts.append(answered(device_id, status, site_id=site))
    totals = roll(devices, receipts)["totals"]
    assert totals["reached"] + totals["not_reached"] == totals["expected"]
    assert totals["safe"] + totals["need_help"] + totals["not_on_site"] == totals["answered"]
    assert totals["expected"] >= totals["reached"] >= totals["displayed"] >= totals["answered"]
    persons = {owner for owner, _, _ in rows if owner < 6}
    shared = sum(1 for owner, _, _ in rows if owner == 6)
    assert totals["expected"] == len(persons) + shared


# -- the message, the document and unchanged ------------------------------------------------


def test_nothing_changed_is_unchanged_even_when_time_moved() -> None:
    """Only `at` differs: unchanged; no previous message: changed."""
    devices = [phone(1, 100)]
    first = report(devices, [delivered(1)]).message
    later = report(devices, [delivered(1)], at=AT + timedelta(seconds=5)).message
    assert later.at != first.at
    assert unchanged(first, later)
    assert not unchanged(None, later)


def test_an_answer_or_a_narrower_audience_is_a_change() -> None:
    """An answer changes the message; so does a roll call over fewer sites."""
    devices = [phone(1, 100, site=1), phone(2, 101, site=2)]
    before = report(devices, [delivered(1)]).message
    assert not unchanged(before, report(devices, [answered(1, "safe")]).message)
    assert not unchanged(before, report(devices, [delivered(1)], sites={1: "Ullvi"}).message)


def test_the_document_is_the_message_plus_the_lists_by_name() -> None:
    """One shape: GET /alerts/{id}/rollcall answers the `rollcall` frame's fields (nested
    sites and zones, need-help list, counts) plus the lists by name, which only HTTP has."""
    devices = [phone(1, 100, zone=10), phone(2, 101), phone(3, 102)]
    result = report(devices, [answered(1, "need_help"), delivered(2)])
    frame = to_dict(result.message)
    document = result.document()
    assert frame.pop("type") == "rollcall"
    lists = {"not_reached": result.not_reached, "not_answered": result.not_answered}
    assert document == {**frame, **lists}
    assert frame["sites"]["1"]["zones"]["10"]["totals"]["need_help"] == 1
    assert frame["sites"]["2"] == {
        "name": "Kyrkbacken",
        "totals": expected_counts(),
        "zones": {},
        "push": NO_PUSHES,
    }
    assert frame["not_reached_count"] == 1 and frame["not_answered_count"] == 1
    assert len(result.not_reached) == 1 and len(result.not_answered) == 1


def test_the_message_decodes_with_the_protocol_codec() -> None:
    """Clients' lenient decoder reads the encoded message back as the same RollCall."""
    message = report([phone(1, 100), phone(2, None)], [answered(1, "safe")]).message
    decoded = decode_server(encode(message))
    assert isinstance(decoded, RollCall) and decoded == message
    assert decoded.totals.targeted == 2 and decoded.totals.acked == 1
    assert decoded.sites[1].totals.safe == 1


# -- persons without a device ----------------------------------------------------------------


def with_persons(
    devices: list[DeviceRow],
    receipts: list[ReceiptRow],
    persons: list[PersonRow],
    pushes: tuple[PushRow, ...] | list[PushRow] = (),
    sites: dict[int, str] = SITES,
) -> RollCallReport:
    return compute(
        alert_id=7,
        sites=sites,
        zones=ZONES,
        devices=devices,
        receipts=receipts,
        at=AT,
        persons=persons,
        pushes=pushes,
    )


def test_a_school_where_nobody_enrolled_reads_everyone_not_reached() -> None:
    """No devices at all: every person with a role there is expected and not reached, with
    the reason no_device, never `expected: 0`."""
    result = with_persons([], [], [person(100, 1), person(101, 1), person(102, 2)])
    document = result.document()
    assert document["totals"] == expected_counts(expected=3, not_reached=3, no_device=3)
    assert document["sites"]["1"]["totals"] == expected_counts(
        expected=2, not_reached=2, no_device=2
    )
    assert document["sites"]["1"]["zones"] == {
        "none": {"name": None, "totals": expected_counts(expected=2, not_reached=2, no_device=2)}
    }
    assert document["not_reached_count"] == 3
    assert document["not_reached"][0] == {
        "person_id": 100,
        "name": "Person 100",
        "status": "not_reached",
        "reason": "no_device",
        "site_ids": [1],
        "devices": [],
    }
    assert [e["reason"] for e in document["not_reached"]] == ["no_device"] * 3


def test_persons_with_and_without_devices_are_listed_together_by_name() -> None:
    """A person whose device counts is no "no device" entry even when also given as a
    person; the two kinds of not reached are sorted together by name."""
    devices = [phone(1, 101), phone(2, 103)]
    result = with_persons(devices, [delivered(2)], [person(101, 1), person(102, 1)])
    document = result.document()
    assert document["totals"] == expected_counts(expected=3, reached=1, not_reached=2, no_device=1)
    assert [(e["person_id"], e["reason"]) for e in document["not_reached"]] == [
        (101, "not_delivered"),
        (102, "no_device"),
    ]
    assert [e["reason"] for e in document["not_answered"]] == [None]


def test_a_person_with_roles_at_two_sites_counts_once_in_total() -> None:
    """No device, roles at both sites: once in each site, once in the totals; a site not
    counted (outside the caller's view) does not list them."""
    both = [person(100, 1, 2)]
    document = with_persons([], [], both).document()
    assert document["totals"]["expected"] == 1 and document["totals"]["no_device"] == 1
    assert document["sites"]["1"]["totals"]["no_device"] == 1
    assert document["sites"]["2"]["totals"]["no_device"] == 1
    assert document["not_reached"][0]["site_ids"] == [1, 2]
    only_one = with_persons([], [], both, sites={2: "Kyrkbacken"}).document()
    assert only_one["not_reached"][0]["site_ids"] == [2]
    elsewhere = with_persons([], [], [person(100, 3)]).document()
    assert elsewhere["totals"]["expected"] == 0 and elsewhere["not_reached"] == []


def test_no_device_persons_share_the_none_zone_with_zoneless_devices() -> None:
    """Zone "none" holds devices without a zone and persons without a device."""
    devices = [phone(1, None), phone(2, 101, zone=10)]
    document = with_persons(devices, [delivered(1)], [person(100, 1)]).document()
    zones = document["sites"]["1"]["zones"]
    assert zones["none"]["totals"] == expected_counts(
        expected=2, reached=1, not_reached=1, no_device=1
    )
    assert zones["10"]["totals"] == expected_counts(expected=1, not_reached=1)


# -- pushes -----------------------------------------------------------------------------------


def test_a_delivered_push_reaches_a_device_without_receipt_or_socket() -> None:
    """The push service accepted the alert for the phone: reached (status delivered), not
    answered yet, its push state on the entry's device."""
    result = with_persons([registered(1, 100)], [], [], [pushed(1, "delivered")])
    document = result.document()
    assert document["totals"] == expected_counts(expected=1, reached=1)
    [entry] = document["not_answered"]
    assert entry["status"] == "delivered" and entry["reason"] is None
    assert entry["devices"][0]["push"] == {
        "type": "webpush",
        "state": "delivered",
        "reason": None,
        "alert_id": 7,
        "seq": 42,
        "attempts": 1,
        "at": at(1).isoformat(),
    }


def test_a_failed_push_is_not_reached_with_its_reason_per_device() -> None:
    """The provider refused: not reached (not_delivered), the device shows failed and why;
    a push to a registration since removed reaches nobody either."""
    devices = [registered(1, 100, kind="ios"), replace(registered(2, 101), push=None)]
    pushes = [pushed(1, "failed", reason="rejected: 400 BadTopic"), pushed(2, "delivered")]
    document = with_persons(devices, [], [], pushes).document()
    assert document["totals"] == expected_counts(expected=2, not_reached=2)
    by_person = {e["person_id"]: e for e in document["not_reached"]}
    assert by_person[100]["reason"] == "not_delivered"
    assert by_person[100]["devices"][0]["push"]["state"] == "failed"
    assert by_person[100]["devices"][0]["push"]["reason"] == "rejected: 400 BadTopic"
    assert by_person[101]["devices"][0]["push"]["type"] is None


def test_the_message_counts_devices_by_push_state_in_total_and_per_site() -> None:
    """`push` counts devices (a person's two phones are two), per site and overall."""
    devices = [
        registered(1, 100),
        registered(2, 100, kind="ios"),
        registered(3, 101, site=2),
        phone(4, None),
    ]
    pushes = [pushed(1, "queued"), pushed(2, "receipted"), pushed(3, "failed")]
    message = with_persons(devices, [], [], pushes).message
    assert to_dict(message.push) == {**NO_PUSHES, "queued": 1, "receipted": 1, "failed": 1}
    assert to_dict(message.sites[1].push) == {**NO_PUSHES, "queued": 1, "receipted": 1}
    assert to_dict(message.sites[2].push) == {**NO_PUSHES, "failed": 1}
    assert message.totals.reached == 1  # person 100, by the receipted phone


def test_a_pushed_update_in_flight_keeps_the_device_reached() -> None:
    """After a delivered trigger the update is queued: still reached, shown as queued."""
    update = PushRow(device_id=1, alert_id=7, seq=43, state="queued", any_delivered=True, at=at(60))
    document = with_persons([registered(1, 100)], [], [], [update]).document()
    assert document["totals"]["reached"] == 1
    assert document["not_answered"][0]["devices"][0]["push"]["state"] == "queued"


@given(
    st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from([1, 2]), STATUS_RECEIPTS),
        max_size=15,
    ),
    st.lists(st.tuples(st.integers(1, 9), st.sampled_from([1, 2, 3])), max_size=8),
)
def test_persons_without_devices_add_up_for_any_mix(
    rows: list[tuple[int, int, str | None]], roles: list[tuple[int, int]]
) -> None:
    """Persons with a role and no counted device add to expected and not_reached exactly
    once each; no_device never exceeds not_reached; the list agrees with the count."""
    devices = [
        phone(device_id, person if person < 6 else None, site=site)
        for device_id, (person, site, _) in enumerate(rows, start=1)
    ]
    receipts = [
        delivered(device_id, site)
        for device_id, (_, site, status) in enumerate(rows, start=1)
        if status is not None
    ]
    sites_of: dict[int, set[int]] = {}
    for person_id, site in roles:
        sites_of.setdefault(100 + person_id, set()).add(site)
    persons = [person(pid, *sites) for pid, sites in sites_of.items()]
    document = with_persons(devices, receipts, persons).document()
    totals = document["totals"]
    with_device = {p for p, _, _ in rows if p < 6}
    absent = {pid for pid, sites in sites_of.items() if sites & {1, 2}} - with_device
    shared = sum(1 for p, _, _ in rows if p == 6)
    assert totals["expected"] == len(with_device) + shared + len(absent)
    assert totals["no_device"] == len(absent) <= totals["not_reached"]
    assert totals["reached"] + totals["not_reached"] == totals["expected"]
    assert document["not_reached_count"] == totals["not_reached"]
    no_device = [e for e in document["not_reached"] if e["reason"] == "no_device"]
    assert sorted(e["person_id"] for e in no_device) == sorted(absent)
