"""The monitor service behind ``rebellion serve``: host sampling, history, API, dashboard.

Needs the ``server`` extra (FastAPI, uvicorn, psutil, NumPy, prometheus_client).
"""

from __future__ import annotations

__all__: list[str] = []
