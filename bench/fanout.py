"""The fan-out benchmark: N WebSocket clients on the real server, against a floor server.

    python bench/fanout.py [--clients 10000] [--procs 2] [--alerts 3] [--scenario fanout]
        [--floor c|python] [--kill] [--database-url postgresql+asyncpg://…]
        [--bus-url redis://…] [--nodes 2]

Scenarios: `fanout` (default: trigger→screens latency, fan-out spread, RSS and CPU, and the
same for the floor; the first alert after the start reported apart as "cold"), `acks` (N
acks in a burst until all are persisted) and `reconnect` (restart the server after SIGTERM,
or SIGKILL with `--kill`; until all N clients have a new welcome), or `all`. With
`--nodes N` the `fanout` scenario compares one node with N nodes on PostgreSQL and Redis
instead of comparing with the floor.

Everything runs on loopback: a temporary SQLite database (or a fresh PostgreSQL database
created and dropped by the run), the real server (`python -m server.cli serve --port 0`)
and the floor (bench/floor_epoll.c compiled with gcc, or bench/floor_server.py) side by
side, each with its own N clients in `--procs` processes (bench/clients.py); rounds
alternate between them. Times are CLOCK_MONOTONIC, which is system-wide on Linux, so the
driver's t0 and the clients' receive stamps are on one clock; with CAP_NET_RAW the servers'
writes are also timed on the wire (kernel timestamps on lo). Progress goes to stderr, the
tables to stdout. See bench/README.md for the method and recorded results.
"""

# The driver is the only thing on its event loop: short blocking reads of /proc and of log
# files are deliberate, and timeouts are plain arguments passed on to the clients.
# ruff: noqa: ASYNC109, ASYNC230, ASYNC240

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime
import http.client
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from bench.seed import Seeded, seed  # noqa: E402
from protocol.codec import alert_event_from_dict  # noqa: E402
from server.realtime.frames import server_frame  # noqa: E402

LISTENING = re.compile(r"pdv-alert listening on http://([^:\s]+):(\d+)")
TARGET_FANOUT = 1.3  # pdv fan-out ≤ 1.3 × floor
TARGET_TRIGGER = 1.5  # including HTTP trigger + commit ≤ 1.5 × floor
TARGET_RSS_KB = 8.0  # per idle connection


# CPUs the servers (pdv-alert and the floor alike) and the client processes are pinned to
# (`--server-cpus`, `--client-cpus`; None: wherever the scheduler puts them).
PINNING: dict[str, frozenset[int] | None] = {"server": None, "clients": None}


def pinned(role: str) -> Any:
    """A `preexec_fn` that pins the child process to `role`'s CPUs, or None."""
    cpus = PINNING[role]
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def cpu_list(text: str) -> frozenset[int]:
    """ "0", "0,1" or "0-3" → the CPUs (argparse type)."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return frozenset(cpus)


def mono() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def say(message: str) -> None:
    print(f"· [{mono():.3f}] {message}", file=sys.stderr, flush=True)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ns(pid: int) -> int:
    """CPU time of all of a process's threads so far, in ns (schedstat: finer than the
    10 ms ticks of /proc/PID/stat); 0 for threads that ended in between."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- subprocesses ------------------------------------------------------------------------


