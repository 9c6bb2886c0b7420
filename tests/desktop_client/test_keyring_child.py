"""The token is read and stored by a child process (desktop_client/keyring_child.py): the
same results as desktop_client/config.py's functions, and `keyring` never loaded by the
process that asked."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_client import config, keyring_child

ROOT = Path(__file__).resolve().parents[2]
FILE_KEYRING = "tests.desktop_client.file_keyring.FileKeyring"
NULL_KEYRING = "keyring.backends.null.Keyring"


@pytest.fixture
def ring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working keyring for the children, kept in a file the test can read."""
    path = tmp_path / "ring.json"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FILE_KEYRING)
    monkeypatch.setenv("PDV_TEST_KEYRING_FILE", str(path))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return path


def test_a_child_keeps_the_token_in_the_keyring_and_reads_it_back(
    tmp_path: Path, ring: Path
) -> None:
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    assert keyring_child.store_token(config_dir, "pdvd_secret") == "keyring"
    assert json.loads(ring.read_text()) == {
        f"{config.KEYRING_SERVICE}/{config_dir.resolve()}": "pdvd_secret"
    }
    assert not (config_dir / config.TOKEN_FILE).exists()
    assert keyring_child.read_token(config_dir) == "pdvd_secret"


def test_without_a_usable_keyring_the_child_writes_the_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NULL_KEYRING)
    config_dir = tmp_path / "cfg"
    assert keyring_child.store_token(config_dir, "pdvd_secret") == "file"
    path = config_dir / config.TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "pdvd_secret"
    assert keyring_child.read_token(config_dir) == "pdvd_secret"
    assert keyring_child.read_token(tmp_path / "none") is None


def test_the_asking_process_never_loads_keyring(tmp_path: Path, ring: Path) -> None:
    """What the tray client does at start-up, in a fresh interpreter: `keyring` stays out."""
    script = (
        "import sys; from pathlib import Path; from desktop_client import keyring_child\n"
        f"d = Path({str(tmp_path)!r})\n"
        "assert keyring_child.store_token(d, 'pdvd_x') == 'keyring'\n"
        "assert keyring_child.read_token(d) == 'pdvd_x'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'keyring'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_child_that_cannot_run_leaves_the_work_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No child (here: no such interpreter): the token is still stored and read."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NULL_KEYRING)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    import keyring
    from keyring.backends import null

    before = keyring.get_keyring()
    keyring.set_keyring(null.Keyring())
    try:
        assert keyring_child.store_token(tmp_path, "pdvd_secret") == "file"
        assert keyring_child.read_token(tmp_path) == "pdvd_secret"
    finally:
        keyring.set_keyring(before)
