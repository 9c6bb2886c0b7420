"""Fixtures for the push library's tests: a VAPID key, a message, and the local Web Push
service (tests/peers/webpush.py) on a port of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from push.message import PushMessage
from push.vapid import generate_vapid_key
from tests.peers.webpush import WebPushPeer
from tests.push import samples

SUBJECT = "mailto:it@skola.example"


@pytest.fixture(scope="session")
def vapid_pem() -> str:
    return generate_vapid_key()


@pytest.fixture
def message() -> PushMessage:
    return samples.message()


@pytest.fixture
async def webpush_peer() -> AsyncIterator[WebPushPeer]:
    async with WebPushPeer() as peer:
        yield peer
