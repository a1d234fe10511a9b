"""Headless Debian Chromium through Playwright (no browser download), and axe-core."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

__all__ = ["AXE", "CHROMIUM", "FLAGS", "artefacts", "chromium_path", "serious_violations"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"


def chromium_path() -> str:
    """Return the chromium binary, or skip (fail on CI) when it is missing."""
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (make test installs it)")
        pytest.skip("chromium is not installed")
    return CHROMIUM


def artefacts(tmp_path: Path) -> Path:
    """Return where screenshots go: ``$REBELLION_SCREENSHOT_DIR`` or the test's tmp dir."""
    chosen = os.environ.get("REBELLION_SCREENSHOT_DIR")
    folder = Path(chosen) if chosen else tmp_path / "artefacts"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core in ``page`` and return its serious and critical violations."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
