"""Render benchmark results: console tables, Markdown, machine and library facts.

>>> fmt_ns(1234.5), fmt_ratio(None)
('1,234', '-')
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from _common import BASELINES, Group
from _harness import Measurement

__all__ = [
    "DISTRIBUTIONS",
    "GroupResult",
    "fmt_ns",
    "fmt_ratio",
    "library_versions",
    "machine_info",
    "markdown_table",
    "text_table",
]

DISTRIBUTIONS = {
    "rebellion": "system-rebellion",
    "circuitbreaker": "circuitbreaker",
    "pybreaker": "pybreaker",
    "aiobreaker": "aiobreaker",
    "purgatory": "purgatory",
    "tenacity": "tenacity",
    "backoff": "backoff",
    "pyresilience": "pyresilience",
    "aiolimiter": "aiolimiter",
    "limits": "limits",
    "cachetools": "cachetools",
    "aiocache": "aiocache",
    "redis": "redis",
    "prometheus_client": "prometheus_client",
}
"""Library label -> PyPI distribution, for the versions table."""

HEADERS = ("contender", "library", "mode", "median ns/op", "IQR ns", "x bare", "x pass-through")


@dataclass(slots=True)
class GroupResult:
    """What one group produced: measurements, skipped contenders, errors."""

    group: Group
    measurements: list[Measurement] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def fmt_ns(value: float) -> str:
    """Format nanoseconds: one decimal below 100 ns, thousands separators above."""
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def fmt_ratio(value: float | None) -> str:
    """Format a ratio as ``2.31``, or ``-`` when there is no reference."""
    return "-" if value is None else f"{value:.2f}"


def _rows(result: GroupResult) -> list[tuple[str, ...]]:
    medians = {m.name: m.median_ns for m in result.measurements}
    rows: list[tuple[str, ...]] = []
    for m in result.measurements:
        bare_name, through_name = BASELINES[m.mode]
        bare, through = medians.get(bare_name), medians.get(through_name)
        rows.append(
            (
                m.name,
                m.prepared.library,
                m.mode,
                fmt_ns(m.median_ns),
                fmt_ns(m.iqr_ns),
                fmt_ratio(m.median_ns / bare if bare else None),
                fmt_ratio(m.median_ns / through if through else None),
            )
        )
    return rows


def _footer(result: GroupResult) -> list[str]:
    lines = [f"{name}: {verdict}" for name, verdict in result.skipped]
    lines += [f"ERROR: {error}" for error in result.errors]
    lines += [f"note: {note}" for note in result.group.notes]
    return lines


def text_table(result: GroupResult) -> str:
    """Render one group as an aligned console table with its skips, errors and notes."""
    rows = [HEADERS, *_rows(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    left = {0, 1, 2}
    out = [f"== {result.group.name}: {result.group.title} =="]
    for row in rows:
        cells = [
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    out += ["  " + line for line in _footer(result)]
    return "\n".join(out)


def markdown_table(result: GroupResult) -> str:
    """Render one group as a Markdown section."""
    out = [f"### `{result.group.name}`: {result.group.title}", ""]
    if result.measurements:
        out.append("| " + " | ".join(HEADERS) + " |")
        out.append("|" + "|".join([":--", ":--", ":--", "--:", "--:", "--:", "--:"]) + "|")
        out += ["| " + " | ".join(row) + " |" for row in _rows(result)]
        out.append("")
    out += [f"- {line}" for line in _footer(result)]
    return "\n".join(out).rstrip() + "\n"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine_info() -> list[tuple[str, str]]:
    """Return ``(label, value)`` facts about this run's machine and interpreter."""
    return [
        ("date (UTC)", _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M")),
        ("python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("platform", platform.platform()),
        ("cpu", f"{_cpu_model()} ({os.cpu_count()} logical CPUs)"),
        ("git revision", _git_revision()),
    ]


def library_versions(libraries: Sequence[str]) -> list[tuple[str, str]]:
    """Return ``(library, version)`` for each library label (``not installed`` if absent)."""
    out = []
    for lib in libraries:
        try:
            version = metadata.version(DISTRIBUTIONS.get(lib, lib))
        except metadata.PackageNotFoundError:
            version = "not installed"
        out.append((lib, version))
    return out
