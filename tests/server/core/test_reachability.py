"""The pure reachability report (the drill report): per device and person the time to
delivery, display and answer, figures per site, who was never reached, the CSV rows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from server.core.delivery import PushRow
from server.core.reachability import (
    CSV_COLUMNS,
    csv_text,
    figures,
    percentile,
    reachability,
)
from server.core.rollcall import DeviceRow, PersonRow, ReceiptRow
from tests.server.core.rollcall_world import (
    AT,
    NO_PUSHES,
    SITES,
    T0,
    answered,
    at,
    delivered,
    displayed,
    person,
    phone,
    pushed,
    registered,
)


def report_of(
    devices: list[DeviceRow],
    receipts: list[ReceiptRow],
    *,
    mode: str = "test",
    state: str | None = None,
    sites: dict[int, str] = SITES,
    persons: list[PersonRow] | None = None,
    pushes: list[PushRow] | None = None,
) -> dict[str, Any]:
    """The report of alert 7, triggered at T0 and read at AT."""
    return reachability(
        alert_id=7,
        mode=mode,
        state=state,
        created_at=T0,
        sites=sites,
        devices=devices,
        receipts=receipts,
        at=AT,
        persons=persons or [],
        pushes=pushes or [],
    )


def device_totals(**values: int) -> dict[str, int]:
    """A report's `totals`: zero but for `values`."""
    return {"devices": 0, "reached": 0, "not_reached": 0, "displayed": 0, "no_device": 0, **values}


def test_percentile_is_nearest_rank() -> None:
    """p50/p95 of 1..100 are 50/95; one value is every percentile; none is None."""
    values = list(range(100, 0, -1))
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 100) == 100
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None


def test_reachability_lists_devices_with_latency_and_totals() -> None:
    """Per device delivered/displayed and ms since the alert; not reached first; summaries."""
    devices = [phone(1, 100), phone(2, None), phone(3, 101, zone=10), phone(4, 102, site=2)]
    receipts = [
        delivered(1, seconds=0.25),
        displayed(3, seconds=2),
        delivered(4, site_id=2, seconds=4),
    ]
    report = report_of(devices, receipts)
    assert report["totals"] == device_totals(devices=4, reached=3, not_reached=1, displayed=1)
    assert report["latency_ms"] == {"p50": 1000, "p95": 4000, "max": 4000}
    site = report["sites"]["1"]
    assert [d["device_id"] for d in site["devices"]] == [2, 1, 3]
    assert site["devices"][0] == {
        "device_id": 2,
        "name": "device 2",
        "kind": "desktop",
        "zone_id": None,
        "person": None,
        "delivered_at": None,
        "displayed_at": None,
        "latency_ms": None,
        "reached": False,
        "push": None,
        "delivered_ms": None,
        "displayed_ms": None,
        "answered_ms": None,
        "response": None,
    }
    assert site["devices"][1]["latency_ms"] == 250
    assert site["devices"][2]["person"] == {"id": 101, "name": "Person 101"}
    assert site["devices"][2]["displayed_at"] == at(2).isoformat()
    assert site["latency_ms"] == {"p50": 250, "p95": 1000, "max": 1000}
    assert report["sites"]["2"]["totals"]["reached"] == 1
    assert report["mode"] == "test" and report["created_at"] == T0.isoformat()


def test_reachability_counts_devices_not_persons_and_clamps_clock_skew() -> None:
    """A person's two devices are two rows; a delivery stamped before the alert is 0 ms."""
    devices = [phone(1, 100), phone(2, 100)]
    receipts = [ReceiptRow(device_id=1, site_id=1, delivered_at=T0 - timedelta(milliseconds=3))]
    report = report_of(devices, receipts, mode="drill", sites={1: "Ullvi"})
    assert report["totals"]["devices"] == 2
    assert report["latency_ms"] == {"p50": 0, "p95": 0, "max": 0}


def test_reachability_with_no_devices_has_empty_summaries() -> None:
    """A site without devices: zero totals and no latency figures."""
    report = report_of([], [], sites={1: "Ullvi"})
    assert report["totals"] == device_totals()
    assert report["push"] == NO_PUSHES
    assert report["latency_ms"] == {"p50": None, "p95": None, "max": None}
    assert report["sites"]["1"]["devices"] == []