async def stop_process(process: asyncio.subprocess.Process, *, grace: float = 15.0) -> bool:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL (only the process we started).
    True when it had to be killed."""
    if process.returncode is not None:
        return False
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return True
    return False


class JsonLines:
    """A helper process spoken to in JSON lines: a command on stdin, one reply per line on
    stdout. `what` names it in errors."""

    what = "helper process"

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return await self.answer(timeout)

    async def answer(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"{self.what} {self.process.pid} exited (see its log)")
        reply: dict[str, Any] = json.loads(line)
        return reply


class Worker(JsonLines):
    """One bench/clients.py process."""

    what = "client process"

    def __init__(self, process: asyncio.subprocess.Process, count: int) -> None:
        super().__init__(process)
        self.count = count


class Workers:
    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    @classmethod
    async def start(
        cls, *, tokens: Path, clients: int, procs: int, concurrency: int, logs: Path, name: str
    ) -> Workers:
        workers = []
        share, extra = divmod(clients, procs)
        start = 0
        for index in range(procs):
            count = share + (1 if index < extra else 0)
            log = open(logs / f"clients-{name}-{index}.log", "wb")
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(BENCH / "clients.py"),
                "--tokens",
                str(tokens),
                "--start",
                str(start),
                "--count",
                str(count),
                "--concurrency",
                str(max(1, concurrency // procs)),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=64 * 1024 * 1024,  # a stamps answer is one long line
                preexec_fn=pinned("clients"),
            )
            log.close()
            workers.append(Worker(process, count))
            start += count
        group = cls(workers)
        try:
            await asyncio.gather(*(w.answer(30) for w in workers))  # "started"
        except BaseException:
            await group.stop()
            raise
        return group

    async def all(self, command: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(w.ask(command, timeout) for w in self.workers)))

    async def stop(self) -> None:
        for worker in self.workers:
            stdin = worker.process.stdin
            if stdin is not None and worker.process.returncode is None:
                with contextlib.suppress(Exception):
                    stdin.write(b'{"op": "quit"}\n')
                    await stdin.drain()
        for worker in self.workers:
            await stop_process(worker.process, grace=5)


@dataclass
class Server:
    """`pdv-alert serve` as a subprocess."""

    process: asyncio.subprocess.Process
    http_port: int
    ws_url: str
    started_at: float  # monotonic: the listening line was seen

    wrapper: ClassVar[str | None] = None  # a script run instead of `-m server.cli` (profiling)

    @classmethod
    async def start(
        cls,
        *,
        database_url: str,
        ws_port: int,
        log: Path,
        extra_env: Mapping[str, str] | None = None,
    ) -> Server:
        env = dict(os.environ)
        env.update(
            PDV_DATABASE_URL=database_url,
            PDV_WS_PORT=str(ws_port),
            PDV_HOST="127.0.0.1",
            PDV_ENVIRONMENT="development",
        )
        env.update(extra_env or {})
        env.pop("PDV_CONFIG_FILE", None)
        offset = log.stat().st_size if log.exists() else 0  # a restart appends to the log
        with open(log, "ab") as out:
            entry = [cls.wrapper] if cls.wrapper else ["-m", "server.cli"]
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *entry,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-migrate",
                "--log-level",
                "warning",
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
                preexec_fn=pinned("server"),
            )
        try:  # from here on, a failure must not leave the server running
            deadline = mono() + 30
            while mono() < deadline:
                found = LISTENING.search(log.read_bytes()[offset:].decode(errors="replace"))
                if found and process.returncode is None:
                    break
                if process.returncode is not None:
                    raise RuntimeError(f"the server exited with {process.returncode}; see {log}")
                await asyncio.sleep(0.02)
            else:
                raise RuntimeError(f"the server did not start within 30 s; see {log}")
            started_at = mono()
            assert found is not None
            http_port = int(found.group(2))
            config = Http(http_port).get("/api/v1/config")
        except BaseException:
            await stop_process(process)
            raise
        return cls(process, http_port, config["ws_url"], started_at)

    @property
    def ws_port(self) -> int:
        return int(self.ws_url.rstrip("/").rsplit(":", 1)[1])

    async def stop(self, grace: float = 15.0) -> bool:
        return await stop_process(self.process, grace=grace)


class Http:
    """A keep-alive HTTP/1.1 connection to the server (the dashboard's, say)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        payload = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, payload, self.headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                if attempt == 2:
                    raise
        if response.status >= 300:
            raise RuntimeError(f"{method} {path} → {response.status}: {data[:300]!r}")
        return json.loads(data)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def close(self) -> None:
        self.connection.close()


# -- the wire ----------------------------------------------------------------------------

SO_ATTACH_FILTER, SO_RCVBUFFORCE, SO_TIMESTAMPNS = 26, 33, 35
SOL_PACKET, PACKET_STATISTICS, PACKET_OUTGOING = 263, 6, 4
SNAPLEN = 256  # headers + the start of the frame, enough to read its seq
ALERT_MARK = b'{"type":"alert","seq":'


def _tcp_source_port_filter(port: int) -> bytes:
    """Classic BPF, as `tcpdump -dd 'ip and tcp src port PORT'` would compile it."""
    program = [
        (0x28, 0, 0, 12),  # ldh [12]            ethertype
        (0x15, 0, 8, 0x0800),  # jeq IPv4 else drop
        (0x30, 0, 0, 23),  # ldb [23]            IP protocol
        (0x15, 0, 6, 6),  # jeq TCP else drop
        (0x28, 0, 0, 20),  # ldh [20]            fragment offset
        (0x45, 4, 0, 0x1FFF),  # jset → drop (not the first fragment)
        (0xB1, 0, 0, 14),  # ldxb 4*([14]&0xf)   IP header length
        (0x48, 0, 0, 14),  # ldh [x+14]          TCP source port
        (0x15, 0, 1, port),  # jeq PORT else drop
        (0x06, 0, 0, SNAPLEN),  # ret SNAPLEN
        (0x06, 0, 0, 0),  # ret 0 (drop)
    ]
    return b"".join(struct.pack("HBBI", *instruction) for instruction in program)


class WireTap:
    """Kernel timestamps of the frames a server writes, seen on the loopback interface
    (an AF_PACKET socket: needs CAP_NET_RAW). The timestamp of an outgoing packet is taken
    inside the server's send() call, so this measures the server alone: no client-side
    scheduling or parsing. Opened right before a round and drained after it."""

    def __init__(self, sock: socket.socket, program: ctypes.Array[ctypes.c_char]) -> None:
        self.sock = sock
        self._program = program  # the kernel copied it; kept for clarity
        # SO_TIMESTAMPNS gives CLOCK_REALTIME: convert with the offset at opening.
        self.offset = time.clock_gettime(time.CLOCK_REALTIME) - mono()

    @classmethod
    def open(cls, port: int) -> WireTap | None:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        except (OSError, AttributeError):
            return None
        code = _tcp_source_port_filter(port)
        program = ctypes.create_string_buffer(code)
        fprog = struct.pack("HL", len(code) // 8, ctypes.addressof(program))
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 256 << 20)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 << 20)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.bind(("lo", 0))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return cls(sock, program)

    def drain(self, seq: int) -> tuple[list[float], int]:
        """First-packet times (monotonic) of the alert frame with `seq`, one per client
        connection, and the packets the kernel dropped for lack of buffer."""
        first: dict[int, float] = {}
        while True:
            try:
                data, ancillary, _flags, address = self.sock.recvmsg(SNAPLEN, 64)
            except BlockingIOError:
                break
            if address[2] != PACKET_OUTGOING or len(data) < 54:
                continue
            ip = 14
            tcp = ip + (data[ip] & 0x0F) * 4
            payload = data[tcp + (data[tcp + 12] >> 4) * 4 :]
            at = payload.find(ALERT_MARK, 0, 64)
            if at < 0:
                continue
            start = end = at + len(ALERT_MARK)
            while end < len(payload) and 48 <= payload[end] <= 57:
                end += 1
            if end == start or int(payload[start:end]) != seq:
                continue
            stamp = None
            for _level, kind, value in ancillary:
                if kind == SO_TIMESTAMPNS:
                    seconds, nanos = struct.unpack("qq", value[:16])
                    stamp = seconds + nanos / 1e9 - self.offset
            if stamp is None:
                continue
            client_port = int.from_bytes(data[tcp + 2 : tcp + 4], "big")
            first.setdefault(client_port, stamp)
        stats = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        _packets, drops = struct.unpack("II", stats)
        return list(first.values()), drops

    def close(self) -> None:
        self.sock.close()


# -- measurements ------------------------------------------------------------------------


@dataclass
class Round:
    t0: float
    wire: list[float]  # client receive stamps, before websockets parses the frame
    app: list[float]  # the same frames as handed to the client's task
    missing: int
    response: float | None = None  # the HTTP response returned (pdv only)
    server_write: tuple[float, float] | None = None  # floor: its write loop start/end
    tap: list[float] = field(default_factory=list)  # the server's send() of each frame
    tap_drops: int = 0
    cpu_ms: float = float("nan")  # the server's CPU from right before t0 to the last client

    @property
    def first(self) -> float:
        return min(self.wire, default=float("nan"))

    def last(self, stamps: str = "wire") -> float:
        return max(getattr(self, stamps), default=float("nan")) - self.t0


@dataclass
class Side:
    """One server's measurements: rounds and RSS."""

    name: str
    clients: int = 0
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    connect_seconds: float = 0.0
    connect_cpu: float = 0.0  # the server's CPU seconds while the clients connected
    rounds: list[Round] = field(default_factory=list)  # warm: after the first round
    cold: list[Round] = field(default_factory=list)  # the first round after the start

    def keep(self, index: int, warmup: int, measured: Round) -> None:
        """Round `index` (0-based since the server started): the first is the cold one,
        the next `warmup` are not kept, the rest are warm."""
        if index == 0:
            self.cold.append(measured)
        elif index > warmup:
            self.rounds.append(measured)

    @property
    def kb_per_connection(self) -> float:
        return (self.rss_after_kb - self.rss_before_kb) / max(1, self.clients)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def latency_stats(rounds: list[Round], *, stamps: str, from_first: bool) -> dict[str, float]:
    samples: list[float] = []
    lasts: list[float] = []
    for r in rounds:
        values = getattr(r, stamps)
        if not values:
            continue
        origin = min(values) if from_first else r.t0
        samples.extend(v - origin for v in values)
        lasts.append(max(values) - origin)
    return {
        "p50": percentile(samples, 0.50) * 1000,
        "p99": percentile(samples, 0.99) * 1000,
        "max": max(samples) * 1000 if samples else float("nan"),
        "last": statistics.median(lasts) * 1000 if lasts else float("nan"),
    }


def latency_row(
    label: str,
    width: int,
    clients: int,
    rounds: list[Round],
    *,
    stamps: str,
    from_first: bool,
    extra: str = "",
) -> str:
    """One row of a latency table (fanout.py's and push.py's): label, clients, p50, p99,
    max and last (ms), then `extra` (already formatted)."""
    s = latency_stats(rounds, stamps=stamps, from_first=from_first)
    return (
        f"{label:{width}} {clients:>7} {s['p50']:>8.1f} {s['p99']:>8.1f} {s['max']:>8.1f} "
        f"{s['last']:>8.1f} {extra}"
    ).rstrip()


