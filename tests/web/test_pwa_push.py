"""Web Push in the PWA, tested in its two real halves (no browser push service is reachable
here, so `pushManager.subscribe()` itself cannot succeed):

(a) the page's subscribe step: `PushManager.prototype.subscribe` is replaced (an init script)
    by one returning a subscription the test made with its own keys at the local Web Push
    service (tests/peers/webpush.py); the PWA must ask with the server's VAPID key and
    register `toJSON()` at `PUT /devices/self/push`, and a trigger then reaches the service,
    encrypted for those keys;
(b) the service worker's `push` handler, driven through the DevTools protocol
    (`ServiceWorker.deliverPushMessage`) with the payload the server really sent (as the
    service decrypted it): the notification it shows (tag, requireInteraction, the texts) and
    its HTTP receipts at the server; and its `notificationclick` handler's work (the page is
    told to show the alert; its URL opens the alert).

Not covered: the browser's own push service and delivery, and a real click on a system
notification (no DevTools command makes one; `focus()`/`openWindow()` need that click).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from server import demo
from tests.peers.webpush import PeerSubscription, WebPushPeer
from tests.server.serving import Running, serving
from tests.web.browsing import PageProblems, assert_accessible
from tests.web.pwa import (
    WAIT_MS,
    School,
    device_record,
    enroll_in_page,
    find_device,
    logged_in,
    make_school,
    trigger,
)

PUSH_WAIT_S = 90.0  # the dispatcher on a busy 2-core machine (tests/server/test_push_e2e.py: 60)
CHIEF = next(person for person in demo.PEOPLE if person.email.startswith("sakerhetschef@"))

# Replaces the browser's subscribe with one that returns the test's subscription, and keeps
# the applicationServerKey the page asked with (base64url) for the test to check.
FAKE_SUBSCRIBE = """
(() => {
  const made = %s;
  let subscribed = false;
  const subscription = {
    endpoint: made.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: null },
    toJSON: () => ({ endpoint: made.endpoint, expirationTime: null, keys: made.keys }),
    unsubscribe: async () => { subscribed = false; return true; },
  };
  PushManager.prototype.subscribe = async function (options) {
    const bytes = new Uint8Array(options.applicationServerKey);
    window.__applicationServerKey = btoa(String.fromCharCode(...bytes))
      .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    subscription.options = options;
    subscribed = true;
    return subscription;
  };
  PushManager.prototype.getSubscription = async function () {
    return subscribed ? subscription : null;
  };
})();
"""


@dataclass
class PushWeb:
    running: Running
    peer: WebPushPeer

    @property
    def url(self) -> str:
        return self.running.url

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = httpx.get(self.url + "/api/v1/config").json()
        return config


@pytest.fixture(scope="module")
def push_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushWeb]:
    """The demo server (its development VAPID key) sending to the local Web Push service."""
    with WebPushPeer() as peer:
        with serving(
            tmp_path_factory.mktemp("push-web"),
            push_allowed_origins=json.dumps([peer.origin]),
            catch_up_seconds="0.5",
            push_tick_seconds="0.2",
        ) as running:
            yield PushWeb(running, peer)


@pytest.fixture
def push_context(browser: Browser, push_web: PushWeb) -> Iterator[BrowserContext]:
    fresh = browser.new_context(
        base_url=push_web.url,
        locale="sv-SE",
        viewport={"width": 390, "height": 844},
        service_workers="allow",
    )
    fresh.grant_permissions(["notifications"], origin=push_web.url)
    yield fresh
    fresh.close()


@pytest.fixture
def push_page(push_context: BrowserContext) -> Iterator[Page]:
    problems = PageProblems()
    opened = push_context.new_page()
    problems.watch(opened)
    yield opened
    assert problems.errors == [], "\n".join(problems.errors)


def enroll_with_push(
    context: BrowserContext, page: Page, push_web: PushWeb
) -> tuple[School, PeerSubscription]:
    """A school, a subscription at the local push service made with the server's VAPID key,
    the PWA enrolled with the fake subscribe step in place."""
    school = make_school(push_web.running)
    subscription = push_web.peer.subscribe(
        application_server_key=push_web.config()["vapid_public_key"]
    )
    context.add_init_script(FAKE_SUBSCRIBE % json.dumps(subscription.to_json()))
    enroll_in_page(page, school)
    expect(page.get_by_text("Aviseringar är på.")).to_be_visible(timeout=WAIT_MS)
    return school, subscription


def pushed(
    push_web: PushWeb, subscription: PeerSubscription, alert_id: int, seq: int
) -> dict[str, Any]:
    """The decrypted payload of event `seq` of the alert, once the service received it."""
    deadline = time.monotonic() + PUSH_WAIT_S
    while time.monotonic() < deadline:
        for item in push_web.peer.received_by(subscription):
            if item.payload["alert_id"] == alert_id and item.payload["seq"] == seq:
                return item.payload
        time.sleep(0.2)
    got = [
        (r.payload["alert_id"], r.payload["seq"]) for r in push_web.peer.received_by(subscription)
    ]
    refused = [(r.status, r.reason) for r in push_web.peer.refused]
    raise AssertionError(f"no push of alert {alert_id} seq {seq}; got {got}, refused {refused}")


def deliver(page: Page, origin: str, payload: dict[str, Any]) -> None:
    """Wake the PWA's service worker with `payload` as its push message (through a DevTools
    session of `page`; its events arrive while Playwright waits, hence wait_for_timeout)."""
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + WAIT_MS / 1000
    while not any(r["scopeURL"] == origin + "/" and not r["isDeleted"] for r in registrations):
        assert time.monotonic() < deadline, "no service worker registration"
        page.wait_for_timeout(100)
    registration = next(r for r in registrations if r["scopeURL"] == origin + "/")
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": origin,
            "registrationId": registration["registrationId"],
            "data": json.dumps(payload),
        },
    )


def notifications(context: BrowserContext) -> list[dict[str, Any]]:
    """The notifications the service worker shows now."""
    worker = context.service_workers[0]
    shown: list[dict[str, Any]] = worker.evaluate(
        """async () => (await self.registration.getNotifications()).map((n) => ({
            title: n.title, body: n.body, tag: n.tag, silent: n.silent,
            requireInteraction: n.requireInteraction, data: n.data,
        }))"""
    )
    return shown


def receipts(leader: httpx.Client, alert_id: int, device_id: int) -> dict[str, Any] | None:
    report = leader.get(f"/api/v1/alerts/{alert_id}/reachability")
    assert report.status_code == 200, report.text
    return find_device(report.json(), device_id)


def wait_for(check: Any) -> Any:
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.2)


def test_the_pwa_registers_its_subscription_and_a_trigger_reaches_it(
    push_context: BrowserContext, push_page: Page, push_web: PushWeb
) -> None:
    """Enrolling subscribes with the server's VAPID key and registers the subscription's
    toJSON() (GET /devices/self shows a webpush registration); an alert then reaches the
    push service, encrypted for the subscription's keys, with the alert's order."""
    config = push_web.config()
    assert config["vapid_public_key"]
    school, subscription = enroll_with_push(push_context, push_page, push_web)
    assert push_page.evaluate("window.__applicationServerKey") == config["vapid_public_key"]
    token = device_record(push_page)["token"]
    own = httpx.get(
        push_web.url + "/api/v1/devices/self", headers={"Authorization": f"Bearer {token}"}
    )
    assert own.status_code == 200, own.text
    assert own.json()["push"]["type"] == "webpush"
    assert_accessible(push_page)
    # Closed, as when the phone is in a pocket: a device that receipts the alert over its
    # socket first is not pushed at all (the dispatcher stops on a receipt).
    push_page.goto("about:blank")
    with logged_in(push_web.url, school.principal.email, school.principal.password) as leader:
        alert = trigger(leader, school)
        payload = pushed(push_web, subscription, alert["id"], payload_seq(leader, alert["id"]))
        assert payload["body"] == alert["order"]["sv"]
        assert payload["mode"] == "actual"
        leader.post(f"/api/v1/alerts/{alert['id']}/resolve")


def payload_seq(leader: httpx.Client, alert_id: int) -> int:
    """The seq of the alert's `triggered` event."""
    events = leader.get("/api/v1/alerts/events", params={"after_seq": 0}).json()["events"]
    seq: int = next(
        e["seq"] for e in events if e["alert"]["id"] == alert_id and e["event"] == "triggered"
    )
    return seq


