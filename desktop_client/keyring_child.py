"""The device token read and stored by a short-lived child process, so that the running
client never loads `keyring`.

`keyring` with its backends (Secret Service over D-Bus, `cryptography`, entry points) adds
~14 MB to a process's resident memory and never gives it back, for what is one read at
start-up and one write at enrollment. The tray client runs all day on every teacher's PC, so
it asks a child instead: the same program started again with PDV_DESKTOP_KEYRING_CHILD set
(`python -m desktop_client`, or the frozen executable itself), which does one operation with
desktop_client/config.py's functions and exits. The token travels over the child's pipes,
never its command line. If the child cannot be started or fails, the operation runs in this
process instead: memory is the only thing at stake, never the token.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from desktop_client import config

log = logging.getLogger(__name__)

ENV_OPERATION = "PDV_DESKTOP_KEYRING_CHILD"  # "read" or "store"
ENV_CONFIG_DIR = "PDV_DESKTOP_KEYRING_DIR"
TIMEOUT_SECONDS = 60.0  # a keyring may ask the person to unlock it


def client_command() -> list[str]:
    """How to start this client again: the interpreter with `-m desktop_client`, or the
    executable itself when frozen (PyInstaller)."""
    if getattr(sys, "frozen", False):  # PyInstaller: the executable is the program
        return [sys.executable]
    return [sys.executable, "-m", "desktop_client"]


def _run(operation: str, config_dir: Path, stdin: str) -> str | None:
    """The child's answer (its stdout), or None when it could not do the operation."""
    env = {**os.environ, ENV_OPERATION: operation, ENV_CONFIG_DIR: str(config_dir)}
    try:
        done = subprocess.run(
            client_command(),
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("keyring child could not run (%s); using the keyring in this process", exc)
        return None
    if done.returncode != 0:
        log.warning("keyring child failed (%s); using the keyring in this process", done.stderr)
        return None
    return done.stdout


def read_token(config_dir: Path) -> str | None:
    """config.read_token, done by a child."""
    answer = _run("read", config_dir, "")
    if answer is None:
        return config.read_token(config_dir)
    return answer.strip() or None


def store_token(config_dir: Path, token: str) -> str:
    """config.store_token, done by a child: "keyring" or "file"."""
    answer = _run("store", config_dir, token)
    if answer is None or answer.strip() not in ("keyring", "file"):
        return config.store_token(config_dir, token)
    return answer.strip()


def child_main(operation: str) -> int:
    """The child's side: one operation, its answer on stdout."""
    config_dir = Path(os.environ[ENV_CONFIG_DIR])
    if operation == "read":
        print(config.read_token(config_dir) or "")
        return 0
    if operation == "store":
        print(config.store_token(config_dir, sys.stdin.read().strip()))
        return 0
    print(f"unknown {ENV_OPERATION} operation {operation!r}", file=sys.stderr)
    return 2
