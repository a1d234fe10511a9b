"""Incidents kept in SQLite beside the metric history (same file, own table).

Each incident is one row keyed by its id, its body stored as JSON and rewritten on every
change (incidents change a few times in their life, so an upsert per change is cheap).
Incidents left open by a previous run are closed when the store is opened: nobody was
watching, so their end is the last time they were updated.

>>> store = IncidentStore(":memory:")
>>> store.save({"id": "a", "status": "open", "started": 10.0, "ended": None, "updated": 12.0})
>>> [i["id"] for i in store.list(status="open")]
['a']
>>> store.close()
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, final

from .._validate import check_choice, check_int

__all__ = ["IncidentStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incident (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, started REAL NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_started ON incident (started);
"""


@final
class IncidentStore:
    """Incidents in one SQLite file (thread-safe; each call takes the store's lock).

    Args:
        path: the database file (usually the history store's), or ``":memory:"``.
    """

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._close_stale()

    def _close_stale(self) -> None:
        rows = self._db.execute("SELECT body FROM incident WHERE status = 'open'").fetchall()
        for (body,) in rows:
            incident = json.loads(body)
            incident["status"] = "resolved"
            incident["ended"] = incident.get("updated") or incident["started"]
            self.save(incident)

    def save(self, incident: Mapping[str, Any]) -> None:
        """Insert or replace ``incident`` (a JSON-ready dict with id, status, started)."""
        body = json.dumps(incident, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO incident (id, status, started, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body",
                (incident["id"], incident["status"], float(incident["started"]), body),
            )

    def list(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Return up to ``limit`` incidents, newest first, optionally of one status.

        Raises:
            ConfigError: an unknown status or a limit outside 1-10,000.
        """
        limit = check_int("limit", limit, minimum=1, maximum=10_000)
        query, params = "SELECT body FROM incident", []
        if status is not None:
            check_choice("status", status, ("open", "resolved"))
            query, params = query + " WHERE status = ?", [status]
        query += " ORDER BY started DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, [*params, limit]).fetchall()
        return [json.loads(body) for (body,) in rows]

    def get(self, ident: str) -> dict[str, Any] | None:
        """Return the incident ``ident`` (None if unknown)."""
        with self._lock:
            row = self._db.execute("SELECT body FROM incident WHERE id = ?", (ident,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