def test_the_service_worker_shows_the_push_and_receipts_it(
    push_context: BrowserContext, push_page: Page, push_web: PushWeb
) -> None:
    """The server's push payload of a drill, delivered to the service worker with no app page
    open: a notification tagged with the alert id, requiring interaction, with the server's
    title and order; `delivered` and `displayed` reach the server over HTTP (the device had
    no socket). A click on it tells an open page to show the alert, and its URL opens it."""
    school, subscription = enroll_with_push(push_context, push_page, push_web)
    device_id = device_record(push_page)["id"]
    push_page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=WAIT_MS)
    push_page.goto("about:blank")  # no app page: no live connection
    with logged_in(push_web.url, CHIEF.email, CHIEF.password) as chief:
        drill = trigger(chief, school, mode="drill")
        payload = pushed(push_web, subscription, drill["id"], payload_seq(chief, drill["id"]))
        assert receipts(chief, drill["id"], device_id)["delivered_at"] is None
        deliver(push_page, push_web.url, payload)
        shown = wait_for(
            lambda: [n for n in notifications(push_context) if n["tag"] == str(drill["id"])]
        )
        assert shown[0]["title"] == payload["title"]
        assert shown[0]["title"].startswith("ÖVNING")
        assert shown[0]["body"].startswith(drill["order"]["sv"])
        assert shown[0]["requireInteraction"] is True
        assert shown[0]["silent"] is False
        assert shown[0]["data"]["url"] == f"/?alert={drill['id']}"
        entry = wait_for(
            lambda: (
                (found := receipts(chief, drill["id"], device_id))
                and found["displayed_at"]
                and found
            )
        )
        assert entry["delivered_at"] is not None

        # notificationclick: an open app page is told to show the alert ...
        push_page.goto("/")
        expect(push_page.get_by_role("heading", name=drill["order"]["sv"])).to_be_visible(
            timeout=WAIT_MS
        )
        push_page.evaluate(
            "navigator.serviceWorker.addEventListener('message', e => { window.__told = e.data; })"
        )
        push_context.service_workers[0].evaluate(
            "async (data) => { await openAlert(data); }", shown[0]["data"]
        )
        told = wait_for(lambda: push_page.evaluate("window.__told ?? null"))
        assert told == {"type": "open-alert", "alert_id": drill["id"]}
        # ... and its URL, where a closed app opens, shows it
        push_page.goto(shown[0]["data"]["url"])
        expect(push_page.get_by_role("heading", name=drill["order"]["sv"])).to_be_visible(
            timeout=WAIT_MS
        )
        assert push_page.url.endswith("/")
        chief.post(f"/api/v1/alerts/{drill['id']}/resolve")


