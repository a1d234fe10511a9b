"""IncidentTracker: anomalies become explained incidents that open, grow and resolve."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rebellion.errors import ConfigError
from rebellion.monitor.alerts import MonitorAlerts
from rebellion.monitor.analysis import HostAnalyser
from rebellion.monitor.hub import MESSAGE_TYPES
from rebellion.monitor.incident_store import IncidentStore
from rebellion.monitor.incidents import IncidentConfig, IncidentTracker
from rebellion.monitor.processes import HogWatch, ProcessScanner, ProcessTable, attribute
from rebellion.testing import ManualClock

CONFIG = IncidentConfig(window=5.0, warmup=30.0, quiet=5.0)
Values = Callable[[int], dict[str, float]]


def drive(
    tracker: IncidentTracker,
    values: Values,
    ticks: range,
    flagged: Callable[[int, str], bool] = lambda t, name: False,
) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    for t in ticks:
        sample = values(t)
        analysis: Mapping[str, Any] = {n: {"anomaly": flagged(t, n)} for n in sample}
        changes += tracker.observe(1_700_000_000.0 + t, sample, analysis)
    return changes


def noisy(seed: int = 0) -> Callable[[int], float]:
    rng = np.random.default_rng(seed)
    return lambda t: float(rng.normal())


def test_a_cpu_step_opens_one_incident_that_resolves_when_it_ends() -> None:
    tracker = IncidentTracker(interval=1.0, config=CONFIG)
    jitter = noisy()

    def values(t: int) -> dict[str, float]:
        cpu = 90.0 if 60 <= t < 90 else 10.0
        return {"cpu.total": cpu + jitter(t), "memory.used": 2e9 + 1e5 * jitter(t)}

    changes = drive(tracker, values, range(130), lambda t, n: n == "cpu.total" and t == 60)
    opened = changes[0]
    assert opened["status"] == "open"
    assert opened["triggers"] == ["cpu.total"]
    assert 1_700_000_060.0 <= opened["started"] <= 1_700_000_061.0
    assert opened["updated"] - opened["started"] <= 6.0  # confirmed within a window
    assert opened["metrics"][0]["name"] == "cpu.total"
    assert opened["metrics"][0]["score"] >= 0.7
    assert opened["summary"].startswith("CPU at 9")
    resolved = changes[-1]
    assert resolved["id"] == opened["id"]
    assert resolved["status"] == "resolved"
    assert 1_700_000_090.0 <= resolved["ended"] <= 1_700_000_110.0
    assert {c["id"] for c in changes} == {opened["id"]}
    assert tracker.list() == [resolved]
    assert tracker.get(opened["id"]) == resolved


def test_a_lone_spike_or_a_tiny_shift_opens_nothing() -> None:
    tracker = IncidentTracker(interval=1.0, config=CONFIG)
    jitter = noisy(1)

    def values(t: int) -> dict[str, float]:
        spike = 95.0 if t == 50 else 5.0
        drift = 5e6 if t >= 60 else 0.0  # 5 MB more memory: significant, not material
        return {"cpu.total": spike + jitter(t), "memory.used": 2e9 + drift + 1e3 * jitter(t)}

    assert drive(tracker, values, range(120), lambda t, n: t in (50, 60)) == []


def test_nothing_opens_during_the_warmup() -> None:
    tracker = IncidentTracker(interval=1.0, config=IncidentConfig(window=5.0, warmup=100.0))
    changes = drive(
        tracker,
        lambda t: {"cpu.total": 90.0 if t >= 40 else 10.0},
        range(80),
        lambda t, n: t == 40,
    )
    assert changes == []


def test_overlapping_anomalies_join_the_open_incident() -> None:
    tracker = IncidentTracker(interval=1.0, config=CONFIG)
    jitter = noisy(2)

    def values(t: int) -> dict[str, float]:
        cpu = 90.0 if t >= 60 else 10.0
        load = 4.0 if t >= 66 else 0.5
        return {"cpu.total": cpu + jitter(t), "load.1": load + 0.05 * jitter(t)}

    flags = {("cpu.total", 60), ("load.1", 66)}
    changes = drive(tracker, values, range(80), lambda t, n: (n, t) in flags)
    assert len({c["id"] for c in changes}) == 1
    assert changes[-1]["triggers"] == ["cpu.total", "load.1"]
    assert tracker.open_count() == 1


def test_a_memory_climb_resolves_once_it_stops_growing() -> None:
    tracker = IncidentTracker(interval=1.0, config=CONFIG)

    def values(t: int) -> dict[str, float]:
        grown = min(max(t - 60, 0), 30) * 50e6  # +50 MB/s for 30 s, then held
        return {"memory.used": 2e9 + grown + 1e5 * (t % 3)}

    changes = drive(tracker, values, range(130), lambda t, n: t == 62)
    assert changes[0]["status"] == "open"
    assert changes[0]["summary"].startswith("Memory used at")
    assert changes[-1]["status"] == "resolved"
    assert changes[-1]["ended"] <= 1_700_000_000.0 + 90 + 20


def test_a_rise_the_detector_flagged_once_too_early_still_opens_an_incident() -> None:
    # The detector noticed the ramp on its first tick and then rested; a window later
    # the rise is plain, and the sweep confirms it.
    tracker = IncidentTracker(interval=1.0, config=CONFIG)

    def values(t: int) -> dict[str, float]:
        grown = min(max(t - 60, 0), 40) * 60e6
        return {"memory.used": 2e9 + grown + 1e5 * (t % 3)}

    changes = drive(tracker, values, range(90), lambda t, n: t == 59)
    assert changes
    assert changes[0]["status"] == "open"
    assert changes[0]["triggers"] == ["memory.used"]
    # Without any flag at all it opens too, and a fall nobody flagged opens nothing.
    unflagged = IncidentTracker(interval=1.0, config=CONFIG)
    found = drive(unflagged, values, range(90))[0]
    assert found["triggers"] == ["memory.used"]
    # It is dated from when memory left its baseline, not from when the test confirmed it.
    assert 1_700_000_060.0 <= found["started"] <= 1_700_000_062.0 < found["updated"]
    falling = IncidentTracker(interval=1.0, config=CONFIG)
    freed = drive(falling, lambda t: {"memory.used": 9e9 - values(t)["memory.used"]}, range(90))
    assert freed == []


def test_a_leak_that_keeps_growing_stays_one_incident_until_it_stops() -> None:
    tracker = IncidentTracker(interval=1.0, config=CONFIG)  # join horizon: 20 s

    def values(t: int) -> dict[str, float]:
        grown = min(max(t - 60, 0), 90) * 20e6  # +20 MB/s for 90 s, then held
        return {"memory.used": 2e9 + grown + 1e5 * (t % 3)}

    changes = drive(tracker, values, range(200), lambda t, n: t == 62)
    assert len({c["id"] for c in changes}) == 1
    assert changes[-1]["status"] == "resolved"
    assert 1_700_000_150.0 <= changes[-1]["ended"] <= 1_700_000_150.0 + 30


def test_an_idle_noisy_machine_opens_nothing() -> None:
    tracker = IncidentTracker(interval=1.0, config=CONFIG)
    jitter, wobble = noisy(7), noisy(8)

    def values(t: int) -> dict[str, float]:
        return {
            "cpu.total": 8.0 + 3.0 * abs(jitter(t)),
            "memory.used": 2e9 + 20e6 * wobble(t),
            "disk.write_bps": 1e6 * abs(jitter(t)),
        }

    assert drive(tracker, values, range(600)) == []


def test_incidents_carry_exhaustion_forecasts_from_the_analyser() -> None:
    clock = ManualClock()
    analyser = HostAnalyser(history_size=60, clock=clock)
    tracker = IncidentTracker(interval=1.0, analyser=analyser, config=CONFIG)
    changes: list[dict[str, Any]] = []
    for t in range(100):
        percent = 40.0 + max(t - 50, 0) * 0.5
        sample = {"memory.percent": percent, "memory.used": percent * 1e8}
        analysis = analyser.analyse(sample)
        flags = {n: {"anomaly": t == 52} for n in sample}
        changes += tracker.observe(clock.wall(), sample, {**analysis, **flags})
        clock.advance(1.0)
    last = changes[-1]
    [forecast] = last["forecasts"]
    assert forecast["metric"] == "memory.percent"
    at = last["updated"] - clock.wall() + 100.0  # seconds since the start of the run
    truth = (100.0 - (40.0 + (at - 50.0) * 0.5)) / 0.5
    assert forecast["low"] <= truth <= forecast["high"]
    assert forecast["time_to_threshold"] == pytest.approx(truth, rel=0.25)
    assert "memory full in" in changes[-1]["summary"]
    assert changes[-1]["severity"] == "critical"  # full within the hour


def test_incidents_are_kept_in_sqlite_and_stale_open_ones_close_on_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.db"
    store = IncidentStore(path)
    tracker = IncidentTracker(interval=1.0, store=store, config=CONFIG)
    drive(
        tracker, lambda t: {"cpu.total": 90.0 if t >= 40 else 10.0}, range(60), lambda t, n: t == 40
    )
    [kept] = store.list(status="open")
    store.close()
    reopened = IncidentStore(path)
    [closed] = reopened.list()
    assert closed["id"] == kept["id"]
    assert closed["status"] == "resolved"
    assert closed["ended"] == kept["updated"]
    assert reopened.list(status="open") == []
    with pytest.raises(ConfigError, match="limit"):
        reopened.list(limit=0)
    with pytest.raises(ConfigError, match="status"):
        reopened.list(status="closed")
    reopened.close()


def test_attribution_names_the_new_hog_even_when_the_cores_were_already_busy() -> None:
    def table(at: float, rows: dict[int, tuple[str, float, float]]) -> ProcessTable:
        return ProcessTable(
            at, at, {pid: (name, cpu, 10, 0.0, demand) for pid, (name, cpu, demand) in rows.items()}
        )

    # Two processes kept both cores busy; a hog arrives and takes a third of each. Each
    # demands a full core all along (running or waiting).
    t0 = table(0.0, {1: ("busy-a", 0.0, 0.0), 2: ("busy-b", 0.0, 0.0)})
    t1 = table(5.0, {1: ("busy-a", 5.0, 5.0), 2: ("busy-b", 5.0, 5.0)})
    t2 = table(
        10.0,
        {1: ("busy-a", 8.3, 10.0), 2: ("busy-b", 8.3, 10.0), 9: ("hog", 3.4, 5.0)},
    )
    [top] = attribute((t0, t1), t1, t2, "cpu")
    assert (top["pid"], top["name"], top["share"], top["cpu_percent"]) == (9, "hog", 1.0, 68.0)
    assert attribute((t0, t1), t1, t1, "cpu") == []


def test_attribution_ranks_memory_growth_and_writes() -> None:
    a = ProcessTable(0.0, 0.0, {1: ("db", 1.0, 100, 0.0, 1.0), 2: ("leak", 1.0, 100, 0.0, 1.0)})
    b = ProcessTable(10.0, 10.0, {1: ("db", 1.0, 150, 5e8, 1.0), 2: ("leak", 1.0, 1050, 1e6, 1.0)})
    assert [p["name"] for p in attribute(None, a, b, "memory")] == ["leak", "db"]
    assert attribute(None, a, b, "io")[0]["name"] == "db"
    # Memory fell: the process that ended freed it.
    c = ProcessTable(20.0, 20.0, {1: ("db", 1.0, 150, 5e8, 1.0)})
    [freed] = attribute(None, b, c, "memory", falling=True)
    assert (freed["name"], freed["share"], freed["memory_rss"]) == ("leak", 1.0, 0)
    # CPU fell: the process that ended had been using it.
    d = ProcessTable(30.0, 30.0, {1: ("db", 2.0, 150, 5e8, 2.0), 2: ("leak", 6.0, 9, 1e6, 6.0)})
    e = ProcessTable(40.0, 40.0, {1: ("db", 3.0, 150, 5e8, 3.0)})
    [gone] = attribute((c, d), d, e, "cpu", falling=True)
    assert (gone["pid"], gone["name"], gone["share"]) == (2, "leak", 1.0)


def test_a_process_is_known_by_its_start_time_not_its_name() -> None:
    # A kernel worker renames itself with each work item; its hours of CPU before the
    # period are not a rise. A pid reused by a new process is a new process.
    a = ProcessTable(
        0.0,
        0.0,
        {7: ("kworker/0:1-events", 40.0, 0, 0.0, 90.0), 8: ("old", 50.0, 0, 0.0, 50.0)},
        {7: 100.0, 8: 100.0},
    )
    b = ProcessTable(
        5.0, 5.0,
        {7: ("kworker/0:1-mm_percpu_wq", 40.1, 0, 0.0, 90.1), 8: ("new", 4.0, 0, 0.0, 4.0)},
        {7: 100.0, 8: 103.0},
    )  # fmt: skip
    rates = {p["pid"]: p["rate"] for p in attribute(None, a, b, "cpu")}
    assert rates == {8: 0.8, 7: 0.02}
    assert ProcessScanner().scan().born  # real scans read start times


def test_cpu_rates_are_read_over_at_least_min_span_seconds() -> None:
    # A scan taken on the spot just after a regular one must not turn rates into
    # rounding noise: demand and use span the newest scan at least min_span s older.
    clock = ManualClock()
    scanner = ProcessScanner(clock=clock, min_span=1.0)
    assert scanner.span() is None
    first = scanner.scan()
    clock.advance(5.0)
    regular = scanner.scan()
    clock.advance(0.01)
    spot = scanner.scan()
    assert scanner.span() == (first, spot)
    clock.advance(1.0)
    later = scanner.scan()
    assert scanner.span() == (spot, later)
    assert regular is not spot
    with pytest.raises(ConfigError, match="min_span"):
        ProcessScanner(min_span=-1.0)


def test_a_process_ending_mid_read_does_not_turn_wait_time_off() -> None:
    # Reading a reaped process's schedstat fails (ENOENT or ESRCH); that process's wait
    # is 0, and every other process's demand still includes its time in the run queue.
    scanner = ProcessScanner()
    assert scanner._waited(2**22 + 12345) == 0.0
    with open(f"/proc/{os.getpid()}/schedstat", encoding="ascii") as stat:
        waited = int(stat.read().split()[1]) / 1e9
    assert scanner._waited(os.getpid()) >= waited


def test_bad_settings_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match="window"):
        IncidentConfig(window=0)
    with pytest.raises(ConfigError, match="min_score"):
        IncidentConfig(min_score=1.5)
    with pytest.raises(ConfigError, match="interval"):
        IncidentTracker(interval=0)


def test_alert_rules_fire_on_open_incidents_and_the_hub_streams_them() -> None:
    alerts = MonitorAlerts(clock=ManualClock())
    fired = alerts.observe_sample(0.0, {"incidents.open": 1.0}, {})
    assert [a["rule"] for a in fired] == ["Incident"]
    cleared = alerts.observe_sample(1.0, {"incidents.open": 0.0}, {})
    assert [a["status"] for a in cleared] == ["resolved"]
    assert "incident" in MESSAGE_TYPES


def test_an_anomaly_long_after_an_incident_opened_starts_its_own() -> None:
    tracker = IncidentTracker(interval=1.0, config=CONFIG)  # join horizon: 4 windows, 20 s
    jitter = noisy(5)

    def values(t: int) -> dict[str, float]:
        cpu = 90.0 if t >= 60 else 10.0
        load = 4.0 if t >= 100 else 0.5
        return {"cpu.total": cpu + jitter(t), "load.1": load + 0.05 * jitter(t)}

    flags = {("cpu.total", 60), ("load.1", 100)}
    changes = drive(tracker, values, range(115), lambda t, n: (n, t) in flags)
    assert len({c["id"] for c in changes}) == 2
    assert tracker.open_count() == 2
    assert [i["triggers"] for i in tracker.list(status="open")] == [["load.1"], ["cpu.total"]]


class Scans:
    """A scanner's view made of given tables (what HogWatch reads)."""

    def __init__(self) -> None:
        self.kept: list[ProcessTable] = []

    def add(self, at: float, demand: dict[int, float]) -> None:
        rows = {pid: (f"p{pid}", d, 10, 0.0, d) for pid, d in demand.items()}
        self.kept.append(ProcessTable(at, at, rows))

    def tables(self) -> list[ProcessTable]:
        return list(self.kept)

    def demand(self) -> dict[int, float]:
        a, b = self.kept[-2], self.kept[-1]
        return {p: (b.rows[p][4] - a.rows[p][4]) / (b.mono - a.mono) for p in b.rows if p in a.rows}

    def use(self) -> dict[int, float]:
        return self.demand()  # these processes never wait


