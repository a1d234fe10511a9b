"""SQLite history of metric samples, downsampled into tiers, with retention.

Every sample lands in the finest tier; coarser tiers keep per-bucket count, sum, min
and max, updated in the same transaction (an upsert per metric and tier), so a range
query over a month reads ~43,000 one-minute rows instead of 2.6 million raw ones.
Writes are buffered and committed in batches (one transaction per flush), which is
what keeps the monitor's own cost near zero.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "history.db")
>>> store = HistoryStore(path)
>>> for t in range(30):
...     store.append(1000.0 + t, {"cpu.total": float(t)})
>>> store.flush()
30
>>> points = store.history("cpu.total", since=1000.0, until=1030.0, resolution=10)
>>> [(p.at, p.mean) for p in points]
[(1000.0, 4.5), (1010.0, 14.5), (1020.0, 24.5)]
>>> store.close()
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import final

from .._validate import check_duration, check_int, check_number
from ..errors import ConfigError

__all__ = ["DEFAULT_TIERS", "MAX_TIME", "HistoryStore", "Point", "Tier"]

MAX_TIME = 1e11
"""Largest wall time (epoch seconds, about the year 5138) a query may name: SQLite's
integers end near 9.2e18, and no history reaches this far."""


@dataclass(frozen=True, slots=True)
class Tier:
    """One resolution of the history: buckets of ``resolution`` seconds kept ``retention`` s."""

    resolution: int
    retention: float


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier(1, 3600.0),
    Tier(10, 86400.0),
    Tier(60, 30 * 86400.0),
)
"""1 s raw for an hour, 10 s for a day, 1 min for 30 days."""


@dataclass(frozen=True, slots=True)
class Point:
    """One bucket of a metric's history (a raw sample is a bucket of count 1)."""

    at: float
    mean: float
    min: float
    max: float
    count: int

    def to_dict(self) -> dict[str, float | int]:
        """Return the point as a JSON-ready dict."""
        return {"at": self.at, "mean": self.mean, "min": self.min, "max": self.max, "n": self.count}


_SCHEMA = """
CREATE TABLE IF NOT EXISTS metric (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS bucket (
    tier INTEGER NOT NULL, metric INTEGER NOT NULL, at INTEGER NOT NULL,
    n INTEGER NOT NULL, sum REAL NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL,
    PRIMARY KEY (tier, metric, at)
) WITHOUT ROWID;
"""

_UPSERT = """
INSERT INTO bucket (tier, metric, at, n, sum, lo, hi) VALUES (?, ?, ?, 1, ?, ?, ?)
ON CONFLICT (tier, metric, at) DO UPDATE SET
    n = n + 1, sum = sum + excluded.sum,
    lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)
"""


