"""The vendored JavaScript matches its pinned manifest (no network)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_vendored_files_match_their_checksums() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/vendor_js.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_licences_are_kept_beside_the_code() -> None:
    assert "MIT" in (ROOT / "src/rebellion/monitor/static/vendor/uPlot.LICENSE").read_text()
    assert (ROOT / "tests/monitor/vendor/axe-core.LICENSE").stat().st_size > 1000