def latency_head(width: int, extra: str = "") -> list[str]:
    """The head of a `latency_row` table and its rule."""
    head = (
        f"{'':{width}} {'clients':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'last ms':>8} "
        f"{extra}"
    ).rstrip()
    return [head, "-" * len(head)]


async def collect(workers: Workers, seq: int, t0: float, timeout: float) -> Round:
    replies = await workers.all({"op": "collect", "seq": seq, "timeout": timeout}, timeout + 30)
    wire = [t for r in replies for t in r["wire"]]
    app = [t for r in replies for t in r["app"]]
    missing = sum(r["missing"] for r in replies)
    return Round(t0=t0, wire=wire, app=app, missing=missing)


async def connect_clients(
    workers: Workers, url: str | list[str], *, reconnect: bool, timeout: float
) -> int:
    """Connect every client; with a list of URLs (nodes), client process i connects to
    URL i mod len(urls)."""
    started = mono()
    urls = [url] if isinstance(url, str) else url
    replies = list(
        await asyncio.gather(
            *(
                worker.ask(
                    {"op": "connect", "url": urls[index % len(urls)], "reconnect": reconnect},
                    timeout,
                )
                for index, worker in enumerate(workers.workers)
            )
        )
    )
    ok = sum(r["ok"] for r in replies)
    failed = sum(r["failed"] for r in replies)
    errors: dict[str, int] = {}
    for r in replies:
        for name, count in r["errors"].items():
            errors[name] = errors.get(name, 0) + count
    say(
        f"{ok} clients connected and welcomed in {mono() - started:.1f} s"
        + (f"; {failed} failed {errors}" if failed else "")
    )
    if ok == 0:
        raise RuntimeError(f"no client could connect to {url} ({errors})")
    return ok


def describe(r: Round, label: str) -> str:
    text = (
        f"{label}: first {(r.first - r.t0) * 1000:.1f} ms, last {r.last() * 1000:.1f} ms, "
        f"spread {(max(r.wire, default=float('nan')) - r.first) * 1000:.1f} ms"
    )
    if r.response is not None:
        text += f", HTTP response {(r.response - r.t0) * 1000:.1f} ms"
    if r.tap:
        text += (
            f"; wire: first {(min(r.tap) - r.t0) * 1000:.1f} ms, "
            f"last {(max(r.tap) - r.t0) * 1000:.1f} ms ({len(r.tap)} frames)"
        )
    if r.cpu_ms == r.cpu_ms:  # not NaN
        text += f", server CPU {r.cpu_ms:.1f} ms"
    if r.server_write is not None:
        text += f", floor write loop {(r.server_write[1] - r.server_write[0]) * 1000:.1f} ms"
    if r.missing:
        text += f", MISSING {r.missing}"
    return text


# -- the real server ---------------------------------------------------------------------


@dataclass
class Setup:
    args: argparse.Namespace
    workdir: Path
    database_url: str  # SQLite in workdir, or a fresh PostgreSQL database of this run
    seeded: Seeded
    server_env: dict[str, str]  # PDV_BUS_URL and the run's own PDV_BUS_NAMESPACE, if any

    async def start_server(self, log: str, *, ws_port: int = 0, node: str = "") -> Server:
        env = dict(self.server_env)
        if node:
            env["PDV_NODE_NAME"] = node
        return await Server.start(
            database_url=self.database_url,
            ws_port=ws_port,
            log=self.workdir / log,
            extra_env=env,
        )


def plain_dsn(url: str) -> str:
    """asyncpg's form of a SQLAlchemy PostgreSQL URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    """`url` naming another database on the same server (query parameters kept)."""
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


class AckCounter:
    """How many receipts of an alert are acknowledged in the database, read outside the
    server: SQLite read-only, or a plain asyncpg connection to PostgreSQL."""

    QUERY = "SELECT count(*) FROM receipts WHERE alert_id = {} AND acked_at IS NOT NULL"

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.sqlite: sqlite3.Connection | None = None
        self.postgres: Any = None

    async def open(self) -> None:
        if self.url.startswith("sqlite"):
            path = self.url.split(":///", 1)[1]
            self.sqlite = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        else:
            import asyncpg

            self.postgres = await asyncpg.connect(plain_dsn(self.url), timeout=10)

    async def count(self, alert_id: int) -> int:
        if self.sqlite is not None:
            return int(self.sqlite.execute(self.QUERY.format("?"), (alert_id,)).fetchone()[0])
        return int(await self.postgres.fetchval(self.QUERY.format("$1"), alert_id))

    async def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        if self.postgres is not None:
            await self.postgres.close()


def compile_floor(directory: Path) -> Path:
    """bench/floor_epoll.c compiled into `directory` (once per run)."""
    binary = directory / "floor_epoll"
    if binary.exists():
        return binary
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("gcc is not installed: install it or run with --floor python")
    source = BENCH / "floor_epoll.c"
    compiled = subprocess.run(
        [gcc, "-O2", "-o", str(binary), str(source)], capture_output=True, text=True, check=False
    )
    if compiled.returncode != 0:
        raise RuntimeError(f"gcc could not compile {source}:\n{compiled.stderr}")
    return binary


class FloorProcess:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(cls, log: Path, kind: str) -> FloorProcess:
        """`kind` "c": bench/floor_epoll.c, compiled with `gcc -O2` next to the log;
        "python": bench/floor_server.py on the stdlib asyncio loop."""
        if kind == "c":
            command = [str(compile_floor(log.parent))]
        else:
            command = [sys.executable, str(BENCH / "floor_server.py")]
        with open(log, "ab") as err:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                preexec_fn=pinned("server"),
            )
        try:
            line = (await cls._line(process, 30)).split()
            if line[:3] != ["floor", "listening", "on"]:
                raise RuntimeError(f"unexpected floor output {line}")
        except BaseException:
            await stop_process(process, grace=5)
            raise
        return cls(process, int(line[3]))

    async def line(self, timeout: float = 30) -> str:
        return await self._line(self.process, timeout)

    @staticmethod
    async def _line(process: asyncio.subprocess.Process, timeout: float) -> str:
        assert process.stdout is not None
        raw = await asyncio.wait_for(process.stdout.readline(), timeout)
        if not raw:
            raise RuntimeError("the floor server exited")
        return raw.decode().strip()

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def ask(self, line: str, timeout: float = 30) -> str:
        await self.send(line)
        return await self._line(self.process, timeout)

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.send("quit")
        await stop_process(self.process, grace=5)


async def connect_measured(side: Side, workers: Workers, url: str, pid: int, args: Any) -> None:
    """Connect the side's clients; RSS and CPU of the server process around it."""
    await asyncio.sleep(1.0)
    side.rss_before_kb = rss_kb(pid)
    started, cpu = mono(), cpu_seconds(pid)
    side.clients = await connect_clients(
        workers, url, reconnect=False, timeout=args.connect_timeout
    )
    side.connect_seconds = mono() - started
    side.connect_cpu = cpu_seconds(pid) - cpu
    await asyncio.sleep(args.pause + 1.0)  # idle: nothing in flight
    side.rss_after_kb = rss_kb(pid)