@final
class HistoryStore:
    """Buffered, downsampled metric history in one SQLite file.

    Args:
        path: the database file (created with its directory's existing parent), or
            ``":memory:"``.
        tiers: resolutions and retentions, finest first; resolutions must increase.
        max_buffer: samples kept in memory before :meth:`append` flushes by itself.

    Raises:
        ConfigError: on a bad tier list or buffer size.

    The store is thread-safe: the sampler appends from one thread while API handlers
    query from others (each call takes the store's lock; queries are short).
    """

    def __init__(
        self,
        path: str | Path,
        tiers: Sequence[Tier] = DEFAULT_TIERS,
        *,
        max_buffer: int = 10_000,
    ) -> None:
        self._tiers = _checked_tiers(tiers)
        self._max_buffer = check_int("max_buffer", max_buffer, minimum=1)
        self._path = str(path)
        if self._path != ":memory:" and not Path(self._path).parent.is_dir():
            raise ConfigError("path", "inside an existing directory", self._path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # History is a convenience, not a ledger: NORMAL survives process crashes.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._ids: dict[str, int] = {
            name: ident for ident, name in self._db.execute("SELECT id, name FROM metric")
        }
        self._names: set[str] = set(self._ids)
        self._buffer: list[tuple[float, Mapping[str, float]]] = []
        self._buffered = 0
        self._written = 0
        self._last_prune = -math.inf
        finest = self._tiers[0].resolution
        row = self._db.execute("SELECT max(at) FROM bucket WHERE tier = ?", (finest,)).fetchone()
        self._newest = float(row[0]) if row and row[0] is not None else -math.inf

    @property
    def tiers(self) -> tuple[Tier, ...]:
        """The configured tiers, finest first."""
        return self._tiers

    def append(self, at: float, values: Mapping[str, float]) -> None:
        """Buffer one sample of several metrics taken at wall time ``at``.

        Non-finite values are skipped (a NaN mean would poison every coarser bucket).
        """
        with self._lock:
            self._buffer.append((at, values))
            self._newest = max(self._newest, at)
            self._buffered += len(values)
            if not self._names.issuperset(values):
                self._names.update(values)
            full = self._buffered >= self._max_buffer
        if full:
            self.flush()

    def flush(self) -> int:
        """Write buffered samples in one transaction; return how many values were written."""
        with self._lock:
            buffer, self._buffer, self._buffered = self._buffer, [], 0
            if not buffer:
                return 0
            rows = list(self._rows(buffer))
            with self._transaction():
                self._db.executemany(_UPSERT, rows)
            written = len(rows) // len(self._tiers)
            self._written += written
            newest = buffer[-1][0]
            if newest - self._last_prune >= 60.0:
                self._prune(newest)
            return written

    def _rows(
        self, buffer: Iterable[tuple[float, Mapping[str, float]]]
    ) -> Iterable[tuple[int, int, int, float, float, float]]:
        tiers = [t.resolution for t in self._tiers]
        for at, values in buffer:
            for name, value in values.items():
                if not math.isfinite(value):
                    continue
                metric = self._metric_id(name)
                for resolution in tiers:
                    start = int(at // resolution) * resolution
                    yield (resolution, metric, start, value, value, value)

    def _metric_id(self, name: str) -> int:
        ident = self._ids.get(name)
        if ident is None:
            cursor = self._db.execute(
                "INSERT INTO metric (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,)
            )
            if cursor.lastrowid and cursor.rowcount:
                ident = cursor.lastrowid
            else:
                row = self._db.execute("SELECT id FROM metric WHERE name = ?", (name,)).fetchone()
                ident = int(row[0])
            self._ids[name] = ident
        return ident

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _prune(self, now: float) -> None:
        with self._transaction():
            for tier in self._tiers:
                self._db.execute(
                    "DELETE FROM bucket WHERE tier = ? AND at < ?",
                    (tier.resolution, int(now - tier.retention)),
                )
        self._last_prune = now

    def metrics(self) -> list[str]:
        """Return every metric name the store has seen, sorted."""
        with self._lock:
            return sorted(self._names)

    def history(
        self,
        metric: str,
        since: float,
        until: float | None = None,
        *,
        resolution: int | None = None,
        max_points: int | None = None,
        step: int | None = None,
    ) -> list[Point]:
        """Return ``metric``'s buckets with ``since <= at < until``, oldest first.

        Args:
            metric: a metric name (see :meth:`metrics`).
            since: wall-clock start (seconds since the epoch).
            until: wall-clock end; default: everything after ``since``.
            resolution: a tier's resolution; default: the finest tier that still holds
                ``since`` and is no finer than ``step``.
            max_points: upper bound on the number of buckets (default 2,000, the newest);
                without a ``step``, a closed range is merged so that it fits in this many.
            step: seconds per returned bucket: the tier's buckets are merged into buckets
                of this width (mean, min and max over the merged ones).

        Raises:
            ConfigError: on an unknown resolution or bounds outside [-MAX_TIME, MAX_TIME].
        """
        check_number("since", since, minimum=-MAX_TIME, maximum=MAX_TIME)
        if until is not None:
            check_number("until", until, minimum=since, maximum=MAX_TIME)
        limit = check_int("max_points", 2000 if max_points is None else max_points, minimum=1)
        if step is not None:
            check_int("step", step, minimum=1, maximum=366 * 86400)
        with self._lock:
            pending = [(at, values) for at, values in self._buffer if metric in values]
            newest = self._newest
        end = until if until is not None else math.inf
        if step is None:  # an open range keeps the finest buckets, newest first
            step = 1 if until is None else max(1, math.ceil((until - since) / limit))
        tier = self._pick_tier(since, resolution, step, newest)
        step = max(step, tier.resolution)
        start = int(since // step) * step
        with self._lock:
            ident = self._ids.get(metric)
            rows = (
                []
                if ident is None
                else self._db.execute(
                    "SELECT (at / ?) * ? AS b, sum(n), sum(sum), min(lo), max(hi) FROM bucket "
                    "WHERE tier = ? AND metric = ? AND at >= ? AND at < ? "
                    "GROUP BY b ORDER BY b DESC LIMIT ?",
                    (step, step, tier.resolution, ident, start, _sql_end(end), limit),
                ).fetchall()
            )
        merged = {int(b): [n, total, lo, hi] for b, n, total, lo, hi in rows}
        if pending:
            # Samples not yet flushed still belong to the answer.
            for at, value in _pending(pending, metric, since, end):
                key = int(at // step) * step
                cell = merged.get(key)
                if cell is None:
                    merged[key] = [1, value, value, value]
                else:
                    cell[0] += 1
                    cell[1] += value
                    cell[2] = min(cell[2], value)
                    cell[3] = max(cell[3], value)
        ordered = sorted(merged.items())[-limit:]
        return [Point(float(b), t / n, lo, hi, int(n)) for b, (n, t, lo, hi) in ordered]

    def _pick_tier(self, since: float, resolution: int | None, step: int, newest: float) -> Tier:
        """Return the coarsest tier still holding ``since`` that is no coarser than ``step``."""
        if resolution is not None:
            for tier in self._tiers:
                if tier.resolution == resolution:
                    return tier
            accepted = ", ".join(str(t.resolution) for t in self._tiers)
            raise ConfigError("resolution", f"one of {accepted}", resolution)
        holding = [t for t in self._tiers if newest - t.retention <= since]
        if not holding:
            return self._tiers[-1]
        fine_enough = [t for t in holding if t.resolution <= step]
        return fine_enough[-1] if fine_enough else holding[0]

    def stats(self) -> dict[str, object]:
        """Return counters: values written, buffered, metrics known, file path."""
        with self._lock:
            return {
                "path": self._path,
                "written": self._written,
                "buffered": self._buffered,
                "metrics": len(self._ids),
                "tiers": [(t.resolution, t.retention) for t in self._tiers],
            }

    def close(self) -> None:
        """Flush what is buffered and close the database."""
        self.flush()
        with self._lock:
            self._db.close()


def _sql_end(end: float) -> float:
    return end if end != math.inf else float(2**62)


def _pending(
    pending: Iterable[tuple[float, Mapping[str, float]]], metric: str, since: float, end: float
) -> list[tuple[float, float]]:
    return [
        (at, v)
        for at, values in pending
        if since <= at < end and math.isfinite(v := values[metric])
    ]


class _Transaction:
    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _checked_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    given: object = tiers  # callers outside the type checker may pass anything
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise ConfigError("tiers", "a non-empty sequence of Tier", tiers)
    out = tuple(tiers)
    if not out or not all(isinstance(t, Tier) for t in out):
        raise ConfigError("tiers", "a non-empty sequence of Tier", tiers)
    previous = 0
    for tier in out:
        check_int("tiers[].resolution", tier.resolution, minimum=1)
        check_duration("tiers[].retention", tier.retention, minimum=tier.resolution)
        if tier.resolution <= previous:
            raise ConfigError("tiers", "ordered by strictly increasing resolution", tiers)
        previous = tier.resolution
    return out
