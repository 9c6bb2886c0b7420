"""The browsers' live connection (server/web/js/shared/live.js) drops a connection that has
sent no frame for 2 × heartbeat_s and reconnects, and keeps one whose pongs come, also when
a background tab's timers run late — run in Node with a scripted socket
(tests/web/live_connection.test.mjs)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.protocol.node import ROOT, node_env, node_or_skip

SCRIPT = Path(__file__).with_name("live_connection.test.mjs")
LIVE_JS = ROOT / "server" / "web" / "js" / "shared" / "live.js"


def test_a_silent_connection_is_dropped_and_a_healthy_one_kept() -> None:
    node = node_or_skip()
    run = subprocess.run(
        [node, str(SCRIPT)],
        env=node_env(PDV_LIVE_JS=LIVE_JS.as_uri()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["silent"]["closed"] == 4000
    assert result["silent"]["health"][:2] == ["connected", "disconnected"]
    assert result["healthy"] == {"closed": None, "health": ["connected"]}
    assert result["throttled"] == {"closed": None, "health": ["connected"]}