def drain_tap(tap: WireTap | None, measured: Round, seq: int) -> None:
    """Record the kernel's send stamps of the round's frame, and close the tap."""
    if tap is not None:
        measured.tap, measured.tap_drops = tap.drain(seq)
        tap.close()


# the floor's frame when it fires before pdv-alert has sent one (`--first floor`): an
# inrymning event of about the size pdv-alert sends; later rounds copy pdv-alert's own event
EXAMPLE_EVENT: dict[str, Any] = {
    "seq": 1,
    "event": "triggered",
    "at": "2026-12-03T08:00:00.000000Z",
    "actor": "person:1",
    "changes": {},
    "alert": {
        "id": 1,
        "kind": "pdv_lockdown",
        "mode": "actual",
        "state": "active",
        "sites": [1],
        "order": {"sv": "Inrymning – lås in dig och göm dig", "en": "Lockdown – lock in and hide"},
        "instructions": {
            "sv": "Lås dörren, släck ljuset, håll dig borta från fönster och dörrar. Var tyst.",
            "en": "Lock the door, turn off the light, stay away from windows and doors. Be quiet.",
        },
        "created_at": "2026-12-03T08:00:00.000000Z",
        "updated_at": "2026-12-03T08:00:00.000000Z",
        "ended_at": None,
        "created_by": "person:1",
    },
}


def cold_first(start: int, first: str) -> str:
    """Whose cold alert goes first at start `start` (0-based): `first`'s, then alternating."""
    return first if start % 2 == 0 else {"pdv": "floor", "floor": "pdv"}[first]


def round_label(index: int, warmup: int) -> str:
    """What a round is called in the progress lines: the first is cold."""
    return "cold" if index == 0 else "warm-up" if index <= warmup else f"alert {index}"


async def measure_fanout(setup: Setup, pdv_workers: Workers, floor_workers: Workers) -> str:
    """`--starts` times: both servers started afresh, their clients connected, the cold
    round and the warm ones (`measure_start`); the starts alternate which server's cold
    alert goes first (the first start: `--first`). The table pools every start's rounds."""
    args = setup.args
    sides = Side("pdv-alert"), Side("floor"), Side("pdv-alert resolve")
    for start in range(args.starts):
        first = cold_first(start, args.first)
        if args.starts > 1:
            say(f"start {start + 1} of {args.starts} ({first}'s cold alert first)")
        await measure_start(setup, pdv_workers, floor_workers, sides, first)
    pdv, floor_side, resolves = sides
    resolves.clients = pdv.clients
    return table(pdv, floor_side, resolves, args.floor)


async def measure_start(
    setup: Setup,
    pdv_workers: Workers,
    floor_workers: Workers,
    sides: tuple[Side, Side, Side],
    first_cold: str,
) -> None:
    """Both servers run at once, each with its own N clients; the rounds alternate
    (pdv-alert, floor, pdv-alert, …) so slow drifts of the machine hit both alike."""
    args = setup.args
    pdv, floor_side, resolves = sides
    server: Server | None = None
    floor: FloorProcess | None = None
    http: Http | None = None
    try:
        floor = await FloorProcess.start(setup.workdir / "floor.log", args.floor)
        say(f"{args.floor} floor serving on :{floor.port}")
        await connect_measured(
            floor_side, floor_workers, f"ws://127.0.0.1:{floor.port}/", floor.process.pid, args
        )
        server = await setup.start_server("server.log")
        http = Http(server.http_port, setup.seeded.principal_token)
        say(f"pdv-alert serving on :{server.http_port}, WebSocket {server.ws_url}")
        http.get("/api/v1/health")  # open the keep-alive connection (nothing else warmed)
        await connect_measured(pdv, pdv_workers, server.ws_url, server.process.pid, args)
        body = {"kind": "pdv_lockdown", "mode": "actual", "site_ids": [setup.seeded.site_id]}
        template: dict[str, dict[str, Any]] = {}  # the floor's frames copy pdv-alert's first event

        async def pdv_round(index: int, label: str) -> None:
            # pdv-alert: an HTTP trigger as the principal, measured from right before it
            assert http is not None and server is not None
            http.get("/api/v1/health")  # the keep-alive connection is open and warm
            await asyncio.sleep(args.pause)
            tap = WireTap.open(server.ws_port) if args.tap else None
            cpu = cpu_ns(server.process.pid)
            t0 = mono()
            answer = http.request("POST", "/api/v1/alerts", body)
            responded = mono()
            if not answer.get("created"):
                raise RuntimeError(f"the trigger did not create an alert: {answer}")
            event = answer["event"]
            template.setdefault("event", event)
            measured = await collect(pdv_workers, int(event["seq"]), t0, args.round_timeout)
            measured.cpu_ms = (cpu_ns(server.process.pid) - cpu) / 1e6
            measured.response = responded
            drain_tap(tap, measured, int(event["seq"]))
            say(describe(measured, f"pdv {label}"))
            pdv.keep(index, args.warmup, measured)
            await asyncio.sleep(args.pause)
            t0 = mono()
            resolved = http.request("POST", f"/api/v1/alerts/{answer['alert']['id']}/resolve")
            responded = mono()
            measured = await collect(pdv_workers, int(resolved["seq"]), t0, args.round_timeout)
            measured.response = responded
            say(describe(measured, f"pdv {label} resolve"))
            if index > args.warmup:
                resolves.rounds.append(measured)

        async def floor_round(index: int, label: str) -> None:
            # the floor: the same frame (byte for byte but the seq), on a line to its stdin
            assert floor is not None
            seq = 1_000_000 + index
            frame = server_frame(
                alert_event_from_dict({**template.get("event", EXAMPLE_EVENT), "seq": seq})
            )
            await floor.ask(f"load {index} {frame.hex()}")
            await asyncio.sleep(args.pause)
            tap = WireTap.open(floor.port) if args.tap else None
            assert floor.process.stdin is not None
            cpu = cpu_ns(floor.process.pid)
            t0 = mono()
            floor.process.stdin.write(f"fire {index}\n".encode())
            await floor.process.stdin.drain()
            fired = (await floor.line()).split()
            measured = await collect(floor_workers, seq, t0, args.round_timeout)
            measured.cpu_ms = (cpu_ns(floor.process.pid) - cpu) / 1e6
            measured.server_write = (float(fired[3]), float(fired[4]))
            drain_tap(tap, measured, seq)
            say(describe(measured, f"floor {label}"))
            floor_side.keep(index, args.warmup, measured)

        for index in range(1 + args.warmup + args.alerts):
            label = round_label(index, args.warmup)
            floor_first = index == 0 and first_cold == "floor"
            first, second = (floor_round, pdv_round) if floor_first else (pdv_round, floor_round)
            await first(index, label)
            await second(index, label)
        await asyncio.gather(
            pdv_workers.all({"op": "drop"}, 60), floor_workers.all({"op": "drop"}, 60)
        )
    finally:
        if http is not None:
            http.close()
        if server is not None:
            await server.stop()
        if floor is not None:
            await floor.stop()


# -- several nodes -----------------------------------------------------------------------

NODE_NAMES = "abcdefghijklmnopqrstuvwxyz"


@dataclass
class NodesRun:
    """One configuration of `measure_nodes`: all clients together and per node."""

    nodes: int
    together: Side
    per_node: list[Side]


