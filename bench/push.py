"""The push benchmark: 10,000 Web Push deliveries and 10,000 APNs notifications from the real
server to the local peers, and the WebSocket fan-out with and without 10,000 push
registrations, in one run.

    python bench/push.py [--devices 10000] [--clients 2000] [--rounds 3]
                         [--push-concurrency N] [--push-batch-size N] [--profile]

One temporary SQLite database holds one organization with two sites: the fan-out site with
`--clients` desktop devices (WebSocket clients, bench/clients.py) and `--devices` `web`
devices whose push registrations point at the local Web Push service; the iOS site with
`--devices` `ios` devices registered for APNs. The real `pdv-alert serve` runs with
Web Push (a VAPID key made for the run) and APNs (the stand-in's URL, CA and provider key)
configured; each peer runs in its own process (bench/push_peers.py) and stamps arrivals on
CLOCK_MONOTONIC, the driver's clock.

Per round: a trigger on the fan-out site without push registrations (they are deleted) and
one with them (inserted again), in alternating order; each measures trigger → last
WebSocket client, and with registrations trigger → last Web Push delivery at the peer and →
every answer recorded in the database, with the server's CPU (/proc/<pid>/stat) over that
time. Each alert is resolved, and the resolve's pushes are measured too. Then the same for
APNs on the iOS site. Progress goes to stderr, the tables to stdout; see bench/README.md.
"""

# The driver is the only thing on its event loop: short blocking reads of /proc, of the
# database and of log files are deliberate; timeouts are plain arguments.
# ruff: noqa: ASYNC109, ASYNC230

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import io
import json
import os
import pstats
import secrets
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, insert, select  # noqa: E402

from bench.fanout import (  # noqa: E402
    Http,
    JsonLines,
    Round,
    Server,
    WireTap,
    Workers,
    collect,
    connect_clients,
    cpu_seconds,
    drain_tap,
    latency_head,
    latency_row,
    latency_stats,
    machine,
    mono,
    raise_file_limit,
    say,
    say_log_tails,
    stop_process,
)
from bench.seed import Seeded, seed  # noqa: E402
from push.vapid import generate_vapid_key  # noqa: E402
from server.clock import utcnow  # noqa: E402
from server.credentials import token_hash  # noqa: E402
from server.storage.database import Database  # noqa: E402
from server.storage.tables import (  # noqa: E402
    Device,
    PushRegistration,
    RoleAssignment,
    Site,
)

TARGETS = {"webpush": 5.0, "apns": 2.0}  # seconds, trigger → last delivery …
TARGET_DEVICES = 10_000  # … to this many devices
NAMES = {"webpush": "Web Push", "apns": "APNs"}
CHUNK = 2000
PENDING = ("queued", "sent")


# -- the peers -----------------------------------------------------------------------------


class Peer(JsonLines):
    """A bench/push_peers.py process."""

    what = "push peer"

    def __init__(self, process: asyncio.subprocess.Process, started: dict[str, Any]) -> None:
        super().__init__(process)
        self.started = started

    @classmethod
    async def start(cls, kind: str, workdir: Path) -> Peer:
        extra = ["--directory", str(workdir / "apns")] if kind == "apns" else []
        with open(workdir / f"peer-{kind}.log", "ab") as err:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(BENCH / "push_peers.py"),
                kind,
                *extra,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                limit=16 * 1024 * 1024,
            )
        peer = cls(process, {})
        try:
            peer.started = await peer.answer(30)
        except BaseException:
            await stop_process(process, grace=5)
            raise
        return peer

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> None:
        if self.process.returncode is None and self.process.stdin is not None:
            with contextlib.suppress(Exception):
                self.process.stdin.write(b'{"op": "quit"}\n')
                await self.process.stdin.drain()
        await stop_process(self.process, grace=5)


# -- seeding -------------------------------------------------------------------------------


@dataclass
class PushSeed:
    """The push side of the seed: registration rows, inserted and deleted between phases."""

    ios_site_id: int
    web_registrations: list[dict[str, Any]]
    ios_registrations: list[dict[str, Any]]


