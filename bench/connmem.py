"""Python memory per idle WebSocket connection, by where it was allocated (bench/README.md
"Leaner connections"): the tests' live server (uvicorn and the gateway in this process, over
a fresh SQLite database with one device), N connections with hello opened from a client
subprocess, and tracemalloc snapshots before and after, grouped by source file.

    .venv/bin/python -m bench.connmem [--connections 2000]

tracemalloc counts Python allocations only; the fan-out benchmark's "KB RSS/conn" adds the
allocator's overhead (about 1 KB more per connection).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import tracemalloc
from pathlib import Path

from server.storage.database import Database
from tests import factories
from tests.server.realtime.conftest import realtime_settings, start_live_server

CLIENT = r"""
import asyncio, json, sys
from websockets.asyncio.client import connect
async def main(url, token, n):
    hello = {"type": "hello", "v": 1, "token": token, "epoch": None, "last_seq": 0,
             "client": {"name": "connmem", "version": "1"}}
    connections = []
    for _ in range(n):
        ws = await connect(url, ping_interval=None)
        await ws.send(json.dumps(hello))
        await ws.recv()
        connections.append(ws)
    print("ready", flush=True)
    sys.stdin.readline()
asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def measure(count: int, top: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with Database(f"sqlite+aiosqlite:///{Path(tmp) / 'pdv.db'}") as database:
            await database.migrate()
            world = await factories.organization(database, sites=("A",))
            await factories.device(world, "pc", site="A")
            settings = realtime_settings(heartbeat_seconds=3600.0)
            async with start_live_server(settings, database) as live:
                gc.collect()
                tracemalloc.start()
                before = tracemalloc.take_snapshot()
                client = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    CLIENT,
                    live.ws_url,
                    world.tokens["pc"],
                    str(count),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
                assert client.stdout is not None and client.stdin is not None
                await client.stdout.readline()
                for _ in range(600):  # the hub counts them once welcomed
                    if live.realtime.hub.connection_count() >= count:
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # let the presence writer and token cache settle
                gc.collect()
                after = tracemalloc.take_snapshot()
                client.stdin.write(b"\n")
                await client.stdin.drain()
                await client.wait()
    stats = after.compare_to(before, "filename")
    total = sum(stat.size_diff for stat in stats)
    print(f"{count} idle connections: {total / count:.0f} bytes of Python objects each")
    for stat in stats[:top]:
        name = stat.traceback[0].filename.split("site-packages/")[-1]
        print(f"  {stat.size_diff / count:7.0f} B  {stat.count_diff / count:5.1f} objects  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Python memory per idle WebSocket connection")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--top", type=int, default=12, help="source files listed")
    args = parser.parse_args()
    asyncio.run(measure(args.connections, args.top))


if __name__ == "__main__":
    main()