async def measure_nodes_once(setup: Setup, workers: Workers, nodes: int) -> NodesRun:
    """`nodes` fresh `serve` processes on the run's database and bus; the clients split over
    them (client process i on node i mod nodes); every alert triggered over node a's API."""
    args = setup.args
    names = NODE_NAMES[:nodes]
    servers: list[Server] = []
    http: Http | None = None
    together = Side(f"{nodes} node{'s' if nodes > 1 else ''}")
    per_node = [Side(f"node {name}") for name in names]
    try:
        servers = list(
            await asyncio.gather(
                *(setup.start_server(f"server-{nodes}-{name}.log", node=name) for name in names)
            )
        )
        http = Http(servers[0].http_port, setup.seeded.principal_token)
        http.get("/api/v1/health")  # open the keep-alive connection
        say(f"{nodes} node(s) serving: " + ", ".join(s.ws_url for s in servers))
        await asyncio.sleep(1.0)
        together.rss_before_kb = sum(rss_kb(s.process.pid) for s in servers)
        started = mono()
        together.clients = await connect_clients(
            workers, [s.ws_url for s in servers], reconnect=False, timeout=args.connect_timeout
        )
        together.connect_seconds = mono() - started
        await asyncio.sleep(args.pause + 1.0)
        together.rss_after_kb = sum(rss_kb(s.process.pid) for s in servers)
        body = {"kind": "pdv_lockdown", "mode": "actual", "site_ids": [setup.seeded.site_id]}
        for index in range(1 + args.warmup + args.alerts):
            http.get("/api/v1/health")
            await asyncio.sleep(args.pause)
            taps = [WireTap.open(s.ws_port) for s in servers] if args.tap else []
            cpu = sum(cpu_ns(s.process.pid) for s in servers)
            t0 = mono()
            answer = http.request("POST", "/api/v1/alerts", body)
            responded = mono()
            seq = int(answer["event"]["seq"])
            replies = await workers.all(
                {"op": "collect", "seq": seq, "timeout": args.round_timeout},
                args.round_timeout + 30,
            )
            measured = Round(
                t0=t0,
                wire=[t for r in replies for t in r["wire"]],
                app=[t for r in replies for t in r["app"]],
                missing=sum(r["missing"] for r in replies),
                response=responded,
                cpu_ms=(sum(cpu_ns(s.process.pid) for s in servers) - cpu) / 1e6,
            )
            for tap in taps:
                if tap is not None:
                    stamps, drops = tap.drain(seq)
                    measured.tap += stamps
                    measured.tap_drops += drops
                    tap.close()
            if taps and any(tap is None for tap in taps):
                measured.tap = []
            for number, side in enumerate(per_node):
                mine = [r for i, r in enumerate(replies) if i % nodes == number]
                side.clients = sum(
                    w.count for i, w in enumerate(workers.workers) if i % nodes == number
                )
                side.keep(
                    index,
                    args.warmup,
                    Round(
                        t0=t0,
                        wire=[t for r in mine for t in r["wire"]],
                        app=[t for r in mine for t in r["app"]],
                        missing=sum(r["missing"] for r in mine),
                    ),
                )
            label = "cold" if index == 0 else f"alert {index}"
            say(describe(measured, f"{nodes} node(s) {label}"))
            together.keep(index, args.warmup, measured)
            await asyncio.sleep(args.pause)
            resolved = http.request("POST", f"/api/v1/alerts/{answer['alert']['id']}/resolve")
            await collect(workers, int(resolved["seq"]), mono(), args.round_timeout)
        await workers.all({"op": "drop"}, 60)
        return NodesRun(nodes, together, per_node)
    finally:
        if http is not None:
            http.close()
        for server in servers:
            await server.stop()


async def measure_nodes(setup: Setup, workers: Workers) -> str:
    """The same N clients on one node, then split over `--nodes` nodes (one PostgreSQL, one
    Redis), in the same run; alerts triggered on node a. The last client of the split vs
    the single node's."""
    args = setup.args
    single = await measure_nodes_once(setup, workers, 1)
    await asyncio.sleep(args.pause + 2.0)
    split = await measure_nodes_once(setup, workers, args.nodes)
    return nodes_table(single, split)


def nodes_ratios(single: NodesRun, split: NodesRun) -> list[str]:
    lines = []
    for cold in (False, True):
        mine = split.together.cold if cold else split.together.rounds
        theirs = single.together.cold if cold else single.together.rounds
        tapped = all(r.tap for r in mine + theirs)
        for stamps, what in (("wire", "clients"), ("tap", "on the wire")):
            if mine and theirs and (stamps == "wire" or tapped):
                value = (
                    latency_stats(mine, stamps=stamps, from_first=False)["last"]
                    / latency_stats(theirs, stamps=stamps, from_first=False)["last"]
                )
                lines.append(f"  {'cold' if cold else 'warm'}, {what:12} {value:5.2f}×")
    return lines


def nodes_table(single: NodesRun, split: NodesRun) -> str:
    lines = latency_head(44, f"{'KB RSS/conn':>11}")

    def row(label: str, side: Side, stamps: str, cold: bool, rss: str = "") -> None:
        rounds = side.cold if cold else side.rounds
        if rounds and (stamps != "tap" or all(r.tap for r in rounds)):
            lines.append(
                latency_row(
                    label,
                    44,
                    side.clients,
                    rounds,
                    stamps=stamps,
                    from_first=False,
                    extra=f"{rss:>11}",
                )
            )

    for cold in (False, True):
        if cold:
            lines.append("cold: the first alert after the nodes' start:")
        indent = "  " if cold else ""
        for run in (single, split):
            name = run.together.name
            rss = "" if cold else f"{run.together.kb_per_connection:.1f}"
            row(f"{indent}{name}: trigger→last client", run.together, "wire", cold, rss)
            row(f"{indent}{name}: trigger→last frame sent", run.together, "tap", cold)
            for side in run.per_node if run.nodes > 1 else []:
                row(f"{indent}  {side.name}'s clients", side, "wire", cold)
    lines += ["", f"last client, {split.together.name} / 1 node (same run):"]
    lines += nodes_ratios(single, split)

    def http_ms(run: NodesRun) -> float:
        values = [(r.response - r.t0) * 1000 for r in run.together.rounds if r.response]
        return statistics.median(values) if values else float("nan")

    missing = sum(
        r.missing for run in (single, split) for r in run.together.rounds + run.together.cold
    )
    lines += [
        f"HTTP trigger (t0→response), median of the warm alerts: 1 node "
        f"{http_ms(single):.1f} ms, {split.together.name} {http_ms(split):.1f} ms",
        f"CPU of all nodes per alert, right before t0 until the last client has it (median;"
        f" cold): 1 node {cpu_median(single.together.rounds):.1f} ms "
        f"({cpu_median(single.together.cold):.1f}), {split.together.name} "
        f"{cpu_median(split.together.rounds):.1f} ms ({cpu_median(split.together.cold):.1f})",
        f"RSS of all nodes before the clients → idle with all connected: 1 node "
        f"{single.together.rss_before_kb / 1024:.0f} → "
        f"{single.together.rss_after_kb / 1024:.0f} MB, {split.together.name} "
        f"{split.together.rss_before_kb / 1024:.0f} → {split.together.rss_after_kb / 1024:.0f} MB",
        f"connect + hello + welcome of all clients: 1 node "
        f"{single.together.connect_seconds:.1f} s, {split.together.name} "
        f"{split.together.connect_seconds:.1f} s",
        f"clients without the frame: {missing}",
    ]
    return "\n".join(lines)


