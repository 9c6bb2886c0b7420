"""Log lines as text (the demo's default) or one JSON object per line (`log_format = "json"`),
with the alert, seq and node they concern as fields, never parsed out of the message.

Code that logs about an alert passes the fields as `extra={"alert_id": …, "seq": …}`, or wraps
the work in `with log_context(alert_id=…, seq=…):` so every line logged inside (also by code
that knows nothing of alerts, e.g. the bus) carries them; a contextvar keeps concurrent tasks
apart. `ContextFilter` adds the context and the node's name to every record; `extra` wins over
the context. `config()` is the `logging.config.dictConfig` document `pdv-alert serve` hands to
uvicorn, so uvicorn's own lines are formatted the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

LogFormat = Literal["text", "json"]
# The fields a line may carry besides time, level, logger and message, in this order.
FIELDS = ("node", "alert_id", "seq", "event", "organization_id", "device_id")

_context: ContextVar[Mapping[str, object]] = ContextVar(
    "pdv_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Every line logged inside the block (in this task) carries `fields`."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Adds the node's name and the current `log_context` fields to each record (attributes
    already set through `extra` are kept)."""

    def __init__(self, node: str = "") -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        fields = dict(_context.get())
        if self.node:
            fields.setdefault("node", self.node)
        for name, value in fields.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found = {}
    for name in FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            found[name] = value
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the FIELDS
    present, and the exception's traceback as text."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [alert_id=7 seq=41 node=a]` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        fields.pop("node", None)  # one node per terminal: it would repeat on every line
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # after the message, before a traceback
        tags = " ".join(f"{name}={value}" for name, value in fields.items())
        return f"{head} [{tags}]{newline}{rest}"


def config(*, log_format: LogFormat, level: str, node: str) -> dict[str, Any]:
    """The logging configuration of a serving node: everything (root, uvicorn, its access
    log) to stderr in `log_format`, at `level` (uvicorn's names: "info", "debug", …)."""
    formatter = {"()": f"{__name__}.{'JsonFormatter' if log_format == 'json' else 'TextFormatter'}"}
    level_name = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": f"{__name__}.ContextFilter", "node": node}},
        "formatters": {"line": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level_name},
        "loggers": {
            name: {"handlers": [], "level": level_name, "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
