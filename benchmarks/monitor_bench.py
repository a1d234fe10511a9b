"""The monitor's own cost against Glances, and WebSocket fan-out latency, in one run.

Usage::

    python benchmarks/monitor_bench.py                 # full: ~4 min, 500 clients
    python benchmarks/monitor_bench.py --write benchmarks/MONITOR_RESULTS.md
    python benchmarks/monitor_bench.py --smoke         # seconds: every contender runs

Cost: each contender runs as its own process at a 1 s interval for ``--seconds``; its
CPU time (user + system, children included) over that wall time is "% of one core";
RSS is the peak of per-second readings. Contenders: ``rebellion serve`` with one
dashboard-like WebSocket client; Glances in ``--stdout`` mode; Glances' web server with
one client polling ``/api/4/all`` every second (what its web UI does). The run is
repeated with ~400 extra (sleeping) processes on the machine, because the process
scan dominates every monitor's cost.

Fan-out: ``rebellion serve`` at 1 Hz with ``--clients`` WebSocket clients (in this
process, one asyncio loop); latency is receive time minus the sample's own timestamp
(taken before analysis, so it includes the tick's work).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import websockets

BIN = Path(sys.executable).parent
WARMUP = 2.0  # seconds each contender runs before it is measured


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class Cost:
    name: str
    processes: int
    cpu_percent: float
    rss_mb: float
    seconds: float


def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def measure(
    name: str,
    command: list[str],
    ready: Callable[[], None],
    seconds: float,
    client: Callable[[float], None] | None = None,
    warmup: float | None = None,
) -> Cost:
    """Start ``command``, wait until ``ready``, then time it for ``seconds``."""
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        ready()
        time.sleep(WARMUP if warmup is None else warmup)  # imports, first scans, connect
        watched = psutil.Process(proc.pid)
        start_cpu, start = cpu_seconds(watched), time.monotonic()
        peak = 0
        deadline = start + seconds
        if client is not None:
            client(seconds)  # a client runs for the whole window, sampling RSS itself
            peak = rss(watched)
        while time.monotonic() < deadline:
            peak = max(peak, rss(watched))
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        peak = max(peak, rss(watched))
        used = cpu_seconds(watched) - start_cpu
        wall = time.monotonic() - start
        return Cost(name, len(psutil.pids()), 100.0 * used / wall, peak / 2**20, wall)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Window:
    """A client's reading window: ``seconds`` from connecting, and at least one sample.

    On a busy machine a server or a client process may start late; the window then
    waits (up to a minute more) for the first sample instead of ending empty.
    """

    def __init__(self, seconds: float, grace: float = 60.0) -> None:
        now = time.monotonic()
        self.end, self.hard_end, self.samples = now + seconds, now + seconds + grace, 0

    def got(self, sample: bool) -> None:
        self.samples += sample

    def left(self) -> float:
        now = time.monotonic()
        return (self.end if self.samples else self.hard_end) - now


def ws_client(url: str) -> Callable[[float], None]:
    def run(seconds: float) -> None:
        async def main() -> None:
            async with websockets.connect(url, max_size=2**22, open_timeout=60) as ws:
                window = Window(seconds)
                while (left := window.left()) > 0:
                    try:
                        message = json.loads(await asyncio.wait_for(ws.recv(), left))
                    except TimeoutError:
                        break
                    if message["type"] == "heartbeat":
                        await ws.send('{"type":"pong"}')
                    window.got(message["type"] == "sample")

        asyncio.run(main())

    return run


def poll_client(url: str) -> Callable[[float], None]:
    def run(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                client.get(url)
                time.sleep(1.0)

    return run


def rebellion_cost(seconds: float, workdir: Path) -> Cost:
    port = free_port()
    command = [str(BIN / "rebellion"), "serve", "--port", str(port), "--interval", "1"]
    command += ["--db", str(workdir / f"bench-{port}.db")]
    base = f"http://127.0.0.1:{port}"
    return measure(
        "rebellion serve + 1 WebSocket client",
        command,
        lambda: wait_http(base + "/readyz"),
        seconds,
        ws_client(f"ws://127.0.0.1:{port}/ws"),
    )


def glances_stdout_cost(seconds: float) -> Cost | None:
    glances = shutil.which("glances", path=str(BIN)) or shutil.which("glances")
    if glances is None:
        return None
    command = [glances, "--stdout", "cpu.total,mem.percent,load.min1", "-t", "1"]
    return measure("Glances --stdout", command, lambda: None, seconds)


def glances_web_cost(seconds: float) -> Cost | None:
    glances = shutil.which("glances", path=str(BIN)) or shutil.which("glances")
    if glances is None:
        return None
    port = free_port()
    command = [glances, "-w", "--disable-webui", "-B", "127.0.0.1", "-p", str(port), "-t", "1"]
    api = f"http://127.0.0.1:{port}/api/4/all"
    return measure(
        "Glances -w + 1 client polling /api/4/all",
        command,
        lambda: wait_http(api),
        seconds,
        poll_client(api),
    )


def crowd(count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` sleeping processes so the process table looks like a busy host."""
    return [subprocess.Popen(["sleep", "900"]) for _ in range(count)]


