"""The dashboard under a roll-call storm: 2,000 devices on one site, 1,000 of them answering
within 5 s, while a real Chromium shows the roll call (issue 10's performance targets).

    bash bench/run.sh dashboard            # or: .venv/bin/python bench/dashboard.py

What it does: seeds one organization with 2,000 devices and a principal's login session
(bench/seed.py), starts `pdv-alert serve`, connects the 2,000 devices as WebSocket clients
(bench/clients.py), opens /dashboard in headless Chromium with the principal's session cookie,
triggers an alert over HTTP, then has 1,000 devices answer "safe" in 20 waves of 50 spread
over 5 s (one bench/clients.py process per wave), and waits until the dashboard's Upprop
shows all 1,000 answers.

What it measures, in the page, with instrumentation Playwright adds before the page's own
scripts (nothing is shipped for the bench): a `message` listener on every WebSocket — added in
the constructor, so it runs before the page's handler — stamps each `rollcall` frame with
`performance.now()`; a MutationObserver on the roll call region stamps the first DOM change
after it, and a requestAnimationFrame callback the frame painted after that. Also the same
from the server's own `at` (wall clock, one machine) to the DOM change: that includes the
gateway's send and any time the frame waited for a busy main thread. The JS heap is read with
the DevTools protocol (`Performance.getMetrics` JSHeapUsedSize / JSHeapTotalSize) at the end;
the first load of /dashboard's bytes on the wire (Network.loadingFinished encodedDataLength) is
measured twice: logged out (the login form) and logged in (views, API answers, roll call).

Targets: frame → DOM p95 ≤ 200 ms, JS heap < 50 MB, first load ≤ 300 KB.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser, Page, async_playwright  # noqa: E402

from bench.fanout import (  # noqa: E402
    Http,
    Server,
    Workers,
    connect_clients,
    machine,
    mono,
    percentile,
    say,
)
from bench.seed import seed  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
TARGET_P95_MS = 200.0
TARGET_HEAP_MB = 50.0
TARGET_LOAD_KB = 300.0

# Installed before any of the page's scripts (Page.addScriptToEvaluateOnNewDocument, not an
# inline script: the page's CSP does not apply to it).
INSTRUMENT = """
(() => {
  const stamps = { pending: [], frames: [], dom: [], paint: [], server: [] };
  window.__bench = stamps;
  localStorage.setItem("pdv-alert.dashboard.logged-in", "1");
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (typeof event.data !== "string" || !event.data.startsWith('{"type":"rollcall"')) return;
        const at = Date.parse(JSON.parse(event.data).at);
        stamps.frames.push(performance.now());
        stamps.pending.push({ t: performance.now(), at });
      });
    }
  };
  const observer = new MutationObserver((mutations) => {
    if (!stamps.pending.length) return;
    if (!mutations.some((m) => m.target.closest && m.target.closest(".rollcall"))) return;
    const now = performance.now();
    const wall = Date.now();
    const done = stamps.pending.splice(0);
    for (const frame of done) {
      stamps.dom.push(now - frame.t);
      stamps.server.push(wall - frame.at);
    }
    requestAnimationFrame(() => {
      const painted = performance.now();
      for (const frame of done) stamps.paint.push(painted - frame.t);
    });
  });
  document.addEventListener("DOMContentLoaded", () =>
    observer.observe(document.body, { subtree: true, childList: true, characterData: true }),
  );
})();
"""


async def first_load_bytes(browser: Browser, base: str, cookie: str | None) -> tuple[float, int]:
    """KB on the wire and requests for a fresh profile's first load of /dashboard, until the
    network is idle (logged in: the views' API answers and the roll call too)."""
    context = await browser.new_context(base_url=base)
    if cookie:
        await context.add_cookies([{"name": "pdv_session", "value": cookie, "url": base}])
        await context.add_init_script('localStorage.setItem("pdv-alert.dashboard.logged-in", "1")')
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    sizes: list[float] = []
    cdp.on("Network.loadingFinished", lambda e: sizes.append(float(e["encodedDataLength"])))
    await page.goto("/dashboard", wait_until="networkidle")
    await page.wait_for_timeout(1500)
    await context.close()
    return sum(sizes) / 1024, len(sizes)


async def wait_for_tile(page: Page, name: str, value: int, seconds: float) -> bool:
    try:
        await page.wait_for_function(
            f"""() => {{
              const n = document.querySelector('.rollcall .tile-{name} .tile-number');
              return n && Number(n.textContent) >= {value};
            }}""",
            timeout=seconds * 1000,
        )
        return True
    except Exception:
        return False


def stats(values: list[float]) -> str:
    if not values:
        return "–"
    return (
        f"p50 {percentile(values, 0.5):.1f} · p95 {percentile(values, 0.95):.1f} · "
        f"max {max(values):.1f}"
    )


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="pdv-dash-bench-"))
    db = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    tokens = work / "tokens.txt"
    seeded = await seed(db, devices=args.devices, tokens_path=tokens)
    lines = tokens.read_text().splitlines()
    answering, silent = work / "answering.txt", work / "silent.txt"
    answering.write_text("".join(f"{t}\n" for t in lines[: args.answers]))
    silent.write_text("".join(f"{t}\n" for t in lines[args.answers :]))
    say(f"seeded {args.devices} devices in {work}")

    server = await Server.start(database_url=db, ws_port=0, log=work / "serve.log")
    base = f"http://127.0.0.1:{server.http_port}"
    waves: list[Workers] = []
    quiet: Workers | None = None
    ok = False
    try:
        per_wave = args.answers // args.waves
        for index in range(args.waves):
            wave_tokens = work / f"wave-{index}.txt"
            wave_tokens.write_text(
                "".join(f"{t}\n" for t in lines[index * per_wave : (index + 1) * per_wave])
            )
            waves.append(
                await Workers.start(
                    tokens=wave_tokens,
                    clients=per_wave,
                    procs=1,
                    concurrency=50,
                    logs=work,
                    name=f"wave{index}",
                )
            )
        quiet = await Workers.start(
            tokens=silent,
            clients=args.devices - per_wave * args.waves,
            procs=1,
            concurrency=50,
            logs=work,
            name="quiet",
        )
        for group in [*waves, quiet]:
            await connect_clients(group, server.ws_url, reconnect=False, timeout=120)

        async with async_playwright() as driver:
            browser = await driver.chromium.launch(executable_path=CHROMIUM, headless=True)
            login_kb, login_requests = await first_load_bytes(browser, base, None)
            loaded_kb, loaded_requests = await first_load_bytes(
                browser, base, seeded.principal_token
            )
            context = await browser.new_context(
                base_url=base, viewport={"width": 1280, "height": 900}
            )
            await context.add_cookies(
                [{"name": "pdv_session", "value": seeded.principal_token, "url": base}]
            )
            await context.add_init_script(INSTRUMENT)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto("/dashboard", wait_until="networkidle")
            await page.get_by_role("button", name="Larma").wait_for()

            http = Http(server.http_port, seeded.principal_token)
            alert = http.request(
                "POST", "/api/v1/alerts", {"kind": "pdv_lockdown", "site_ids": [seeded.site_id]}
            )["alert"]
            await page.get_by_role("region", name="Upprop").wait_for(timeout=30_000)
            await page.evaluate(
                "() => { for (const k of ['frames', 'dom', 'paint', 'server'])"
                " window.__bench[k].length = 0; }"
            )
            t0 = mono()
            sent = 0
            for index, group in enumerate(waves):
                await asyncio.sleep(max(0.0, t0 + index * args.seconds / args.waves - mono()))
                replies = await group.all({"op": "ack", "alert_id": alert["id"]}, 60)
                sent += sum(r["sent"] for r in replies)
            sending_s = mono() - t0
            ok = await wait_for_tile(page, "safe", sent, seconds=120)
            shown_s = mono() - t0
            await page.wait_for_timeout(2500)  # the last frames and the names' re-read
            bench = await page.evaluate("() => window.__bench")
            cdp = await context.new_cdp_session(page)
            await cdp.send("Performance.enable")
            await cdp.send("HeapProfiler.collectGarbage")
            metrics = {
                m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]
            }
            memory = await page.evaluate(
                "() => performance.memory ? performance.memory.usedJSHeapSize : null"
            )
            safe = await page.locator(".rollcall .tile-safe .tile-number").inner_text()
            http.request("POST", f"/api/v1/alerts/{alert['id']}/resolve")
            http.close()
            await browser.close()

        heap_mb = metrics.get("JSHeapUsedSize", 0) / 1024 / 1024
        heap_total_mb = metrics.get("JSHeapTotalSize", 0) / 1024 / 1024
        p95 = percentile(bench["dom"], 0.95) if bench["dom"] else float("inf")
        load = os.getloadavg()
        rows = [
            ("machine", machine()),
            ("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")),
            (
                "load average (1/5/15 min, at the end)",
                f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
            ),
            (
                "devices / answers sent",
                f"{args.devices} / {sent} in {sending_s:.1f} s ({args.waves} waves)",
            ),
            (
                "all answers on the dashboard after",
                f"{shown_s:.1f} s ({'yes' if ok else 'NO'}; Säkerhet tile {safe})",
            ),
            ("rollcall frames received", str(len(bench["frames"]))),
            ("frame → DOM updated (ms)", stats(bench["dom"])),
            ("frame → next paint (ms)", stats(bench["paint"])),
            ("server's `at` → DOM updated (ms)", stats(bench["server"])),
            (
                "JS heap used / total (MB, after GC)",
                f"{heap_mb:.1f} / {heap_total_mb:.1f}"
                + (f" (performance.memory {memory / 1024 / 1024:.1f})" if memory else ""),
            ),
            ("first load, logged out (KB, requests)", f"{login_kb:.1f} KB, {login_requests}"),
            ("first load, logged in (KB, requests)", f"{loaded_kb:.1f} KB, {loaded_requests}"),
            ("page errors", str(len(errors)) + (f" {errors[:2]}" if errors else "")),
        ]
        print()
        print("| measure | result |")
        print("|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
        print()
        verdicts = [
            ("frame → DOM p95 ≤ 200 ms", p95 <= TARGET_P95_MS),
            ("JS heap < 50 MB", heap_mb < TARGET_HEAP_MB),
            ("first load ≤ 300 KB", max(login_kb, loaded_kb) <= TARGET_LOAD_KB),
        ]
        for name, met in verdicts:
            print(f"{'met' if met else 'NOT MET'}: {name}")
        ok = ok and all(met for _, met in verdicts)
    finally:
        for group in [*waves, *([quiet] if quiet else [])]:
            await group.stop()
        await server.stop()
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"kept {work}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description="pdv-alert dashboard benchmark")
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--waves", type=int, default=20, help="answer waves, evenly spread")
    parser.add_argument("--seconds", type=float, default=5.0, help="over this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    started = time.monotonic()
    code = asyncio.run(run(args))
    say(f"done in {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
