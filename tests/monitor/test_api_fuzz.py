"""Property-based fuzzing of the monitor's API from its own OpenAPI document: never a 5xx.

Every operation in ``/openapi.json`` gets generated requests (valid and invalid
parameters) from schemathesis' Hypothesis strategies, sent to a real uvicorn server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from monitor._server import running, wait_ready
from rebellion.monitor.server import ServeOptions, build

pytestmark = pytest.mark.e2e


def test_no_request_the_schema_allows_gets_a_server_error(tmp_path: Path) -> None:
    app, service = build(ServeOptions(db=str(tmp_path / "h.db"), interval=0.2))
    with running(app) as base:
        wait_ready(base)
        service.store.flush()  # history queries reach SQLite, not only the buffer
        schema = schemathesis.openapi.from_url(base + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 8
        failures: list[str] = []
        statuses: list[tuple[str, int]] = []
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=40,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=base, timeout=10)
                statuses.append((case.path, response.status_code))
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} {case.query}: "
                        f"{response.status_code} {response.text[:200]}"
                    )

            check()
        assert failures == [], "\n".join(failures)
        # Routes without parameters have one request to make; the history route has many.
        history = [s for path, s in statuses if path == "/api/v1/history"]
        assert len(history) >= 30, "too few history requests were generated"
        assert any(400 <= s < 500 for s in history), "no invalid request was generated"
        assert any(s == 200 for _, s in statuses)