def test_hog_watch_reports_a_process_once_when_it_starts_hogging() -> None:
    scans, watch = Scans(), HogWatch()
    scans.add(0.0, {1: 0.0, 2: 0.0})
    scans.add(5.0, {1: 5.0, 2: 0.1})  # the first pair: the tracker reads it in its warm-up
    assert watch.update(scans) == ({1}, 0.0)
    scans.add(10.0, {1: 10.0, 2: 5.0})  # 2 starts hogging
    assert watch.update(scans) == ({2}, 5.0)
    assert watch.update(scans) == (set(), None)  # the same scan is read once
    scans.add(15.0, {1: 15.0, 2: 5.5})  # 2 calms down
    assert watch.update(scans) == (set(), 10.0)
    assert not watch.still_hogging({2})
    assert watch.still_hogging({1})


class Host:
    """A host whose process scans are given (what the tracker reads of it)."""

    def __init__(self) -> None:
        self.scanner = Scans()
        self.scanner.before = self.before  # type: ignore[attr-defined]

    def before(self, at: float) -> tuple[ProcessTable | None, ProcessTable | None]:
        earlier = [t for t in self.scanner.kept if t.at <= at]
        return (earlier[-2] if len(earlier) > 1 else None), (earlier[-1] if earlier else None)

    def scan_processes(self) -> ProcessTable:
        return self.scanner.kept[-1]


