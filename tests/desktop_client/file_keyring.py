"""A working OS keyring for child processes in tests: a keyring backend (selected with
PYTHON_KEYRING_BACKEND=tests.desktop_client.file_keyring.FileKeyring) that keeps its items in
the JSON file named by PDV_TEST_KEYRING_FILE, so a test can look inside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ["PDV_TEST_KEYRING_FILE"])

    def _items(self) -> dict[str, str]:
        try:
            items: dict[str, str] = json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}
        return items

    def get_password(self, service: str, username: str) -> str | None:
        return self._items().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        items = self._items()
        items[f"{service}/{username}"] = password
        self._path.write_text(json.dumps(items))

    def delete_password(self, service: str, username: str) -> None:
        items = self._items()
        items.pop(f"{service}/{username}", None)
        self._path.write_text(json.dumps(items))