def test_reachability_counts_push_states_and_lists_persons_without_device() -> None:
    """A test alert: a push-delivered phone is reached without a latency (listed after the
    not reached, before the timed ones), push states are counted, and persons without a
    device are counted and named per site."""
    devices = [registered(1, 100), registered(2, 101), phone(3, 102)]
    pushes = [pushed(1, "delivered"), pushed(2, "failed", reason="rejected: 403")]
    report = report_of(
        devices,
        [delivered(3, seconds=0.5)],
        persons=[person(103, 1), person(104, 1, 2)],
        pushes=pushes,
    )
    assert report["totals"] == device_totals(devices=3, reached=2, not_reached=1, no_device=2)
    assert report["push"] == {**NO_PUSHES, "delivered": 1, "failed": 1}
    assert report["latency_ms"] == {"p50": 500, "p95": 500, "max": 500}
    site = report["sites"]["1"]
    assert [(d["device_id"], d["reached"]) for d in site["devices"]] == [
        (2, False),
        (1, True),
        (3, True),
    ]
    assert site["devices"][0]["push"]["reason"] == "rejected: 403"
    assert site["devices"][1]["latency_ms"] is None
    assert site["no_device"] == [
        {"person_id": 103, "name": "Person 103"},
        {"person_id": 104, "name": "Person 104"},
    ]
    assert report["sites"]["2"]["no_device"] == [{"person_id": 104, "name": "Person 104"}]
    assert report["sites"]["2"]["totals"]["no_device"] == 1


# -- the drill report: per device, per person, per site ------------------------------------


def drill(
    devices: list[DeviceRow],
    receipts: list[ReceiptRow],
    persons: list[PersonRow] | None = None,
    pushes: list[PushRow] | None = None,
) -> dict[str, Any]:
    """The report of a drill that has ended."""
    return report_of(
        devices, receipts, mode="drill", state="resolved", persons=persons, pushes=pushes
    )


def test_each_device_has_its_times_to_delivery_display_and_answer() -> None:
    """delivered_ms, displayed_ms, answered_ms count from the trigger; null when never."""
    report = drill(
        [phone(1, 100), phone(2, 101), phone(3, None)],
        [answered(1, "need_help", seconds=7.5), delivered(2, seconds=0.4)],
    )
    devices = {d["device_id"]: d for d in report["sites"]["1"]["devices"]}
    assert (
        devices[1]["delivered_ms"],
        devices[1]["displayed_ms"],
        devices[1]["answered_ms"],
        devices[1]["response"],
    ) == (1000, 2000, 7500, "need_help")
    assert (devices[2]["delivered_ms"], devices[2]["displayed_ms"]) == (400, None)
    assert devices[2]["answered_ms"] is None and devices[2]["response"] is None
    assert devices[3]["delivered_ms"] is None and devices[3]["reached"] is False
    assert report["state"] == "resolved"


def test_site_figures_count_devices_and_give_percentiles() -> None:
    """Per site and in total: delivery/display/answer with count, p50, p95, max in ms."""
    report = drill(
        [phone(1, 100), phone(2, 101), phone(3, 102), phone(4, 103, site=2)],
        [
            delivered(1, seconds=1),
            displayed(2, seconds=3),
            answered(3, "safe", seconds=9),
            delivered(4, site_id=2, seconds=2),
        ],
    )
    site = report["sites"]["1"]
    assert site["delivery"] == {"count": 3, "p50_ms": 1000, "p95_ms": 1000, "max_ms": 1000}
    assert site["display"] == {"count": 2, "p50_ms": 2000, "p95_ms": 3000, "max_ms": 3000}
    assert site["answer"] == {"count": 1, "p50_ms": 9000, "p95_ms": 9000, "max_ms": 9000}
    assert report["sites"]["2"]["display"] == {
        "count": 0,
        "p50_ms": None,
        "p95_ms": None,
        "max_ms": None,
    }
    assert report["delivery"]["count"] == 4 and report["delivery"]["max_ms"] == 2000


def test_every_targeted_person_is_listed_with_or_without_a_device() -> None:
    """Persons by name: devices, reached, first delivery, answer; no device → 0, not reached."""
    report = drill(
        [phone(1, 100, zone=10), phone(2, 100), phone(3, 101), phone(4, None)],
        [
            delivered(2, seconds=0.8),
            answered(1, "safe", seconds=6, note="rum 12", location="Hus A"),
        ],
        persons=[person(104, 2), person(103, 1, 2)],
    )
    persons = {p["person_id"]: p for p in report["persons"]}
    assert [p["person_id"] for p in report["persons"]] == [100, 101, 103, 104]
    assert persons[100] == {
        "person_id": 100,
        "name": "Person 100",
        "site_id": 1,
        "zone_id": 10,
        "devices": 2,
        "reached": True,
        "first_delivered_ms": 800,
        "answered_ms": 6000,
        "response": "safe",
        "note": "rum 12",
        "location": "Hus A",
    }
    assert persons[101]["reached"] is False and persons[101]["devices"] == 1
    assert persons[103] == {
        "person_id": 103,
        "name": "Person 103",
        "site_id": 1,
        "zone_id": None,
        "devices": 0,
        "reached": False,
        "first_delivered_ms": None,
        "answered_ms": None,
        "response": None,
        "note": None,
        "location": None,
    }
    assert persons[104]["site_id"] == 2
    assert report["never_reached"] == [
        {"person_id": 101, "name": "Person 101", "site_id": 1, "site": "Ullvi"},
        {"person_id": 103, "name": "Person 103", "site_id": 1, "site": "Ullvi"},
        {"person_id": 104, "name": "Person 104", "site_id": 2, "site": "Kyrkbacken"},
    ]