def test_an_incident_of_hogs_alone_resolves_and_tracking_goes_on() -> None:
    host = Host()
    tracker = IncidentTracker(interval=1.0, host=host, config=CONFIG)
    cpu: dict[int, float] = {1: 0.0, 2: 0.0}
    changes: list[dict[str, Any]] = []
    for t in range(160):
        if t % 5 == 0:  # a scan every 5 s: pid 2 hogs from 40 s to 70 s, pid 3 from 110 s
            cpu[1] += 0.5
            cpu[2] += 5.0 if 40 <= t < 70 else 0.0
            if t >= 110:
                cpu[3] = cpu.get(3, -5.0) + 5.0  # it starts at 110 s
            host.scanner.add(1_700_000_000.0 + t, dict(cpu))
        changes += tracker.observe(1_700_000_000.0 + t, {"cpu.total": 50.0}, {})
    first, second = sorted({c["id"] for c in changes}, key=lambda i: int(i.split("-")[1]))
    ends = {c["id"]: c for c in changes}
    assert ends[first]["triggers"] == ["cpu.hogs"]
    assert ends[first]["processes"][0]["pid"] == 2
    assert ends[first]["status"] == "resolved"
    assert ends[second]["processes"][0]["pid"] == 3
    assert ends[second]["status"] == "open"


def test_forecasts_refit_every_few_ticks_from_every_value() -> None:
    analyser = HostAnalyser(history_size=60, clock=ManualClock(), forecast_every=5)
    seen = []
    for v in range(12):
        seen.append(analyser.analyse({"cpu.total": float(v)})["cpu.total"]["forecast"])
    assert seen[5] == seen[6] == seen[8]  # no refit between the fifth and tenth tick
    assert seen[9] != seen[8]  # the tenth tick refits, from all ten values
    with pytest.raises(ConfigError, match="forecast_every"):
        HostAnalyser(forecast_every=0)
