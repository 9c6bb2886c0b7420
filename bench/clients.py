"""The load generator: one process holding many WebSocket clients, driven by `fanout.py`.

    python bench/clients.py --tokens FILE --start 0 --count 5000 --concurrency 50

It speaks the pdv-alert protocol with the `websockets` client (offering permessage-deflate,
as browsers do; the server declines it): connect, `hello`, wait for `welcome`, then read.
Every `alert` frame is time-stamped twice with CLOCK_MONOTONIC (system-wide on Linux, so
comparable with the driver's clock):

- `wire`: in `data_received`, before websockets parses the bytes: the earliest moment this
  process sees the frame (server frames are unmasked and uncompressed, so the bytes can be
  recognized);
- `app`: when `recv()` hands the decoded message to the client's task.

Commands arrive on stdin and answers leave on stdout, one JSON object per line:

    {"op": "connect", "url": U, "reconnect": false}  → {"op": "connected", "ok", "failed", ...}
    {"op": "collect", "seq": S, "timeout": T}        → {"op": "stamps", "wire": [...], ...}
    {"op": "ack", "alert_id": A}                     → {"op": "acked", "sent", "t_first", ...}
    {"op": "welcomes", "after": T0, "timeout": T}    → {"op": "welcomes", "times": [...], ...}
    {"op": "drop"}                                   → {"op": "dropped", "closed"}
    {"op": "quit"}
"""

# Timeouts are plain arguments: they arrive in the driver's commands.
# ruff: noqa: ASYNC109

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import random
import resource
import sys
import time
from collections import Counter
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

MARK = b'{"type":"alert","seq":'
OPEN_TIMEOUT = 30.0


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def describe(exc: Exception) -> str:
    """A short name for why a connection attempt failed, e.g. `ConnectionClosedError:4004`."""
    name = type(exc).__name__
    if isinstance(exc, ConnectionClosed):
        return f"{name}:{exc.rcvd.code if exc.rcvd else 'no close frame'}"
    if isinstance(exc, OSError) and exc.errno:
        return f"{name}:{errno.errorcode.get(exc.errno, exc.errno)}"
    return name


class Client:
    """One simulated device: its token, stream position and the stamps of its alert frames."""

    __slots__ = ("app", "epoch", "index", "last_seq", "task", "token", "welcomed_at", "wire", "ws")

    def __init__(self, index: int, token: str) -> None:
        self.index = index
        self.token = token
        self.ws: ClientConnection | None = None
        self.epoch: str | None = None
        self.last_seq = 0
        self.wire: dict[int, float] = {}
        self.app: dict[int, float] = {}
        self.welcomed_at = 0.0
        self.task: asyncio.Task[None] | None = None


class StampingConnection(ClientConnection):
    """Stamps the arrival of an alert frame before websockets parses it."""

    bench_client: Client | None = None

    def data_received(self, data: bytes) -> None:
        client = self.bench_client
        if client is not None:
            at = data.find(MARK)
            if at >= 0:
                stamp = now()
                start = at + len(MARK)
                end = start
                while end < len(data) and 48 <= data[end] <= 57:
                    end += 1
                if end > start:
                    client.wire.setdefault(int(data[start:end]), stamp)
        super().data_received(data)


