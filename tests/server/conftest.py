"""Fixtures for the tests of the real `pdv-alert serve` process (tests/server/serving.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.serving import Running, serving


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    """`pdv-alert demo`, then `pdv-alert serve --port 0` on a fresh SQLite file."""
    with serving(tmp_path) as running:
        yield running