# -- other scenarios ---------------------------------------------------------------------


async def scenario_acks(setup: Setup, workers: Workers) -> list[str]:
    """N acks in a burst: from the first ack sent until all are persisted."""
    args = setup.args
    server = await setup.start_server("server-acks.log")
    http = Http(server.http_port, setup.seeded.principal_token)
    db = AckCounter(setup.database_url)
    try:
        clients = await connect_clients(
            workers, server.ws_url, reconnect=False, timeout=args.connect_timeout
        )
        answer = http.request(
            "POST",
            "/api/v1/alerts",
            {"kind": "pdv_lockdown", "mode": "actual", "site_ids": [setup.seeded.site_id]},
        )
        alert_id = int(answer["alert"]["id"])
        received = await collect(workers, int(answer["event"]["seq"]), mono(), args.round_timeout)
        say(f"acks: alert {alert_id} reached {len(received.wire)} clients")
        await asyncio.sleep(args.pause)
        await db.open()
        t0 = mono()
        sending = asyncio.ensure_future(workers.all({"op": "ack", "alert_id": alert_id}, 120))
        persisted, done_at = 0, None
        deadline = t0 + args.ack_timeout
        while mono() < deadline:
            persisted = await db.count(alert_id)
            if persisted >= clients:
                done_at = mono()
                break
            await asyncio.sleep(0.01)
        sent = await sending
        last_sent = max(r["t_last"] for r in sent) - t0
        rows = [
            f"acks burst: {sum(r['sent'] for r in sent)} acks sent by the clients in "
            f"{last_sent * 1000:.0f} ms",
        ]
        if len(received.wire) < clients:
            rows.insert(0, f"acks burst: the alert reached only {len(received.wire)} of {clients}")
        if done_at is not None:
            total = done_at - t0
            rows.append(
                f"acks burst: all {clients} persisted {total * 1000:.0f} ms after the first "
                f"was sent ({clients / total:,.0f} acks/s end to end)"
            )
        else:
            rows.append(
                f"acks burst: only {persisted} of {clients} persisted within {args.ack_timeout} s"
            )
        await workers.all({"op": "drop"}, 60)
        http.request("POST", f"/api/v1/alerts/{alert_id}/resolve")
        return rows
    finally:
        await db.close()
        http.close()
        await server.stop()


async def scenario_reconnect(setup: Setup, workers: Workers) -> list[str]:
    """Stop the server — SIGTERM (a graceful shutdown), or with `--kill` SIGKILL with every
    client connected (a crash: no close frames, nothing flushed) — and start it again on the
    same WebSocket port; time until all clients, reconnecting with jittered backoff as the
    real clients do, have a new welcome."""
    args = setup.args
    log = "server-reconnect.log"
    how = "SIGKILL" if args.kill else "SIGTERM"
    server = await setup.start_server(log)
    try:
        clients = await connect_clients(
            workers, server.ws_url, reconnect=True, timeout=args.connect_timeout
        )
        ws_port = server.ws_port
        await asyncio.sleep(args.pause)
        t_kill = mono()
        if args.kill:
            server.process.kill()
            await server.process.wait()
            stopped = "was gone in"
        else:
            killed = await server.stop(grace=args.stop_grace)
            stopped = "had not exited, SIGKILL after" if killed else "exited in"
        t_down = mono()
        server = await setup.start_server(log, ws_port=ws_port)
        t_up = server.started_at
        replies = await workers.all(
            {"op": "welcomes", "after": t_kill, "timeout": args.reconnect_timeout},
            args.reconnect_timeout + 30,
        )
        times = sorted(t for r in replies for t in r["times"])
        missing = sum(r["missing"] for r in replies)
        rows = [
            f"reconnect storm ({how}): {clients} clients; after {how} the old server {stopped} "
            f"{(t_down - t_kill) * 1000:.0f} ms; the new one listened "
            f"{(t_up - t_kill) * 1000:.0f} ms after {how}"
        ]
        if times:
            since_up = [t - t_up for t in times]
            rows.append(
                f"reconnect storm ({how}): new welcome after the new server listened: "
                f"p50 {percentile(since_up, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(since_up, 0.99) * 1000:.0f} ms, "
                f"{'all' if not missing else 'last'} {since_up[-1] * 1000:.0f} ms "
                f"({(times[-1] - t_kill) * 1000:.0f} ms after {how})"
            )
        errors: dict[str, int] = {}
        for r in replies:
            for name, count in r["errors"].items():
                errors[name] = errors.get(name, 0) + count
        if missing:
            rows.append(
                f"reconnect storm ({how}): {missing} clients without a new welcome within "
                f"{args.reconnect_timeout:.0f} s"
            )
        rows.append(f"reconnect storm ({how}): failed connection attempts meanwhile: {errors}")
        await workers.all({"op": "drop"}, 60)
        return rows
    finally:
        await server.stop()


# -- report ------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def cpu_median(rounds: list[Round]) -> float:
    values = [r.cpu_ms for r in rounds if r.cpu_ms == r.cpu_ms]
    return statistics.median(values) if values else float("nan")


def cold_each_start(pdv: Side, floor: Side, tapped: bool) -> list[str]:
    """With several starts: the ratio incl. trigger of each start's cold alert."""
    if len(pdv.cold) < 2 or len(pdv.cold) != len(floor.cold):
        return []
    stamps = "tap" if tapped else "wire"
    each = [
        latency_stats([mine], stamps=stamps, from_first=False)["last"]
        / latency_stats([theirs], stamps=stamps, from_first=False)["last"]
        for mine, theirs in zip(pdv.cold, floor.cold, strict=True)
    ]
    met = sum(value <= TARGET_TRIGGER for value in each)
    return [
        f"  cold incl. trigger ({'on the wire' if tapped else 'clients'}), each start: "
        + ", ".join(f"{value:.2f}×" for value in each)
        + f"; ≤ {TARGET_TRIGGER}× in {met} of {len(each)}"
    ]


