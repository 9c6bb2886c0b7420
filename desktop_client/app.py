"""Entry point of `pdv-alert-desktop` (and `python -m desktop_client`): the command line
first (desktop_client/cli.py), then the Qt client, imported lazily so that `--status`,
`--enroll` and `--autostart` work without PySide6."""

from __future__ import annotations

import os
import sys

from desktop_client import cli, config, keyring_child, texts


def main(argv: list[str] | None = None) -> int:
    operation = os.environ.get(keyring_child.ENV_OPERATION)
    if operation:  # this process is the keyring child of a running client
        return keyring_child.child_main(operation)
    args = cli.parse(argv)
    done = cli.run_command(args)
    if done is not None:
        return done
    config_dir = cli.config_dir_of(args)
    settings = config.read_settings(config_dir)
    language = args.language or (settings.language if settings else "sv")
    # The token is read by a child process (desktop_client/keyring_child.py: keyring would
    # stay loaded, ~14 MB). The Qt-free modules are loaded before PySide6: PySide6's import
    # hook reads the source of every module imported after it, and the lines stay cached
    # (linecache) for the life of the process.
    token = keyring_child.read_token(config_dir) if settings else None
    preload_before_qt()
    try:
        from desktop_client.qt.app import run
    except ImportError:
        print(texts.text(texts.PYSIDE_MISSING, "sv"), file=sys.stderr)
        print(texts.text(texts.PYSIDE_MISSING, "en"), file=sys.stderr)
        return 2
    result: int = run(settings, token, language, config_dir=config_dir)
    return result


def preload_before_qt() -> None:
    """Import what the Qt client uses that does not need Qt (see main())."""
    from desktop_client import connection, enroll, enroll_form, server_api, state, views

    del connection, enroll, enroll_form, server_api, state, views


if __name__ == "__main__":
    raise SystemExit(main())