class Pool:
    def __init__(self, tokens: list[str], start: int, concurrency: int) -> None:
        self.clients = [Client(start + i, token) for i, token in enumerate(tokens)]
        self.concurrency = concurrency
        self.url = ""
        self.reconnect = False
        self.counts: Counter[int] = Counter()  # seq -> clients that have read it (app)
        self.waiters: dict[int, asyncio.Event] = {}
        self.welcome_waiter: asyncio.Event | None = None
        self.welcome_after = 0.0
        self.welcomed_since = 0
        self.n_live = 0
        self.errors: Counter[str] = Counter()

    # -- one connection ------------------------------------------------------------------
    async def open(self, client: Client) -> bool:
        """Connect, hello, welcome; start the reader. False (and an error counted) on failure."""
        try:
            ws = await connect(
                self.url,
                open_timeout=OPEN_TIMEOUT,
                ping_interval=None,  # browsers don't ping; the server pings every 20 s
                close_timeout=2,
                proxy=None,
                user_agent_header="pdv-bench",
                create_connection=StampingConnection,
            )
            hello = {
                "type": "hello",
                "v": 1,
                "token": client.token,
                "epoch": client.epoch,
                "last_seq": client.last_seq,
                "client": {"name": "pdv-bench", "version": "1"},
            }
            await ws.send(json.dumps(hello))
            welcome = json.loads(await asyncio.wait_for(ws.recv(), timeout=OPEN_TIMEOUT))
        except Exception as exc:  # refused, timed out, closed (with a code), bad status
            self.errors[describe(exc)] += 1
            return False
        if welcome.get("type") != "welcome":
            self.errors[f"answer:{welcome.get('code', welcome.get('type'))}"] += 1
            await ws.close()
            return False
        stamp = now()
        if self.welcome_waiter is not None and client.welcomed_at <= self.welcome_after < stamp:
            self.welcomed_since += 1
            if self.welcomed_since >= len(self.clients):
                self.welcome_waiter.set()
        client.welcomed_at = stamp
        client.epoch = welcome.get("epoch")
        client.last_seq = max(client.last_seq, int(welcome.get("seq") or 0))
        client.ws = ws
        assert isinstance(ws, StampingConnection)
        ws.bench_client = client
        self.n_live += 1
        client.task = asyncio.create_task(self.read(client, ws))
        return True

    async def read(self, client: Client, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                stamp = now()
                message = json.loads(raw)
                if message.get("type") != "alert":
                    continue
                seq = int(message["seq"])
                if seq not in client.app:
                    client.app[seq] = stamp
                    client.wire.setdefault(seq, stamp)  # frame split across reads: fall back
                    client.last_seq = max(client.last_seq, seq)
                    self.counts[seq] += 1
                    waiter = self.waiters.get(seq)
                    if waiter is not None and self.counts[seq] >= self.n_live:
                        waiter.set()
        except ConnectionClosed:
            pass
        finally:
            if client.ws is ws:
                client.ws = None
                self.n_live -= 1
        if self.reconnect:
            await self.reopen(client)

    async def reopen(self, client: Client) -> None:
        """Reconnect like the real clients: jittered backoff from 0.5 s, capped at 15 s."""
        delay = 0.5
        while self.reconnect:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            if await self.open(client):
                return
            delay = min(delay * 2, 15.0)

    # -- commands ------------------------------------------------------------------------
    async def connect_all(self, url: str, reconnect: bool) -> dict[str, Any]:
        self.url, self.reconnect = url, reconnect
        self.errors.clear()
        started = now()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(client: Client) -> bool:
            async with gate:
                return await self.open(client)

        results = await asyncio.gather(*(one(c) for c in self.clients))
        ok = sum(results)
        return {
            "op": "connected",
            "ok": ok,
            "failed": len(results) - ok,
            "errors": dict(self.errors),
            "seconds": now() - started,
        }

    async def collect(self, seq: int, timeout: float) -> dict[str, Any]:
        waiter = self.waiters.setdefault(seq, asyncio.Event())
        if self.counts[seq] >= self.n_live:
            waiter.set()
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        except TimeoutError:
            pass
        wire = [c.wire[seq] for c in self.clients if seq in c.app]
        app = [c.app[seq] for c in self.clients if seq in c.app]
        split = sum(1 for c in self.clients if seq in c.app and c.wire[seq] == c.app[seq])
        return {
            "op": "stamps",
            "seq": seq,
            "wire": wire,
            "app": app,
            "missing": len(self.clients) - len(app),
            "split": split,
        }

    async def ack(self, alert_id: int) -> dict[str, Any]:
        frame = json.dumps({"type": "ack", "alert_id": alert_id, "response": "safe"})
        first = now()
        sent = 0
        for client in self.clients:
            ws = client.ws
            if ws is None:
                continue
            try:
                await ws.send(frame)
                sent += 1
            except ConnectionClosed:
                pass
        return {"op": "acked", "sent": sent, "t_first": first, "t_last": now()}

    async def welcomes(self, after: float, timeout: float) -> dict[str, Any]:
        self.welcome_after = after
        self.welcome_waiter = asyncio.Event()
        self.welcomed_since = sum(1 for c in self.clients if c.welcomed_at > after)
        if self.welcomed_since >= len(self.clients):
            self.welcome_waiter.set()
        try:
            await asyncio.wait_for(self.welcome_waiter.wait(), timeout)
        except TimeoutError:
            pass
        times = [c.welcomed_at for c in self.clients if c.welcomed_at > after]
        return {
            "op": "welcomes",
            "times": times,
            "missing": len(self.clients) - len(times),
            "errors": dict(self.errors),
        }

    async def drop(self) -> dict[str, Any]:
        """Abort every connection at once (no closing handshake: 10,000 of them would
        take a while, and the servers must cope with vanished peers anyway)."""
        self.reconnect = False
        closed = 0
        for client in self.clients:
            ws, client.ws = client.ws, None
            if ws is not None:
                self.n_live -= 1
                ws.transport.abort()
                closed += 1
            if client.task is not None:
                client.task.cancel()
                client.task = None
            client.wire.clear()
            client.app.clear()
        self.counts.clear()
        self.waiters.clear()
        await asyncio.sleep(0.1)
        return {"op": "dropped", "closed": closed}


async def serve(pool: Pool) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    answer({"op": "started", "clients": len(pool.clients), "nofile": raise_file_limit()})
    while line := await reader.readline():
        command = json.loads(line)
        op = command["op"]
        if op == "connect":
            answer(await pool.connect_all(command["url"], bool(command.get("reconnect"))))
        elif op == "collect":
            answer(await pool.collect(int(command["seq"]), float(command.get("timeout", 30))))
        elif op == "ack":
            answer(await pool.ack(int(command["alert_id"])))
        elif op == "welcomes":
            answer(await pool.welcomes(float(command["after"]), float(command.get("timeout", 60))))
        elif op == "drop":
            answer(await pool.drop())
        elif op == "quit":
            break
    await pool.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description="pdv-alert benchmark clients (one process)")
    parser.add_argument("--tokens", required=True, help="file with one device token per line")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=50, help="connects in flight")
    args = parser.parse_args()
    raise_file_limit()
    with open(args.tokens) as f:
        tokens = [line.strip() for line in f if line.strip()]
    pool = Pool(tokens[args.start : args.start + args.count], args.start, args.concurrency)
    try:
        import uvloop  # the clients are the measuring instrument: make them as fast as we can
    except ImportError:
        asyncio.run(serve(pool))
    else:
        uvloop.run(serve(pool))


if __name__ == "__main__":
    main()
