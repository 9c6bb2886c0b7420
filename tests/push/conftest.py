"""Fixtures for the push library's tests: a VAPID key, a message, and the local Web Push
service (tests/peers/webpush.py) on a port of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from push.message import PushMessage
from push.vapid import generate_vapid_key
from tests.peers.webpush import WebPushPeer

SUBJECT = "mailto:it@skola.example"


@pytest.fixture(scope="session")
def vapid_pem() -> str:
    return generate_vapid_key()


@pytest.fixture
def message() -> PushMessage:
    return PushMessage(
        alert_id=42,
        seq=7,
        event="triggered",
        kind="pdv_lockdown",
        mode="actual",
        state="active",
        title="PDV – Pågående dödligt våld",
        body="Lås in er. Håll er borta från fönster och dörrar. Vänta på besked.",
        sites=("Västerskolan",),
        url="/alerts/42",
    )


@pytest.fixture
async def webpush_peer() -> AsyncIterator[WebPushPeer]:
    async with WebPushPeer() as peer:
        yield peer