async def seed_push(
    url: str, seeded: Seeded, *, subscriptions: list[dict[str, Any]], ios: int
) -> PushSeed:
    """Web devices at the fan-out site for the peer's subscriptions and an iOS site (the
    principal leads it too) with `ios` devices: core bulk inserts. Their push registrations
    are returned as rows, for `set_registrations` to insert when a phase needs them."""
    now = utcnow()
    org = seeded.organization_id
    database = Database(url)
    try:
        async with database.engine.begin() as conn:
            ios_site = (
                await conn.execute(
                    insert(Site)
                    .values(
                        organization_id=org,
                        name="Benchskolan iPad",
                        address="",
                        staff_may_trigger=True,
                        created_at=now,
                    )
                    .returning(Site.id)
                )
            ).scalar_one()
            principal = await conn.scalar(
                select(RoleAssignment.person_id).where(RoleAssignment.site_id == seeded.site_id)
            )
            await conn.execute(
                insert(RoleAssignment).values(
                    organization_id=org, person_id=principal, site_id=ios_site, role="principal"
                )
            )
            web_ids = await _devices(conn, org, seeded.site_id, "web", len(subscriptions), now)
            ios_ids = await _devices(conn, org, ios_site, "ios", ios, now)
            web_rows = [
                {
                    "device_id": device_id,
                    "organization_id": org,
                    "type": "webpush",
                    "endpoint": sub["endpoint"],
                    "p256dh": sub["keys"]["p256dh"],
                    "auth": sub["keys"]["auth"],
                    "since": now,
                    "last_result": "",
                }
                for device_id, sub in zip(web_ids, subscriptions, strict=True)
            ]
            ios_rows = [
                {
                    "device_id": device_id,
                    "organization_id": org,
                    "type": "apns",
                    "token": secrets.token_hex(32),
                    "environment": "production",
                    "since": now,
                    "last_result": "",
                }
                for device_id in ios_ids
            ]
        return PushSeed(ios_site, web_rows, ios_rows)
    finally:
        await database.close()


async def _devices(
    conn: Any, org: int, site: int, kind: str, count: int, now: datetime.datetime
) -> list[int]:
    ids: list[int] = []
    for start in range(0, count, CHUNK):
        rows = [
            {
                "organization_id": org,
                "site_id": site,
                "kind": kind,
                "name": f"bench-{kind}-{index:05d}",
                "token_hash": token_hash(secrets.token_urlsafe(24)),
                "created_at": now,
                "client_version": "",
            }
            for index in range(start, min(start + CHUNK, count))
        ]
        result = await conn.execute(insert(Device).returning(Device.id), rows)
        ids += [int(row) for row in result.scalars()]
    return ids


# -- measuring -----------------------------------------------------------------------------


@dataclass
class Push:
    """One event pushed to every registered device: arrivals at the peer, the outbox's
    answers in the database, and the CPU the server and the peer used meanwhile."""

    provider: str
    event: str  # trigger | resolve
    devices: int  # expected
    t0: float
    response: float
    received: int = 0  # distinct devices that got it
    requests: int = 0
    first: float | None = None
    last: float | None = None
    recorded: float | None = None  # every delivery of the seq past sent
    server_cpu_last: float = 0.0  # server CPU seconds from t0 to the last arrival
    server_cpu: float = 0.0  # … to the last answer recorded
    main_cpu: float = 0.0  # of which the main thread (the event loop; the rest: database)
    peer_cpu: float = 0.0
    machine_cpu: float = 0.0  # every process on the machine, from /proc/stat
    states: dict[str, int] = field(default_factory=dict)
    retried: int = 0  # deliveries that needed more than one attempt
    refused: int = 0

    def ms(self, at: float | None) -> float:
        return float("nan") if at is None else (at - self.t0) * 1000


@dataclass
class Context:
    args: argparse.Namespace
    workdir: Path
    database_url: str
    database_path: Path
    seeded: Seeded
    push_seed: PushSeed
    peers: dict[str, Peer]
    server: Server | None = None
    http: Http | None = None
    workers: Workers | None = None
    profiled: set[str] = field(default_factory=set)
    profiles: list[tuple[str, Path]] = field(default_factory=list)

    @property
    def live(self) -> tuple[Server, Http]:
        assert self.server is not None and self.http is not None, "start the server first"
        return self.server, self.http