def _client_share(url: str, clients: int, seconds: float) -> list[float]:
    """Run ``clients`` WebSocket clients for ``seconds``; return each sample's lateness."""

    async def one() -> list[tuple[float, str | bytes]]:
        # Record arrival first and parse after the window: parsing inside the loop
        # would be measured as server latency.
        arrivals: list[tuple[float, str | bytes]] = []
        async with websockets.connect(url, max_size=2**22, open_timeout=60, compression=None) as ws:
            window = Window(seconds)
            while (left := window.left()) > 0:
                try:
                    text = await asyncio.wait_for(ws.recv(), left)
                except TimeoutError:
                    break
                arrivals.append((time.time(), text))
                if isinstance(text, str) and '"heartbeat"' in text[:40]:
                    await ws.send('{"type":"pong"}')
                window.got(isinstance(text, str) and '"sample"' in text[:40])
        return arrivals

    async def main() -> list[list[tuple[float, str | bytes]]]:
        return list(await asyncio.gather(*[one() for _ in range(clients)]))

    lateness: list[float] = []
    for arrivals in asyncio.run(main()):
        for now, text in arrivals:
            message = json.loads(text)
            if message["type"] == "sample":
                lateness.append(now - message["at"])
    return lateness


def fan_out(clients: int, seconds: float, workdir: Path, processes: int = 4) -> dict[str, float]:
    """Measure delivery latency of ``clients`` WebSocket clients spread over processes.

    One client-side Python loop cannot read 500 sockets as fast as the server writes
    them, so the clients run in ``processes`` separate processes.
    """
    import multiprocessing

    port = free_port()
    command = [str(BIN / "rebellion"), "serve", "--port", str(port), "--interval", "1"]
    command += ["--db", str(workdir / f"fanout-{port}.db")]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        server = psutil.Process(proc.pid)
        url = f"ws://127.0.0.1:{port}/ws"
        shares = [clients // processes + (i < clients % processes) for i in range(processes)]
        start_cpu, started = cpu_seconds(server), time.monotonic()
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            parts = pool.starmap(_client_share, [(url, n, seconds) for n in shares if n])
        used, wall = cpu_seconds(server) - start_cpu, time.monotonic() - started
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    lateness = sorted(x for part in parts for x in part)

    def pct(q: float) -> float:
        return 1000 * lateness[min(len(lateness) - 1, int(q * len(lateness)))] if lateness else 0

    return {
        "clients": clients,
        "client_processes": len(parts),
        "seconds": seconds,
        "samples_received": len(lateness),
        "per_client": len(lateness) / clients if clients else 0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": 1000 * lateness[-1] if lateness else 0,
        "server_cpu_percent": 100 * used / wall,
    }


def page_cost(seconds: float, workdir: Path) -> dict[str, float] | None:
    """Return the dashboard page's own CPU in headless Chromium while it is live.

    ``TaskDuration`` from the DevTools ``Performance.getMetrics`` call is the time the
    page's main thread spent running tasks (script, style, layout, paint); its growth
    over the window divided by the window is the page's share of one core.
    """
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    port = free_port()
    command = [str(BIN / "rebellion"), "serve", "--port", str(port), "--interval", "1"]
    command += ["--db", str(workdir / f"page-{port}.db")]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_function("window.rebellion.samples >= 3", timeout=60_000)
                session = page.context.new_cdp_session(page)
                session.send("Performance.enable")

                def metrics() -> dict[str, float]:
                    got = session.send("Performance.getMetrics")["metrics"]
                    return {m["name"]: m["value"] for m in got}

                first, started = metrics(), time.monotonic()
                samples0 = page.evaluate("window.rebellion.samples")
                page.wait_for_timeout(seconds * 1000)
                last, wall = metrics(), time.monotonic() - started
                samples = page.evaluate("window.rebellion.samples") - samples0
            finally:
                browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)

    def grew(name: str) -> float:
        return last.get(name, 0.0) - first.get(name, 0.0)

    return {
        "seconds": wall,
        "samples": samples,
        "task_percent": 100 * grew("TaskDuration") / wall,
        "script_percent": 100 * grew("ScriptDuration") / wall,
        "layout_percent": 100 * grew("LayoutDuration") / wall,
        "heap_mb": last.get("JSHeapUsedSize", 0.0) / 2**20,
    }


