"""Running server/web/protocol.js in Node from the tests: the JS mirror of the protocol."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_JS = ROOT / "server" / "web" / "protocol.js"
DECODE_SCRIPT = Path(__file__).with_name("js_decode.mjs")


def node_or_skip() -> str:
    """The `node` executable; skips the test without it (fails with PDV_REQUIRE_SERVICES=1)."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("PDV_REQUIRE_SERVICES") == "1":
            pytest.fail("node is required (PDV_REQUIRE_SERVICES=1) but not on PATH")
        pytest.skip("node is not installed: the JS mirror of the protocol is not checked")
    return node


def node_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PDV_PROTOCOL_JS": PROTOCOL_JS.as_uri(), **extra}


def js_decode(frames: list[str]) -> list[dict[str, Any]]:
    """Each frame decoded by protocol.js `decodeServer`: {"message": …} or {"error": …}."""
    node = node_or_skip()
    with tempfile.TemporaryDirectory() as directory:
        frames_path = Path(directory) / "frames.json"
        out_path = Path(directory) / "out.json"
        frames_path.write_text(json.dumps(frames), encoding="utf-8")
        result = subprocess.run(
            [node, str(DECODE_SCRIPT), str(frames_path), str(out_path)],
            env=node_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        decoded: list[dict[str, Any]] = json.loads(out_path.read_text(encoding="utf-8"))
    return decoded