def table(pdv: Side, floor: Side, resolves: Side, floor_kind: str) -> str:
    """The warm rows (rounds after the first), the cold rows (the first alert after each
    server's start) and the ratios of both to the floor."""
    lines = latency_head(40, f"{'KB RSS/conn':>11}")
    floor_name = f"{floor_kind} floor"

    def row(
        label: str, side: Side, stamps: str, from_first: bool, rss: str = "", *, cold: bool = False
    ) -> None:
        lines.append(
            latency_row(
                label,
                40,
                side.clients,
                side.cold if cold else side.rounds,
                stamps=stamps,
                from_first=from_first,
                extra=f"{rss:>11}",
            )
        )

    row("pdv-alert (trigger→last client)", pdv, "wire", False, f"{pdv.kb_per_connection:.1f}")
    row("pdv-alert fan-out only", pdv, "wire", True)
    row(
        f"{floor_name} (signal→last client)", floor, "wire", False, f"{floor.kb_per_connection:.1f}"
    )
    row(f"{floor_name} fan-out only", floor, "wire", True)
    http_ms = [(r.response - r.t0) * 1000 for r in pdv.rounds if r.response is not None]
    lines.append(
        f"{'pdv-alert HTTP trigger (t0→response)':40} {'':>7} "
        f"{statistics.median(http_ms) if http_ms else float('nan'):>8.1f}"
        f"{'':>18}{max(http_ms) if http_ms else float('nan'):>8.1f}"
    )
    row("pdv-alert resolve (request→last client)", resolves, "wire", False)
    everything = pdv.rounds + floor.rounds + pdv.cold + floor.cold
    tapped = bool(everything) and all(r.tap for r in everything)
    if tapped:
        lines.append("on the wire (kernel timestamps of the server's writes on lo):")
        row("  pdv-alert trigger→last frame sent", pdv, "tap", False)
        row("  pdv-alert first→last frame sent", pdv, "tap", True)
        row(f"  {floor_name} signal→last frame sent", floor, "tap", False)
        row(f"  {floor_name} first→last frame sent", floor, "tap", True)
    if pdv.cold and floor.cold:
        cold_http = [(r.response - r.t0) * 1000 for r in pdv.cold if r.response is not None]
        starts = f"{len(pdv.cold)} starts" if len(pdv.cold) > 1 else "one start"
        lines.append(
            f"cold: the first alert after each server's start ({starts}; not in the rows above):"
        )
        row("  pdv-alert (trigger→last client)", pdv, "wire", False, cold=True)
        row("  pdv-alert fan-out only", pdv, "wire", True, cold=True)
        row(f"  {floor_name} (signal→last client)", floor, "wire", False, cold=True)
        row(f"  {floor_name} fan-out only", floor, "wire", True, cold=True)
        if cold_http:
            lines.append(
                f"{'  pdv-alert HTTP trigger (t0→response)':40} {'':>7} "
                f"{statistics.median(cold_http):>8.1f}{'':>18}{max(cold_http):>8.1f}"
            )
        if tapped:
            row("  pdv-alert trigger→last frame sent", pdv, "tap", False, cold=True)
            row("  pdv-alert first→last frame sent", pdv, "tap", True, cold=True)
            row(f"  {floor_name} signal→last frame sent", floor, "tap", False, cold=True)
            row(f"  {floor_name} first→last frame sent", floor, "tap", True, cold=True)
    lines += [
        "",
        "p50/p99/max pool all clients of all warm alerts; 'last ms' is the last client's",
        "latency, median over the alerts (cold: over the starts' first alerts). Client times",
        "are stamped when the frame's bytes reach the client process (before websockets",
        "parses them).",
        "",
        f"ratios of the last client, pdv-alert / {floor_name}:",
    ]

    def ratio(label: str, stamps: str, from_first: bool, target: float, cold: bool) -> None:
        mine = latency_stats(pdv.cold if cold else pdv.rounds, stamps=stamps, from_first=from_first)
        theirs = latency_stats(
            floor.cold if cold else floor.rounds, stamps=stamps, from_first=from_first
        )
        value = mine["last"] / theirs["last"]
        verdict = "met" if value <= target else "NOT met"
        lines.append(f"  {label:48} {value:5.2f}×  target ≤ {target}×  {verdict}")

    for cold, name in ((False, "warm"), (True, "cold")):
        if not (pdv.cold if cold else pdv.rounds):
            continue
        ratio(f"{name}: fan-out only (clients)", "wire", True, TARGET_FANOUT, cold)
        ratio(f"{name}: incl. HTTP trigger + commit (clients)", "wire", False, TARGET_TRIGGER, cold)
        if tapped:
            ratio(f"{name}: fan-out only (on the wire)", "tap", True, TARGET_FANOUT, cold)
            ratio(
                f"{name}: incl. HTTP trigger + commit (on the wire)",
                "tap",
                False,
                TARGET_TRIGGER,
                cold,
            )
    lines += cold_each_start(pdv, floor, tapped)
    kb = pdv.kb_per_connection
    lines.append(
        f"  {'RSS per idle connection':48} {kb:5.1f} KB target ≤ {TARGET_RSS_KB:.0f} KB  "
        f"{'met' if kb <= TARGET_RSS_KB else 'NOT met'}"
    )
    app_pdv = latency_stats(pdv.rounds, stamps="app", from_first=False)
    app_floor = latency_stats(floor.rounds, stamps="app", from_first=False)
    missing = sum(r.missing for r in everything)
    drops = sum(r.tap_drops for r in everything)
    lines += [
        "",
        "as the clients' tasks get the frames (after websockets' parser and client-side queueing):",
        f"  pdv-alert trigger→client task  p50 {app_pdv['p50']:.1f}  p99 {app_pdv['p99']:.1f}  "
        f"max {app_pdv['max']:.1f} ms",
        f"  floor signal→client task       p50 {app_floor['p50']:.1f}  "
        f"p99 {app_floor['p99']:.1f}  max {app_floor['max']:.1f} ms",
        f"connect + hello + welcome of all clients: pdv-alert {pdv.connect_seconds:.1f} s "
        f"(server CPU {pdv.connect_cpu:.1f} s), floor {floor.connect_seconds:.1f} s "
        f"(CPU {floor.connect_cpu:.1f} s)",
        f"server RSS before the clients → idle with all connected: pdv-alert "
        f"{pdv.rss_before_kb / 1024:.0f} → {pdv.rss_after_kb / 1024:.0f} MB, floor "
        f"{floor.rss_before_kb / 1024:.1f} → {floor.rss_after_kb / 1024:.1f} MB",
        f"server CPU per alert, right before t0 until the last client has it (median; cold):"
        f" pdv-alert {cpu_median(pdv.rounds):.1f} ms ({cpu_median(pdv.cold):.1f}), "
        f"{floor_name} {cpu_median(floor.rounds):.1f} ms ({cpu_median(floor.cold):.1f})",
        f"clients without the frame: {missing}; packets the wire tap dropped: {drops}",
    ]
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------


def say_log_tails(workdir: Path) -> None:
    """The last lines of every log of the run (after a failure)."""
    for log in sorted(workdir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-15:]
        if tail:
            say(f"last lines of {log}:\n  " + "\n  ".join(tail))


@contextlib.asynccontextmanager
async def run_database(args: argparse.Namespace, workdir: Path) -> AsyncIterator[str]:
    """The run's database: a SQLite file in `workdir`, or with --database-url a fresh
    PostgreSQL database `pdv_bench_<hex>` created on that server and dropped at the end."""
    if not args.database_url:
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    import asyncpg

    name = f"pdv_bench_{secrets.token_hex(4)}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(plain_dsn(args.database_url), timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    await admin(f'CREATE DATABASE "{name}"')
    say(f"created PostgreSQL database {name}")
    try:
        yield with_database(args.database_url, name)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        say(f"dropped PostgreSQL database {name}")