def table(costs: list[Cost]) -> list[str]:
    rows = [
        "| contender | processes on host | CPU % of one core | peak RSS MB |",
        "|:--|--:|--:|--:|",
    ]
    rows += [f"| {c.name} | {c.processes} | {c.cpu_percent:.2f} | {c.rss_mb:.0f} |" for c in costs]
    return rows


def main(argv: list[str] | None = None) -> int:
    global WARMUP
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes")
    parser.add_argument("--seconds", type=float, default=30.0, help="window per contender")
    parser.add_argument("--clients", type=int, default=500, help="fan-out clients")
    parser.add_argument("--crowd", type=int, default=350, help="extra processes, second pass")
    parser.add_argument("--write", metavar="PATH", help="write the results as Markdown")
    parser.add_argument("--no-fanout", action="store_true", help="skip the fan-out run")
    parser.add_argument("--page-seconds", type=float, default=30.0, help="page CPU window")
    parser.add_argument(
        "--warmup",
        type=float,
        default=WARMUP,
        help="seconds each contender runs before it is measured (70: past the monitor's "
        "incident warm-up, so incident analysis is on)",
    )
    args = parser.parse_args(argv)
    WARMUP = args.warmup
    if args.smoke:
        args.seconds, args.clients, args.crowd, WARMUP, args.page_seconds = 1.0, 10, 0, 0.5, 2.0
    workdir = Path(tempfile.mkdtemp(prefix="rebellion-monitor-bench-"))
    costs: list[Cost] = []
    passes = [0] if args.crowd == 0 else [0, args.crowd]
    try:
        for extra in passes:
            sleepers = crowd(extra)
            try:
                time.sleep(0.5 if extra else 0)
                for run in (
                    lambda: rebellion_cost(args.seconds, workdir),
                    lambda: glances_stdout_cost(args.seconds),
                    lambda: glances_web_cost(args.seconds),
                ):
                    cost = run()
                    if cost is not None:
                        costs.append(cost)
                        print(
                            f"{cost.name:45} {cost.processes:5d} procs  "
                            f"{cost.cpu_percent:6.2f}% CPU  {cost.rss_mb:6.1f} MB",
                            flush=True,
                        )
            finally:
                for sleeper in sleepers:
                    sleeper.kill()
                    sleeper.wait()
        fan = (
            None
            if args.no_fanout
            else fan_out(args.clients, args.seconds, workdir, processes=1 if args.smoke else 4)
        )
        print("fan-out:", json.dumps(fan), flush=True)
        page = page_cost(args.page_seconds, workdir)
        print("page:", json.dumps(page), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ours = [c for c in costs if c.name.startswith("rebellion")]
    if not ours or (fan is not None and fan["samples_received"] == 0):
        print("ERROR: rebellion did not run", file=sys.stderr)
        return 1
    if args.write:
        lines = [
            "# Monitor benchmark results",
            "",
            "Produced by `python benchmarks/monitor_bench.py "
            + " ".join(argv if argv is not None else sys.argv[1:])
            + f"` on {psutil.cpu_count()} cores; {args.seconds:g} s per contender at a 1 s "
            "interval. Targets: the whole service (every collector on) <= 1.0% of one core "
            "with ~90 processes and below Glances with 400+; RSS <= 75 MB; 500 clients at "
            "1 Hz with p99 delivery latency <= 50 ms.",
            "",
            "## Cost",
            "",
            *table(costs),
            "",
        ]
        if fan is not None:
            lines += [
                "## WebSocket fan-out",
                "",
                "| clients | samples received | per client | p50 ms | p99 ms | max ms "
                "| server CPU % |",
                "|--:|--:|--:|--:|--:|--:|--:|",
                f"| {fan['clients']:.0f} | {fan['samples_received']:.0f} "
                f"| {fan['per_client']:.1f} | {fan['p50_ms']:.1f} | {fan['p99_ms']:.1f} "
                f"| {fan['max_ms']:.1f} | {fan['server_cpu_percent']:.1f} |",
                "",
            ]
        if page is not None:
            lines += [
                "## The dashboard page in Chromium (live, 1 Hz)",
                "",
                "| seconds | samples drawn | main-thread tasks % of one core | script % "
                "| layout % | JS heap MB |",
                "|--:|--:|--:|--:|--:|--:|",
                f"| {page['seconds']:.0f} | {page['samples']:.0f} | {page['task_percent']:.2f} "
                f"| {page['script_percent']:.2f} | {page['layout_percent']:.2f} "
                f"| {page['heap_mb']:.1f} |",
                "",
            ]
        Path(args.write).write_text("\n".join(lines))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
