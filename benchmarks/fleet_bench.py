"""The fleet at scale: simulated agents at 1 Hz into one hub, on one Redis, on this machine.

Usage::

    python benchmarks/fleet_bench.py                  # full: 200 agents, 60 s
    python benchmarks/fleet_bench.py --write benchmarks/FLEET_RESULTS.md
    python benchmarks/fleet_bench.py --smoke          # seconds: 5 agents, proves it runs

A private ``redis-server`` is started on a free loopback port (nothing is saved). The hub
is a real ``rebellion serve --fleet`` process. The agents are simulated in one separate
process: each is a real :class:`rebellion.fleet.Publisher` (its own thread and
connection) that publishes, once a second and spread across the second, a host sample
of the real monitor's shape (taken from this machine's collector once) and the agent's
primitive listing, exactly what ``rebellion serve --publish`` sends.

Measured over the window: the hub's and Redis's CPU (user + system over wall time, % of
one core), Redis memory (``used_memory``) and commands/s, and the latency from sample
to dashboard: the hub's WebSocket ``fleet`` messages are received here, and latency is
receive time minus the sample's own timestamp (taken when the agent published it).
The per-host memory bound is projected from the measured size of one entry of each
stream times its ``MAXLEN``.
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
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not happen within {timeout:.0f} s")


# ---- the simulated agents (run in their own process) --------------------------------


def simulate(url: str, agents: int, seconds: float) -> int:
    """Publish like ``agents`` agents at 1 Hz for ``seconds``; print the publishers' totals."""
    from rebellion.fleet import Publisher
    from rebellion.monitor.host import HostCollector

    real = HostCollector().sample()
    values = dict(real.values)
    processes = [p.to_dict() for p in real.processes[:5]]
    listing = _agent_listing()
    publishers = [
        Publisher(url, host_id=f"sim-{n:04d}", process=f"rebellion-serve:{n}")
        for n in range(agents)
    ]
    for publisher in publishers:
        publisher.start()
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        for n, publisher in enumerate(publishers):
            # Spread the agents across the second, as independent hosts would be.
            due = start + tick + n / agents
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.time()
            sample = {
                "at": now,
                "interval": 1.0,
                "values": {k: v * (1 + 0.01 * ((tick + n) % 7)) for k, v in values.items()},
                "health": "ok",
                "mode": "NORMAL",
                "incidents_open": 0,
                "processes": processes,
            }
            publisher.publish("samples", "sample", sample)
            publisher.publish(
                "state",
                "primitives",
                {"at": now, "interval": 1.0, "pid": n, "role": "agent", "primitives": listing},
            )
        tick += 1
    for publisher in publishers:
        publisher.close()
    totals = {
        "sent": sum(p.stats()["sent"] for p in publishers),
        "dropped": sum(p.stats()["dropped"] for p in publishers),
    }
    print(json.dumps(totals), flush=True)
    return 0


def _agent_listing() -> list[dict[str, Any]]:
    """Return what a real agent's registry lists (its monitor's own primitives)."""
    from rebellion import registry
    from rebellion._json import jsonable
    from rebellion.monitor.server import ServeOptions, build

    build(ServeOptions(db=":memory:"))  # creates the monitor's breakers, modes and checks
    listing: list[dict[str, Any]] = jsonable(registry.snapshot())
    return listing


# ---- the measurement ------------------------------------------------------------------


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