def test_a_test_alert_push_is_quiet_and_only_delivered(
    push_context: BrowserContext, push_page: Page, push_web: PushWeb
) -> None:
    """A reachability test's push shows the quiet notification its payload says (silent, not
    requiring interaction) and receipts `delivered` only."""
    school, subscription = enroll_with_push(push_context, push_page, push_web)
    device_id = device_record(push_page)["id"]
    push_page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=WAIT_MS)
    push_page.goto("about:blank")
    with logged_in(push_web.url, CHIEF.email, CHIEF.password) as chief:
        test = trigger(chief, school, mode="test")
        payload = pushed(push_web, subscription, test["id"], payload_seq(chief, test["id"]))
        assert payload["mode"] == "test"
        deliver(push_page, push_web.url, payload)
        shown = wait_for(
            lambda: [n for n in notifications(push_context) if n["tag"] == str(test["id"])]
        )
        assert shown[0]["title"] == payload["title"] == "TEST"
        assert shown[0]["body"].startswith(payload["body"])
        assert shown[0]["silent"] is True
        assert shown[0]["requireInteraction"] is False
        entry = wait_for(
            lambda: (
                (found := receipts(chief, test["id"], device_id))
                and found["delivered_at"]
                and found
            )
        )
        assert entry["displayed_at"] is None
        chief.post(f"/api/v1/alerts/{test['id']}/resolve")


def test_manifest_names_the_app_and_its_icons(push_web: PushWeb) -> None:
    """The manifest is installable: name, start_url /, standalone, lang sv, and PNG icons of
    192 and 512 pixels plus a maskable one, each served as a PNG of its stated size."""
    manifest = httpx.get(push_web.url + "/manifest.webmanifest").json()
    assert manifest["name"] == "PDV-larm"
    assert manifest["start_url"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["lang"] == "sv"
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        answer = httpx.get(push_web.url + icon["src"])
        assert answer.status_code == 200, icon["src"]
        if icon["type"] == "image/png":
            assert answer.content[:8] == b"\x89PNG\r\n\x1a\n"
            width = int.from_bytes(answer.content[16:20], "big")
            height = int.from_bytes(answer.content[20:24], "big")
            assert f"{width}x{height}" == icon["sizes"]