def test_a_persons_answer_is_the_one_the_roll_call_shows() -> None:
    """Need help on one device outranks safe on another; answered_ms is the first answer."""
    report = drill(
        [phone(1, 100), phone(2, 100)],
        [answered(1, "safe", seconds=4), answered(2, "need_help", seconds=8, note="skadad")],
    )
    (only,) = report["persons"]
    assert (only["response"], only["note"], only["answered_ms"]) == ("need_help", "skadad", 4000)


def test_a_person_reached_by_push_alone_is_reached_without_times() -> None:
    """A delivered push reaches the person (not in never_reached) though no time is known."""
    report = drill([registered(1, 100)], [], pushes=[pushed(1, "delivered")])
    (only,) = report["persons"]
    assert only["reached"] is True and only["first_delivered_ms"] is None
    assert report["never_reached"] == []


@given(
    st.lists(
        st.tuples(
            st.integers(100, 104),
            st.sampled_from([1, 2]),
            st.sampled_from([None, "delivered", "displayed", "safe"]),
            st.floats(0, 120),
        ),
        max_size=12,
    )
)
def test_figures_agree_with_the_devices_for_any_mix(
    rows: list[tuple[int, int, str | None, float]],
) -> None:
    """count = devices with that time; max = their largest; never_reached ⊆ persons."""
    devices = [phone(i, p, site=s) for i, (p, s, _, _) in enumerate(rows, start=1)]
    receipts = []
    for i, (_, s, state, seconds) in enumerate(rows, start=1):
        if state == "delivered":
            receipts.append(delivered(i, s, seconds))
        elif state == "displayed":
            receipts.append(displayed(i, s, seconds + 1))
        elif state == "safe":
            receipts.append(answered(i, "safe", site_id=s, seconds=seconds + 2))
    report = drill(devices, receipts)
    every = [d for site in report["sites"].values() for d in site["devices"]]
    for key, name in (("delivered_ms", "delivery"), ("displayed_ms", "display")):
        times = [d[key] for d in every if d[key] is not None]
        assert report[name] == figures(times)
        assert report[name]["count"] == len(times)
    reached = {p["person_id"] for p in report["persons"] if p["reached"]}
    assert {p["person_id"] for p in report["never_reached"]} == {
        p["person_id"] for p in report["persons"]
    } - reached


def test_figures_of_nothing_are_null() -> None:
    """No times: count 0 and null percentiles."""
    assert figures([]) == {"count": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    assert percentile([3, 1, 2], 50) == 2


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_has_a_bom_a_header_and_one_row_per_person_and_device() -> None:
    """UTF-8 BOM, the header, devices by person per site, persons without a device last."""
    report = drill(
        [
            DeviceRow(
                1, "Åsas iPhone", "ios", 1, zone_id=10, person_id=100, person_name="Åsa Öberg"
            ),
            phone(2, None),
            DeviceRow(3, "PC 3", "desktop", 2, person_id=101, person_name="Bo"),
        ],
        [answered(1, "safe", seconds=4)],
        persons=[person(102, 1)],
    )
    text = csv_text(report, zones={10: "Hus Ä"})
    assert text.startswith("\ufeff")
    parsed = list(csv.reader(io.StringIO(text[1:])))
    assert tuple(parsed[0]) == CSV_COLUMNS
    assert parsed[1:] == [
        ["Ullvi", "", "", "device 2", "desktop", "", "", "", ""],
        ["Ullvi", "Hus Ä", "Åsa Öberg", "Åsas iPhone", "ios", "1000", "2000", "4000", "safe"],
        ["Ullvi", "", "Person 102", "", "", "", "", "", ""],
        ["Kyrkbacken", "", "Bo", "PC 3", "desktop", "", "", "", ""],
    ]
    assert "\r\n" in text


def test_csv_cells_that_look_like_formulas_are_made_text() -> None:
    """A name starting with = + - @ gets a leading ' so a spreadsheet does not run it."""
    report = drill(
        [DeviceRow(1, '=HYPERLINK("x")', "desktop", 1, person_id=5, person_name="+Eve")], []
    )
    row = list(csv.reader(io.StringIO(csv_text(report, zones={})[1:])))[1]
    assert row[2] == "'+Eve" and row[3] == '\'=HYPERLINK("x")'
