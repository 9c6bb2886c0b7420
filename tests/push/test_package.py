"""`push` names its library at the top: the message, the targets, the typed results and
the two senders — the senders loaded only when named."""

from __future__ import annotations

import subprocess
import sys

import push
from push import apns, message, webpush


def test_the_package_names_the_library() -> None:
    assert push.PushMessage is message.PushMessage
    assert (push.Delivered, push.Gone, push.Retry, push.Rejected) == (
        message.Delivered,
        message.Gone,
        message.Retry,
        message.Rejected,
    )
    assert push.WebPushSender is webpush.WebPushSender
    assert push.APNsSender is apns.APNsSender
    assert set(push.__all__) >= {"PushMessage", "WebPushSender", "APNsSender"}


def test_importing_the_package_loads_no_http_client() -> None:
    code = "import sys, push; print('aiohttp' in sys.modules, 'aioapns' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "False"]