async def receive(url: str, seconds: float, latencies: list[float], hosts: set[str]) -> None:
    async with websockets.connect(url, max_size=2**24, open_timeout=60, compression=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "types": ["fleet"]}))
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                text = await asyncio.wait_for(ws.recv(), timeout=left)
            except TimeoutError:
                break
            got = time.time()
            message = json.loads(text)
            if message.get("type") == "heartbeat":
                await ws.send(json.dumps({"type": "pong", "seq": message.get("seq")}))
            for sample in message.get("samples", ()):
                if isinstance(sample.get("at"), float):
                    latencies.append(got - sample["at"])
                    hosts.add(sample["host"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(agents: int, seconds: float, warmup: float) -> dict[str, Any]:
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/ensure_system.py)")
    workdir = Path(tempfile.mkdtemp(prefix="rebellion-fleet-bench-"))
    redis_port, hub_port = free_port(), free_port()
    url = f"redis://127.0.0.1:{redis_port}/0"
    started: list[subprocess.Popen[bytes]] = []

    def spawn(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(command, start_new_session=True, cwd=workdir, **options)
        started.append(proc)
        return proc

    try:
        server = spawn(
            [
                binary,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=redis_port)
        wait_for(client.ping, "redis-server")
        hub = spawn(
            [
                sys.executable,
                "-m",
                "rebellion.cli",
                "serve",
                "--port",
                str(hub_port),
                "--db",
                ":memory:",
                "--fleet",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{hub_port}"
        wait_for(lambda: httpx.get(base + "/readyz", timeout=2).status_code == 200, "the hub")
        total = warmup + seconds + 5
        sim = spawn(
            [
                sys.executable,
                __file__,
                "--simulate",
                str(agents),
                "--url",
                url,
                "--seconds",
                str(total),
            ],
            stdout=subprocess.PIPE,
        )
        wait_for(
            lambda: len(httpx.get(base + "/api/v1/fleet", timeout=5).json()["hosts"]) >= agents,
            f"{agents} hosts in the hub",
            timeout=60 + warmup,
        )
        time.sleep(warmup)
        hub_proc, redis_proc = psutil.Process(hub.pid), psutil.Process(server.pid)
        sim_proc = psutil.Process(sim.pid)
        hub0, redis0, t0 = cpu_seconds(hub_proc), cpu_seconds(redis_proc), time.monotonic()
        sim0 = cpu_seconds(sim_proc)
        ops0 = client.info("stats")["total_commands_processed"]
        latencies: list[float] = []
        hosts: set[str] = set()
        ws_url = base.replace("http://", "ws://") + "/ws"
        reader = threading.Thread(
            target=lambda: asyncio.run(receive(ws_url, seconds, latencies, hosts))
        )
        reader.start()
        reader.join()
        wall = time.monotonic() - t0
        hub_cpu = 100 * (cpu_seconds(hub_proc) - hub0) / wall
        redis_cpu = 100 * (cpu_seconds(redis_proc) - redis0) / wall
        sim_cpu = 100 * (cpu_seconds(sim_proc) - sim0) / wall
        load = os.getloadavg()[0]
        ops = (client.info("stats")["total_commands_processed"] - ops0) / wall
        memory = client.info("memory")
        fleet = httpx.get(base + "/api/v1/fleet", timeout=10).json()
        entry = {}
        for stream in ("samples", "state"):
            key = f"rebellion:fleet:{{sim-0000}}:{stream}"
            entry[stream] = (client.memory_usage(key, samples=0) or 0) / max(1, client.xlen(key))
        hub_rss = hub_proc.memory_info().rss
        out, _ = sim.communicate(timeout=total + 60)
        totals = json.loads(out.decode().strip().splitlines()[-1])
        client.close()
    finally:
        for proc in reversed(started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    from rebellion.fleet import SAMPLES_MAXLEN, STATE_MAXLEN

    return {
        "agents": agents,
        "seconds": wall,
        "samples": len(latencies),
        "hosts_seen": len(hosts),
        "hosts_listed": len(fleet["hosts"]),
        "hosts_stale": sum(1 for h in fleet["hosts"] if h["stale"]),
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies, default=float("nan")),
        "hub_cpu_percent": hub_cpu,
        "hub_rss_mb": hub_rss / 2**20,
        "redis_cpu_percent": redis_cpu,
        "redis_ops_per_s": ops,
        "redis_used_mb": memory["used_memory"] / 2**20,
        "sample_entry_bytes": entry["samples"],
        "state_entry_bytes": entry["state"],
        "host_bound_mb": (entry["samples"] * SAMPLES_MAXLEN + entry["state"] * STATE_MAXLEN)
        / 2**20,
        "agents_cpu_percent": sim_cpu,
        "load_average": load,
        "sent": totals["sent"],
        "dropped": totals["dropped"],
    }


def markdown(result: dict[str, Any], argv: list[str]) -> str:
    r = result
    return "\n".join(
        [
            "# Fleet benchmark results",
            "",
            "Produced by `python benchmarks/fleet_bench.py "
            + " ".join(argv)
            + f"` on {psutil.cpu_count()} cores: {r['agents']} simulated agents at 1 Hz into "
            f"one hub (`rebellion serve --fleet`) on one Redis, {r['seconds']:.0f} s measured, "
            f"load average {r['load_average']:.1f} at the end (a shared machine). "
            "Latency is from the sample's timestamp at the agent to its arrival on the "
            "hub's WebSocket. The hub's CPU includes its own host monitor (~0.7 % of a core, "
            "see MONITOR_RESULTS.md). All simulated agents together (one process, one "
            f"publisher thread and connection each) used {r['agents_cpu_percent']:.1f} % of "
            f"one core, {r['agents_cpu_percent'] / r['agents']:.3f} % per agent.",
            "",
            "| agents | samples received | hosts seen / listed / stale | p50 ms | p99 ms "
            "| max ms | hub CPU % | hub RSS MB | Redis CPU % | Redis ops/s | Redis MB |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
            f"| {r['agents']} | {r['samples']} | {r['hosts_seen']} / {r['hosts_listed']} / "
            f"{r['hosts_stale']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} "
            f"| {r['hub_cpu_percent']:.1f} | {r['hub_rss_mb']:.0f} | "
            f"{r['redis_cpu_percent']:.1f} | {r['redis_ops_per_s']:.0f} "
            f"| {r['redis_used_mb']:.1f} |",
            "",
            "## Memory per host",
            "",
            "| stream | bytes per entry (measured) | MAXLEN | bound per host |",
            "|:--|--:|--:|--:|",
            f"| samples | {r['sample_entry_bytes']:.0f} | 300 "
            f"| {r['sample_entry_bytes'] * 300 / 2**20:.2f} MB |",
            f"| state | {r['state_entry_bytes']:.0f} | 100 "
            f"| {r['state_entry_bytes'] * 100 / 2**20:.2f} MB |",
            "",
            f"Samples and listings together: {r['host_bound_mb']:.2f} MB per host once the "
            "streams are full (events add at most 1000 small entries). Entries sent by the "
            f"agents: {r['sent']}, dropped: {r['dropped']}.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="seconds: 5 agents")
    parser.add_argument("--agents", type=int, default=200, help="simulated agents")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--write", metavar="PATH", help="write the results as Markdown")
    parser.add_argument("--simulate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.simulate is not None:
        return simulate(args.url, args.simulate, args.seconds)
    if args.smoke:
        args.agents, args.seconds, args.warmup = 5, 3.0, 1.0
    result = run(args.agents, args.seconds, args.warmup)
    print(json.dumps(result, indent=2), flush=True)
    if result["samples"] == 0 or result["hosts_listed"] < args.agents:
        print("ERROR: the hub did not see every agent", file=sys.stderr)
        return 1
    if args.write:
        Path(args.write).write_text(
            markdown(result, argv if argv is not None else sys.argv[1:]), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
