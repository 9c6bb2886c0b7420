"""The command line of `pdv-alert-desktop`:

    --server URL --enroll CODE [--name NAME]   enroll silently (then start)
    --config-dir DIR                           where settings and token live
    --language sv|en                           the client's language (kept in the settings)
    --autostart on|off                         start at login (XDG autostart / Run key)
    --status                                   print server, device, connection, last contact

`parse(argv)` reads the flags, `run_command(args)` does what needs no window and answers an
exit code, or None when the GUI should start.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

from desktop_client import config, texts
from desktop_client.autostart import set_autostart
from desktop_client.enroll import enroll
from desktop_client.server_api import ApiError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_ENROLLED = 2
STATUS_FRESH_SECONDS = 10.0  # a running client rewrites status.json every second


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pdv-alert-desktop", description="pdv-alert: larmklient / desktop alert client"
    )
    p.add_argument("--server", metavar="URL", help="the server, e.g. https://larm.example.se")
    p.add_argument("--enroll", metavar="CODE", help="enroll silently with this code")
    p.add_argument("--name", metavar="NAME", help="this computer's name (default: hostname)")
    p.add_argument("--config-dir", metavar="DIR", type=Path, help="settings and token")
    p.add_argument("--language", choices=("sv", "en"), help="the client's language")
    p.add_argument("--autostart", choices=("on", "off"), help="start at login or not")
    p.add_argument("--status", action="store_true", help="print the status and exit")
    return p


def parse(argv: list[str] | None) -> argparse.Namespace:
    args = parser().parse_args(argv)
    if (args.server is None) != (args.enroll is None):
        parser().error("--server and --enroll go together")
    return args


def config_dir_of(args: argparse.Namespace) -> Path:
    return Path(args.config_dir) if args.config_dir else config.default_config_dir()


def _when(moment: float | None, language: str) -> str:
    if moment is None:
        return texts.text(texts.STATUS_NEVER, language)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def _running(status: config.Status) -> bool:
    """Whether the client that wrote `status` still runs: it rewrites the file every second
    (each tick), so one left by a crash or kill -9 grows old and is not believed."""
    return time.time() - status.updated_at <= STATUS_FRESH_SECONDS


def print_status(config_dir: Path, language: str) -> int:
    settings = config.read_settings(config_dir)
    if settings is None or config.read_token(config_dir) is None:
        print(texts.text(texts.STATUS_NOT_ENROLLED, language))
        return EXIT_NOT_ENROLLED
    status = config.read_status(config_dir)
    connected = status is not None and status.connected and _running(status)
    state = texts.STATUS_CONNECTED if connected else texts.STATUS_NOT_CONNECTED
    if status is not None and status.detail:  # stopped for good: revoked, or 4005
        state = texts.REVOKED
    t = texts.text
    print(t(texts.STATUS_SERVER, language).format(server=settings.server_url))
    device = f"{settings.device_name} (id {settings.device_id})"
    print(t(texts.STATUS_DEVICE, language).format(device=device))
    print(f"{t(texts.MENU_STATUS, language)}: {t(state, language)}")
    contact = None if status is None else status.last_contact
    print(t(texts.STATUS_LAST_CONTACT, language).format(when=_when(contact, language)))
    return EXIT_OK


def run_command(args: argparse.Namespace) -> int | None:
    """Enrollment, language, autostart and status; None: go on and start the GUI."""
    config_dir = config_dir_of(args)
    language = args.language or "sv"
    if args.enroll is not None:
        try:
            settings = enroll(
                config_dir=config_dir,
                server_url=args.server,
                code=args.enroll,
                name=args.name or platform.node() or "pdv-alert-desktop",
                language=language,
            )
        except ApiError as error:
            print(texts.text(texts.ENROLL_FAILED, language).format(error=error), file=sys.stderr)
            return EXIT_FAILED
        print(texts.text(texts.ENROLLED, language).format(device=settings.device_name))
    elif args.language is not None:
        current = config.read_settings(config_dir)
        if current is not None:
            config.write_settings(config_dir, replace(current, language=args.language))
    if args.autostart is not None:
        print(set_autostart(args.autostart == "on", args.config_dir))
    if args.status:
        saved = config.read_settings(config_dir)
        return print_status(config_dir, args.language or (saved.language if saved else "sv"))
    if args.autostart is not None and args.enroll is None:
        return EXIT_OK  # a setting made; enrolling with it (mass deployment) goes on to start
    return None
