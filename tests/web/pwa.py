"""Helpers for the PWA's browser tests (tests/web/test_pwa*.py).

Each test makes a school of its own on the shared demo server (`School`: a site, a principal,
a staff member and a web enrollment code, made over the HTTP API by the demo admin), so tests
that trigger never meet another test's alert. `enroll_in_page` drives the PWA as a person
would: log in, enroll with the code, wait for the home view.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from server import demo
from tests.server.serving import HTTP_TIMEOUT, Running
from tests.web.browsing import PageProblems

PASSWORD = "pwa-test-password"
ADMIN = next(person for person in demo.PEOPLE if person.email.startswith("admin@"))
WAIT_MS = 30_000  # the longest a page may take to show what the server sent (busy machine)
_numbers = itertools.count(1)
# What Chromium logs when the network or the server is gone (the offline tests cause it).
NETWORK_ERRORS = re.compile(
    r"ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_REFUSED|ERR_FAILED"
    r"|WebSocket connection to|Failed to fetch"
)


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    id: int
    password: str = PASSWORD


@dataclass(frozen=True)
class School:
    site_id: int
    name: str
    principal: Person
    staff: Person
    code: str
    enroll_url: str


@contextmanager
def logged_in(base_url: str, email: str, password: str) -> Iterator[httpx.Client]:
    """An HTTP client with the person's session cookie, for the block."""
    with httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT) as client:
        answer = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        yield client


def make_school(web: Running, *, staff_may_trigger: bool = True) -> School:
    """A new site with a principal, a staff member and a web enrollment code (5 uses)."""
    number = next(_numbers)
    tag = f"{os.getpid()}-{number}"
    with logged_in(web.url, ADMIN.email, ADMIN.password) as admin:
        site = admin.post(
            "/api/v1/sites",
            json={"name": f"Testskolan {tag}", "staff_may_trigger": staff_may_trigger},
        )
        assert site.status_code == 201, site.text
        site_id = site.json()["id"]
        people = {}
        for role, name in (("principal", "Rut Rektor"), ("staff", "Anna Lind")):
            email = f"{role}.{tag}@kopings-kommun.example"
            made = admin.post(
                "/api/v1/persons",
                json={
                    "email": email,
                    "name": f"{name} {number}",
                    "password": PASSWORD,
                    "roles": [{"role": role, "site_id": site_id}],
                },
            )
            assert made.status_code == 201, made.text
            people[role] = Person(email=email, name=f"{name} {number}", id=made.json()["id"])
        code = admin.post(
            "/api/v1/enrollment-codes",
            json={"site_id": site_id, "device_kind": "web", "max_uses": 5},
        )
        assert code.status_code == 201, code.text
    return School(
        site_id=site_id,
        name=site.json()["name"],
        principal=people["principal"],
        staff=people["staff"],
        code=code.json()["code"],
        enroll_url=code.json()["enroll_url"],
    )


def log_in(page: Page, person: Person) -> None:
    """Fill the shared login form and submit it."""
    page.get_by_label("E-post").fill(person.email)
    page.get_by_label("Lösenord").fill(person.password)
    page.get_by_role("button", name="Logga in").click()


def enroll_in_page(page: Page, school: School, *, path: str = "/") -> None:
    """Open the PWA at `path`, log in as the school's staff member, enroll with the code
    (typed, unless `path` pre-fills it) and wait for the home view."""
    page.goto(path)
    log_in(page, school.staff)
    code = page.get_by_label("Registreringskod")
    expect(code).to_be_visible()
    if not code.input_value():
        code.fill(school.code)
    page.get_by_role("button", name="Registrera").click()
    expect(page.get_by_role("heading", name="Inga pågående larm")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("Ansluten – larm kommer fram")).to_be_visible(timeout=WAIT_MS)


def trigger(leader: httpx.Client, school: School, **body: Any) -> dict[str, Any]:
    """Trigger at the school's site as its principal (kind inrymning unless given)."""
    answer = leader.post(
        "/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": [school.site_id], **body}
    )
    assert answer.status_code in (200, 201), answer.text
    alert: dict[str, Any] = answer.json()["alert"]
    return alert


def device_token(page: Page) -> str:
    """The device token the PWA stored in IndexedDB (what its service worker reads)."""
    token: str = device_record(page)["token"]
    return token


def forgive_network_errors(problems: PageProblems) -> None:
    """Drop the console errors Chromium logs for a network or server that is gone (what an
    offline test causes on purpose); every other error still fails the test."""
    problems.errors[:] = [error for error in problems.errors if not NETWORK_ERRORS.search(error)]


def _describes(item: object, device_id: int) -> bool:
    return isinstance(item, dict) and item.get("device_id") == device_id


def find_device(document: object, device_id: int) -> dict[str, Any] | None:
    """The first object in a JSON document (a reachability report, a roll call) describing
    the device `device_id` (by `device_id`, or `id` inside a `devices` list)."""
    if _describes(document, device_id):
        return document  # type: ignore[return-value]
    if isinstance(document, dict):
        listed = document.get("devices")
        if isinstance(listed, list):
            for item in listed:
                if isinstance(item, dict) and item.get("id") == device_id:
                    return item
        children: list[object] = list(document.values())
    elif isinstance(document, list):
        children = list(document)
    else:
        return None
    for child in children:
        found = find_device(child, device_id)
        if found is not None:
            return found
    return None


def device_record(page: Page) -> Any:
    """The device record the PWA keeps in IndexedDB (None when there is none)."""
    record = page.evaluate(
        """() => new Promise((resolve, reject) => {
            const open = indexedDB.open("pdv-alert", 1);
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
                const get = open.result.transaction("kv").objectStore("kv").get("self");
                get.onsuccess = () => resolve(get.result);
                get.onerror = () => reject(get.error);
            };
        })"""
    )
    return record
