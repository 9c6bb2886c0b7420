"""Log lines (server/logs.py): JSON lines that parse and carry alert id, seq and node from
`extra` or `log_context`; text lines with the same fields as tags; the dictConfig document
`serve` hands to uvicorn. The real process's JSON lines: tests/server/test_metrics_e2e.py."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from server.logs import ContextFilter, JsonFormatter, TextFormatter, config, log_context


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    """A logger writing through the context filter of node "nod-a" into a string."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter(node="nod-a"))
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream, handler
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_extra_fields_and_the_node(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    """A line logged with extra alert_id and seq is one JSON object with time, level, logger,
    message, the fields and the node."""
    logger, stream, handler = captured
    handler.setFormatter(JsonFormatter())
    logger.info("fanned out %d", 3, extra={"alert_id": 7, "seq": 41})
    (line,) = lines(stream)
    document = json.loads(line)
    assert document["message"] == "fanned out 3"
    assert (document["level"], document["logger"]) == ("INFO", "tests.logs")
    assert (document["alert_id"], document["seq"], document["node"]) == (7, 41, "nod-a")
    assert document["time"].endswith("+00:00")


def test_the_context_reaches_lines_of_code_that_knows_nothing_of_it(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    """Inside `log_context` every line carries its fields, `extra` wins over it, and after
    the block the fields are gone."""
    logger, stream, handler = captured
    handler.setFormatter(JsonFormatter())
    with log_context(alert_id=5, seq=9):
        logger.warning("bus publish failed")
        logger.warning("explicit", extra={"seq": 10})
    logger.warning("after")
    inside, explicit, after = (json.loads(line) for line in lines(stream))
    assert (inside["alert_id"], inside["seq"]) == (5, 9)
    assert (explicit["alert_id"], explicit["seq"]) == (5, 10)
    assert "alert_id" not in after and "seq" not in after


async def test_concurrent_tasks_keep_their_own_context(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    """Two tasks logging in their own `log_context` at the same time never see each other's
    alert."""
    logger, stream, handler = captured
    handler.setFormatter(JsonFormatter())

    async def work(alert_id: int) -> None:
        with log_context(alert_id=alert_id):
            for _ in range(3):
                await asyncio.sleep(0)
                logger.info("working", extra={"seq": alert_id * 10})

    await asyncio.gather(work(1), work(2))
    documents = [json.loads(line) for line in lines(stream)]
    assert len(documents) == 6
    assert all(d["seq"] == d["alert_id"] * 10 for d in documents)


def test_exceptions_are_kept_in_one_json_line(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    """A logged exception stays one parsable line with the traceback as text."""
    logger, stream, handler = captured
    handler.setFormatter(JsonFormatter())
    try:
        raise RuntimeError("database gone")
    except RuntimeError:
        logger.exception("catch-up failed", extra={"alert_id": 3})
    (line,) = lines(stream)
    document = json.loads(line)
    assert "RuntimeError: database gone" in document["exception"]
    assert document["alert_id"] == 3


def test_text_lines_tag_the_fields_without_the_node(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    """Text lines end with `[alert_id=… seq=…]` (the node would repeat on every line); a line
    without fields has no tags."""
    logger, stream, handler = captured
    handler.setFormatter(TextFormatter())
    logger.info("committed", extra={"alert_id": 7, "seq": 41})
    logger.info("plain")
    tagged, plain = lines(stream)
    assert tagged.endswith("INFO tests.logs: committed [alert_id=7 seq=41]")
    assert plain.endswith("INFO tests.logs: plain")


def test_the_serving_config_formats_every_logger_as_chosen(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The dictConfig document sends our loggers and uvicorn's to stderr as JSON lines
    carrying the node."""
    saved = logging.root.handlers[:], logging.root.level
    try:
        logging.config.dictConfig(config(log_format="json", level="info", node="nod-b"))
        logging.getLogger("server.realtime.service").info("ours", extra={"seq": 1})
        logging.getLogger("uvicorn.error").info("theirs")
        logging.getLogger("server.debugging").debug("below the level")
    finally:
        logging.root.handlers[:], level = saved
        logging.root.setLevel(level)
    documents = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert [(d["message"], d["node"]) for d in documents] == [
        ("ours", "nod-b"),
        ("theirs", "nod-b"),
    ]
    assert documents[0]["seq"] == 1