def run_header(args: argparse.Namespace) -> str:
    fan = args.scenario in ("fanout", "all")
    database = "PostgreSQL" if args.database_url else "SQLite"
    bus = "Redis bus" if args.bus_url else "in-memory bus"
    if fan and args.nodes > 1:
        shape = (
            f" in all; 1 node, then {args.nodes} nodes with the clients split, "
            f"1 cold + {args.warmup} warm-up + {args.alerts} alerts each"
        )
    elif fan:
        shape = (
            f" for each server; pdv-alert and the {args.floor} floor run side by side, 1 cold + "
            f"{args.warmup} warm-up + {args.alerts} alerts each, alternating"
        )
        if args.starts > 1:
            shape += f"; {args.starts} starts, the first cold alert alternating from {args.first}"
    else:
        shape = ""
    return (
        f"pdv-alert fan-out benchmark, "
        f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}\n{machine()}\n"
        f"{args.clients} clients in {args.procs} client processes{shape}; "
        f"{database}, {bus}, loopback; load average {os.getloadavg()[0]:.2f}{_pinning()}"
    )


def _pinning() -> str:
    parts = [
        f"{role} on CPU {','.join(map(str, sorted(cpus)))}"
        for role, cpus in PINNING.items()
        if cpus is not None
    ]
    return f"; pinned: {', '.join(parts)}" if parts else ""


async def run_scenarios(setup: Setup, groups: list[Workers]) -> list[str]:
    """Start the client processes (into `groups`, which the caller stops) and run the chosen
    scenarios; their outputs."""
    args = setup.args
    fan = args.scenario in ("fanout", "all")
    for name in ("pdv", "floor") if fan and args.nodes == 1 else ("pdv",):
        groups.append(
            await Workers.start(
                tokens=setup.seeded.tokens_path,
                clients=args.clients,
                procs=args.procs,
                concurrency=args.concurrency,
                logs=setup.workdir,
                name=name,
            )
        )
    outputs: list[str] = []
    if fan and args.nodes > 1:
        outputs.append(await measure_nodes(setup, groups[0]))
    elif fan:
        outputs.append(await measure_fanout(setup, groups[0], groups[1]))
    if args.scenario in ("acks", "all"):
        outputs.append("\n".join(await scenario_acks(setup, groups[0])))
    if args.scenario in ("reconnect", "all"):
        outputs.append("\n".join(await scenario_reconnect(setup, groups[0])))
    return outputs


async def run(args: argparse.Namespace) -> int:
    nofile = raise_file_limit()
    if nofile < args.clients + 1000:
        say(
            f"warning: the open-file limit is {nofile}; the server needs one per client "
            f"(raise it: ulimit -n 65536)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="pdv-bench-"))
    groups: list[Workers] = []
    started = mono()
    server_env: dict[str, str] = {}
    if args.bus_url:
        server_env = {
            "PDV_BUS_URL": args.bus_url,
            "PDV_BUS_NAMESPACE": f"pdv-bench-{secrets.token_hex(4)}",  # this run's alone
        }
    try:
        async with run_database(args, workdir) as database_url:
            say(f"seeding {args.clients} devices in {database_url}")
            seeded = await seed(
                database_url, devices=args.clients, tokens_path=workdir / "tokens.txt"
            )
            say(f"seeded in {mono() - started:.1f} s")
            setup = Setup(args, workdir, database_url, seeded, server_env)
            header = run_header(args)
            outputs = await run_scenarios(setup, groups)
            for group in groups:
                await group.stop()
            groups.clear()
        print(header)
        print()
        print("\n\n".join(outputs))
        print(
            f"\n(total run {mono() - started:.0f} s; load average at the end "
            f"{', '.join(f'{x:.2f}' for x in os.getloadavg())})"
        )
        return 0
    except Exception as exc:
        args.keep = True
        say(f"FAILED: {exc!r}")
        say_log_tails(workdir)
        return 1
    finally:
        for group in groups:
            await group.stop()
        if args.keep:
            say(f"kept {workdir} (database, tokens, logs)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="pdv-alert fan-out benchmark")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--procs", type=int, default=2, help="client processes (2 cores: 2)")
    parser.add_argument(
        "--alerts", type=int, default=3, help="warm triggers measured (after the cold one)"
    )
    parser.add_argument(
        "--warmup", type=int, default=0, help="triggers after the cold one, not measured"
    )
    parser.add_argument(
        "--scenario", choices=["fanout", "acks", "reconnect", "all"], default="fanout"
    )
    parser.add_argument(
        "--floor",
        choices=["c", "python"],
        default="c",
        help="the floor server: bench/floor_epoll.c (gcc -O2) or bench/floor_server.py",
    )
    parser.add_argument(
        "--kill", action="store_true", help="reconnect: SIGKILL the server instead of SIGTERM"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgresql+asyncpg://…/db): the run creates its own "
        "database there and drops it at the end; default: SQLite in the temp dir",
    )
    parser.add_argument(
        "--bus-url", help="redis://…: the servers' bus (a namespace of the run's own)"
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="fanout: 1 node, then this many with the clients split (needs PostgreSQL + Redis)",
    )
    parser.add_argument(
        "--first",
        choices=["pdv", "floor"],
        default="pdv",
        help="which server's cold alert goes first (the other's finds the kernel warmed)",
    )
    parser.add_argument(
        "--starts",
        type=int,
        default=1,
        help="fanout: start both servers this many times (a cold alert each), first alternating",
    )
    parser.add_argument("--concurrency", type=int, default=100, help="connects in flight")
    parser.add_argument("--pause", type=float, default=1.0, help="idle seconds between steps")
    parser.add_argument("--connect-timeout", type=float, default=180.0)
    parser.add_argument("--round-timeout", type=float, default=30.0)
    parser.add_argument("--ack-timeout", type=float, default=60.0)
    parser.add_argument("--reconnect-timeout", type=float, default=120.0)
    parser.add_argument(
        "--stop-grace", type=float, default=30.0, help="reconnect: seconds before SIGKILL"
    )
    parser.add_argument(
        "--no-tap",
        dest="tap",
        action="store_false",
        help="don't time the servers' writes on lo (AF_PACKET; skipped without CAP_NET_RAW)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument(
        "--server-wrapper",
        metavar="SCRIPT",
        help="run `python SCRIPT serve …` instead of `python -m server.cli serve …` "
        "(e.g. a script that profiles and then calls server.cli.main)",
    )
    parser.add_argument(
        "--server-cpus",
        type=cpu_list,
        metavar="CPUS",
        help="pin the servers (pdv-alert and the floor) to these CPUs, e.g. 0",
    )
    parser.add_argument(
        "--client-cpus",
        type=cpu_list,
        metavar="CPUS",
        help="pin the client processes to these CPUs, e.g. 1",
    )
    args = parser.parse_args()
    Server.wrapper = args.server_wrapper
    PINNING.update(server=args.server_cpus, clients=args.client_cpus)
    if args.clients < 1 or args.procs < 1 or args.alerts < 1 or args.warmup < 0:
        parser.error("--clients, --procs and --alerts must be at least 1, --warmup at least 0")
    if args.database_url and not args.database_url.startswith("postgresql+asyncpg://"):
        parser.error("--database-url must be postgresql+asyncpg://… (SQLite is the default)")
    if args.nodes < 1 or args.nodes > len(NODE_NAMES):
        parser.error(f"--nodes must be 1–{len(NODE_NAMES)}")
    if args.nodes > 1:
        if not (args.database_url and args.bus_url):
            parser.error("--nodes needs --database-url (PostgreSQL) and --bus-url (Redis)")
        if args.procs % args.nodes:
            parser.error("--procs must be a multiple of --nodes (client process i → node i)")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