def outbox(path: Path, seq: int) -> tuple[dict[str, int], int]:
    """States of the seq's deliveries, and how many needed more than one attempt."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        states = {
            str(state): int(count)
            for state, count in db.execute(
                "SELECT state, count(*) FROM push_deliveries WHERE seq = ? GROUP BY state", (seq,)
            )
        }
        retried = db.execute(
            "SELECT count(*) FROM push_deliveries WHERE seq = ? AND attempts > 1", (seq,)
        ).fetchone()[0]
        return states, int(retried)
    finally:
        db.close()


async def wait_recorded(path: Path, seq: int, devices: int, timeout: float) -> float | None:
    """When every delivery of `seq` has an answer recorded (none queued or sent)."""
    deadline = mono() + timeout
    while mono() < deadline:
        states, _ = outbox(path, seq)
        if sum(states.values()) >= devices and not any(states.get(s) for s in PENDING):
            return mono()
        await asyncio.sleep(0.02)
    return None


async def measure_push(
    ctx: Context,
    measured: Push,
    seq: int,
    cpu0: tuple[float, float],
    peer_cpu0: float,
    machine_cpu0: float,
) -> Push:
    """Wait until the peer has `seq` from every device, then until the outbox recorded
    every answer; the server's and the peer's CPU over that time."""
    args = ctx.args
    server, _ = ctx.live
    peer = ctx.peers[measured.provider]
    deadline = mono() + args.push_timeout
    while True:
        tally = await peer.ask(
            {"op": "wait", "seq": seq, "count": measured.devices, "timeout": 1.0}, 30
        )
        if tally["devices"] >= measured.devices or mono() > deadline:
            break
        states, _ = outbox(ctx.database_path, seq)
        if sum(states.values()) >= measured.devices and not any(states.get(s) for s in PENDING):
            break  # every delivery was answered, and some not by the peer accepting it
    measured.server_cpu_last = cpu_seconds(server.process.pid) - cpu0[0]
    measured.received, measured.requests = tally["devices"], tally["requests"]
    measured.first, measured.last = tally["first"], tally["last"]
    measured.refused = tally["refused"]
    measured.recorded = await wait_recorded(
        ctx.database_path, seq, measured.devices, args.push_timeout
    )
    measured.server_cpu, measured.main_cpu = (
        now - then for now, then in zip(server_cpu(server.process.pid), cpu0, strict=True)
    )
    measured.peer_cpu = cpu_seconds(peer.pid) - peer_cpu0
    measured.machine_cpu = machine_cpu() - machine_cpu0
    measured.states, measured.retried = outbox(ctx.database_path, seq)
    say(
        f"{NAMES[measured.provider]} {measured.event}: {measured.received}/{measured.devices} "
        f"devices, first {measured.ms(measured.first):.0f} ms, last "
        f"{measured.ms(measured.last):.0f} ms, recorded {measured.ms(measured.recorded):.0f} ms;"
        f" CPU server {measured.server_cpu:.2f} s (main thread {measured.main_cpu:.2f} s), "
        f"peer {measured.peer_cpu:.2f} s, machine {measured.machine_cpu:.2f} s; "
        f"{measured.states}, retried {measured.retried}, refused {measured.refused}"
    )
    return measured


def server_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of the whole process and of its main thread (the event loop); the other
    threads are aiosqlite's, one per pooled database connection."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return cpu_seconds(pid), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """CPU seconds all processes of the machine have used (busy time in /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(values[:8]) - values[3] - values[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class Alerted:
    """One alert, triggered and resolved: the WebSocket rounds and the pushes."""

    trigger: Round | None = None
    resolve: Round | None = None
    pushes: list[Push] = field(default_factory=list)


async def one_event(
    ctx: Context, *, event: str, site_id: int, alert_id: int, provider: str | None, ws: bool
) -> tuple[int, Round | None, Push | None]:
    """Trigger (or resolve) over HTTP; measure the WebSocket clients and the pushes at once."""
    args = ctx.args
    server, http = ctx.live
    http.get("/api/v1/health")  # the keep-alive connection is open and warm
    await asyncio.sleep(args.pause)
    profiling = bool(args.profile and provider and event == "trigger")
    profiling = profiling and provider not in ctx.profiled
    if profiling:
        server.process.send_signal(signal.SIGUSR1)
        await asyncio.sleep(0.2)
    cpu0 = server_cpu(server.process.pid)
    peer_cpu0 = cpu_seconds(ctx.peers[provider].pid) if provider else 0.0
    machine_cpu0 = machine_cpu()
    tap = WireTap.open(server.ws_port) if ws and args.tap else None
    t0 = mono()
    if event == "trigger":
        body = {"kind": "pdv_lockdown", "mode": "actual", "site_ids": [site_id]}
        answer = http.request("POST", "/api/v1/alerts", body)
        if not answer.get("created"):
            raise RuntimeError(f"the trigger did not create an alert: {answer}")
        alert_id, seq = int(answer["alert"]["id"]), int(answer["event"]["seq"])
    else:
        seq = int(http.request("POST", f"/api/v1/alerts/{alert_id}/resolve")["seq"])
    responded = mono()
    jobs: list[Any] = []
    if ws:
        assert ctx.workers is not None
        jobs.append(collect(ctx.workers, seq, t0, args.round_timeout))
    if provider:
        measured = Push(provider, event, args.devices, t0, responded)
        jobs.append(measure_push(ctx, measured, seq, cpu0, peer_cpu0, machine_cpu0))
    results = await asyncio.gather(*jobs)
    if profiling:
        assert provider is not None
        server.process.send_signal(signal.SIGUSR1)
        ctx.profiled.add(provider)
        ctx.profiles.append((provider, ctx.workdir / f"profile-{len(ctx.profiled)}.prof"))
    received = results[0] if ws else None
    if received is not None:
        received.response = responded
        drain_tap(tap, received, seq)
        say(
            f"WebSocket {event}: {len(received.wire)} clients, last "
            f"{received.last() * 1000:.1f} ms, HTTP {(responded - t0) * 1000:.1f} ms"
            + (f", MISSING {received.missing}" if received.missing else "")
        )
    return alert_id, received, results[-1] if provider else None


async def one_alert(ctx: Context, *, site_id: int, provider: str | None, ws: bool) -> Alerted:
    alerted = Alerted()
    alert_id, alerted.trigger, pushed = await one_event(
        ctx, event="trigger", site_id=site_id, alert_id=0, provider=provider, ws=ws
    )
    alerted.pushes += [pushed] if pushed else []
    _, alerted.resolve, pushed = await one_event(
        ctx, event="resolve", site_id=site_id, alert_id=alert_id, provider=provider, ws=ws
    )
    alerted.pushes += [pushed] if pushed else []
    return alerted


async def set_registrations(
    url: str, kind: str, rows: list[dict[str, Any]], *, present: bool
) -> None:
    """Delete the push registrations of one type, or insert them (again)."""
    database = Database(url)
    try:
        async with database.engine.begin() as conn:
            await conn.execute(delete(PushRegistration).where(PushRegistration.type == kind))
            if present:
                for start in range(0, len(rows), CHUNK):
                    await conn.execute(insert(PushRegistration), rows[start : start + CHUNK])
        # Write the driver's rows into the database file now, so that SQLite's WAL checkpoint
        # does not fall on the next trigger's commit (it would be counted as the server's).
        async with database.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await database.close()


# -- the phases ----------------------------------------------------------------------------


@dataclass
class Results:
    without: list[Round] = field(default_factory=list)  # WebSocket triggers, no registrations
    with_push: list[Round] = field(default_factory=list)  # … with the web registrations
    pushes: list[Push] = field(default_factory=list)


async def phase_fanout(ctx: Context, results: Results) -> None:
    """Alternating rounds on the fan-out site: without and with the web registrations
    (ABBA order); with them, every alert is also pushed to the Web Push peer."""
    args = ctx.args
    rows = ctx.push_seed.web_registrations
    ws = ctx.workers is not None
    if args.warmup and ws:
        await set_registrations(ctx.database_url, "webpush", rows, present=False)
        for _ in range(args.warmup):
            await one_alert(ctx, site_id=ctx.seeded.site_id, provider=None, ws=True)
    for index in range(args.rounds):
        order = (False, True) if index % 2 == 0 else (True, False)
        for present in order if ws else (True,):
            await set_registrations(ctx.database_url, "webpush", rows, present=present)
            say(f"round {index + 1}: {'with' if present else 'without'} push registrations")
            alerted = await one_alert(
                ctx,
                site_id=ctx.seeded.site_id,
                provider="webpush" if present else None,
                ws=ws,
            )
            if alerted.trigger is not None:
                (results.with_push if present else results.without).append(alerted.trigger)
            results.pushes += alerted.pushes
    await set_registrations(ctx.database_url, "webpush", rows, present=False)


async def phase_apns(ctx: Context, results: Results) -> None:
    """Alerts on the iOS site, every one pushed to the APNs stand-in."""
    rows = ctx.push_seed.ios_registrations
    await set_registrations(ctx.database_url, "apns", rows, present=True)
    for index in range(ctx.args.rounds):
        say(f"APNs round {index + 1}")
        alerted = await one_alert(ctx, site_id=ctx.push_seed.ios_site_id, provider="apns", ws=False)
        results.pushes += alerted.pushes
    await set_registrations(ctx.database_url, "apns", rows, present=False)


# -- report --------------------------------------------------------------------------------


def push_table(pushes: list[Push], settings: str) -> str:
    head = (
        f"{'':20} {'got':>6} {'first ms':>8} {'last ms':>8} {'recorded':>8} {'CPU s':>6} "
        f"{'µs/notif':>8} {'loop µs':>7} {'peer µs':>7} {'others s':>8} {'retried':>7}"
    )
    lines = [f"push: trigger/resolve → every device's push at the peer ({settings})", head]
    lines.append("-" * len(head))
    counters: dict[tuple[str, str], int] = {}
    for p in pushes:
        number = counters[(p.provider, p.event)] = counters.get((p.provider, p.event), 0) + 1
        label = f"{NAMES[p.provider]} {p.event} {number}"
        devices = max(1, p.received) / 1e6
        lines.append(
            f"{label:20} {p.received:>6} {p.ms(p.first):>8.0f} {p.ms(p.last):>8.0f} "
            f"{p.ms(p.recorded):>8.0f} {p.server_cpu:>6.2f} {p.server_cpu / devices:>8.0f} "
            f"{p.main_cpu / devices:>7.0f} {p.peer_cpu / devices:>7.0f} "
            f"{p.machine_cpu - p.server_cpu - p.peer_cpu:>8.2f} {p.retried:>7}"
        )
    lines += [
        "",
        "got: devices the peer accepted the event's push from; first/last: ms from the HTTP",
        "request to the peer accepting the first/last of them; recorded: ms until every answer",
        "was committed in push_deliveries; CPU s: the server process (all threads) from the",
        "request to recorded; µs/notif: that per device; loop µs: of which the main thread (the",
        "event loop; the rest is aiosqlite's threads); peer µs: the peer's CPU per notification;",
        "others s: CPU of everything else on the machine meanwhile (the driver, other work).",
        "",
    ]
    for provider, target in TARGETS.items():
        mine = [p for p in pushes if p.provider == provider]
        lasts = [p.ms(p.last) / 1000 for p in mine if p.event == "trigger"]
        if not lasts:
            continue
        devices = mine[0].devices
        scaled = target * devices / TARGET_DEVICES
        complete = all(p.received >= p.devices for p in mine)
        met = sum(1 for last in lasts if last <= scaled)
        verdict = "met" if met == len(lasts) and complete else "NOT met"
        goal = f"≤ {target:.0f} s for {TARGET_DEVICES:,}"
        if devices != TARGET_DEVICES:
            goal += f", scaled to {devices:,}: ≤ {scaled:.2f} s"
        lines.append(
            f"{NAMES[provider]} trigger → last delivery: "
            + ", ".join(f"{last:.2f} s" for last in lasts)
            + f"; target {goal}: {verdict} ({met} of {len(lasts)} rounds"
            + ("" if complete else "; some devices got nothing")
            + ")"
        )
    return "\n".join(lines)


def fanout_table(results: Results, clients: int, devices: int) -> str:
    lines = [
        f"WebSocket fan-out: trigger → client, {clients} clients (stamps before parsing)",
        *latency_head(34, f"{'HTTP ms':>8}"),
    ]
    conditions = (
        ("without push registrations", results.without),
        (f"with {devices:,} push registrations", results.with_push),
    )
    for label, rounds in conditions:
        http = [(r.response - r.t0) * 1000 for r in rounds if r.response is not None]
        median = statistics.median(http) if http else float("nan")
        lines.append(
            latency_row(
                label, 34, clients, rounds, stamps="wire", from_first=False, extra=f"{median:>8.1f}"
            )
        )
    if all(r.tap for r in results.without + results.with_push):
        lines.append("on the wire (kernel timestamps of the server's writes on lo):")
        for label, rounds in conditions:
            lines.append(
                latency_row(f"  {label}", 34, clients, rounds, stamps="tap", from_first=False)
            )
    lines.append("")
    lines.append(
        "last client per round, without: "
        + ", ".join(f"{r.last() * 1000:.0f}" for r in results.without)
        + " ms; with: "
        + ", ".join(f"{r.last() * 1000:.0f}" for r in results.with_push)
        + " ms"
    )
    if all(r.tap for r in results.without + results.with_push):
        for label, rounds in (("without", results.without), ("with", results.with_push)):
            lines.append(
                f"first / last frame sent per round, {label}: "
                + ", ".join(
                    f"{(min(r.tap) - r.t0) * 1000:.0f}/{r.last('tap') * 1000:.0f}" for r in rounds
                )
                + " ms"
            )
    without = latency_stats(results.without, stamps="wire", from_first=False)["last"]
    with_push = latency_stats(results.with_push, stamps="wire", from_first=False)["last"]
    missing = sum(r.missing for r in results.without + results.with_push)
    lines.append(
        f"last client, with / without: {with_push / without:.2f}× (median of the rounds); "
        f"clients without the frame: {missing}"
    )
    if all(r.tap for r in results.without + results.with_push):
        wire = [
            latency_stats(rounds, stamps="tap", from_first=False)["last"]
            for rounds in (results.without, results.with_push)
        ]
        lines.append(
            f"last frame sent, with / without: {wire[1] / wire[0]:.2f}× (median of the rounds)"
        )
    return "\n".join(lines)


def profile_summary(profiles: list[tuple[str, Path]], top: int) -> str:
    parts = []
    for provider, path in profiles:
        if not path.exists():
            parts.append(f"{NAMES[provider]}: no profile written ({path})")
            continue
        out = io.StringIO()
        stats = pstats.Stats(str(path), stream=out)
        stats.strip_dirs().sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        parts.append(
            f"cProfile of the server's main thread during the first {NAMES[provider]} trigger "
            f"({path}):\n" + out.getvalue()
        )
    return "\n".join(parts)


# -- main ----------------------------------------------------------------------------------


def server_env(ctx: Context, vapid_file: Path) -> dict[str, str]:
    args = ctx.args
    apns = ctx.peers["apns"].started["settings"]
    env = {
        "PDV_VAPID_PRIVATE_KEY": str(vapid_file),
        "PDV_VAPID_SUBJECT": "mailto:bench@example.se",
        "PDV_PUSH_ALLOWED_ORIGINS": json.dumps([ctx.peers["webpush"].started["origin"]]),
        # no resends of unreceipted pushes while the run lasts (they would overlap rounds)
        "PDV_PUSH_RESEND_AFTER_SECONDS": "3600",
        **{f"PDV_{name.upper()}": str(value) for name, value in apns.items()},
    }
    if args.push_concurrency:
        env["PDV_PUSH_CONCURRENCY"] = str(args.push_concurrency)
    if args.push_batch_size:
        env["PDV_PUSH_BATCH_SIZE"] = str(args.push_batch_size)
    if args.push_encrypt_threads is not None:
        env["PDV_PUSH_ENCRYPT_THREADS"] = str(args.push_encrypt_threads)
    if args.profile:
        env["PDV_BENCH_PROFILE_DIR"] = str(ctx.workdir)
    return env


def settings_text(args: argparse.Namespace) -> str:
    from server.settings import Settings

    fields = Settings.model_fields
    concurrency = args.push_concurrency or fields["push_concurrency"].default
    batch = args.push_batch_size or fields["push_batch_size"].default
    threads = args.push_encrypt_threads
    threads = fields["push_encrypt_threads"].default if threads is None else threads
    return (
        f"push_concurrency {concurrency}, push_batch_size {batch}, push_encrypt_threads {threads}"
    )


async def prepare(args: argparse.Namespace, workdir: Path, peers: dict[str, Peer]) -> Context:
    """Peers' subscriptions, the database, the server and the WebSocket clients."""
    database_path = workdir / "bench.db"
    database_url = f"sqlite+aiosqlite:///{database_path}"
    started = mono()
    subscriptions_path = workdir / "subscriptions.jsonl"
    await peers["webpush"].ask(
        {"op": "subscribe", "count": args.devices, "path": str(subscriptions_path)}, 300
    )
    subscriptions = [json.loads(line) for line in subscriptions_path.read_text().splitlines()]
    seeded = await seed(database_url, devices=args.clients, tokens_path=workdir / "tokens.txt")
    push_seed = await seed_push(database_url, seeded, subscriptions=subscriptions, ios=args.devices)
    say(f"{args.devices} subscriptions and the database seeded in {mono() - started:.1f} s")
    ctx = Context(args, workdir, database_url, database_path, seeded, push_seed, peers)
    vapid_file = workdir / "vapid.pem"
    vapid_file.write_text(generate_vapid_key())
    ctx.server = await Server.start(
        database_url=database_url,
        ws_port=0,
        log=workdir / "server.log",
        extra_env=server_env(ctx, vapid_file),
    )
    ctx.http = Http(ctx.server.http_port, seeded.principal_token)
    ctx.http.get("/api/v1/alerts")  # warm the keep-alive connection and the auth path
    say(f"pdv-alert serving on :{ctx.server.http_port} (pid {ctx.server.process.pid})")
    if args.clients:
        ctx.workers = await Workers.start(
            tokens=seeded.tokens_path,
            clients=args.clients,
            procs=args.procs,
            concurrency=100,
            logs=workdir,
            name="pdv",
        )
        await connect_clients(
            ctx.workers, ctx.server.ws_url, reconnect=False, timeout=args.connect_timeout
        )
    return ctx


async def shut_down(ctx: Context | None, peers: dict[str, Peer]) -> None:
    if ctx is not None:
        if ctx.workers is not None:
            await ctx.workers.stop()
        if ctx.http is not None:
            ctx.http.close()
        if ctx.server is not None:
            await ctx.server.stop()
    for peer in peers.values():
        await peer.stop()


async def run(args: argparse.Namespace) -> int:
    raise_file_limit()
    Server.wrapper = str(BENCH / "profile_serve.py") if args.profile else None
    workdir = Path(tempfile.mkdtemp(prefix="pdv-bench-push-"))
    peers: dict[str, Peer] = {}
    ctx: Context | None = None
    started = mono()
    try:
        for kind in ("webpush", "apns"):
            peers[kind] = await Peer.start(kind, workdir)
        ctx = await prepare(args, workdir, peers)
        results = Results()
        await phase_fanout(ctx, results)
        await phase_apns(ctx, results)
        print(
            f"pdv-alert push benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
            f"\n{machine()}, nproc {os.cpu_count()}\n{args.devices} web + {args.devices} ios "
            f"devices with push registrations, {args.clients} WebSocket clients in "
            f"{args.procs} processes, {args.rounds} rounds; SQLite, one node, loopback"
        )
        print()
        print(push_table(results.pushes, settings_text(args)))
        if args.clients:
            print()
            print(fanout_table(results, args.clients, args.devices))
        if ctx.profiles:
            print()
            print(profile_summary(ctx.profiles, args.profile_top))
        print(f"\n(total run {mono() - started:.0f} s)")
        return 0
    except Exception as exc:
        args.keep = True
        say(f"FAILED: {exc!r}")
        say_log_tails(workdir)
        return 1
    finally:
        await shut_down(ctx, peers)
        if args.keep:
            say(f"kept {workdir} (database, logs, profiles)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="pdv-alert push benchmark")
    parser.add_argument("--devices", type=int, default=10_000, help="web and ios devices each")
    parser.add_argument("--clients", type=int, default=2000, help="WebSocket clients (0: none)")
    parser.add_argument("--procs", type=int, default=2, help="WebSocket client processes")
    parser.add_argument("--rounds", type=int, default=3, help="alerts per condition")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured WebSocket alerts")
    parser.add_argument("--push-concurrency", type=int, help="PDV_PUSH_CONCURRENCY")
    parser.add_argument("--push-batch-size", type=int, help="PDV_PUSH_BATCH_SIZE")
    parser.add_argument("--push-encrypt-threads", type=int, help="PDV_PUSH_ENCRYPT_THREADS")
    parser.add_argument("--pause", type=float, default=0.5, help="idle seconds between steps")
    parser.add_argument("--push-timeout", type=float, default=120.0)
    parser.add_argument("--round-timeout", type=float, default=30.0)
    parser.add_argument("--connect-timeout", type=float, default=120.0)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the server under bench/profile_serve.py and cProfile the first trigger "
        "pushed by each provider (slows those rounds down)",
    )
    parser.add_argument("--profile-top", type=int, default=25, help="functions listed")
    parser.add_argument(
        "--no-tap",
        dest="tap",
        action="store_false",
        help="don't time the server's WebSocket writes on lo (AF_PACKET, needs CAP_NET_RAW)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    args = parser.parse_args()
    if args.devices < 1 or args.rounds < 1 or args.clients < 0:
        parser.error("--devices and --rounds must be at least 1, --clients at least 0")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
