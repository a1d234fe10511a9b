"""Every numeric query parameter has a range: out of it is 422 naming the parameter, never 500.

The server's history store has flushed to SQLite before any query: a huge ``since``
used to overflow SQLite's integers there (500), while buffered samples hid it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor._server import running, wait_ready
from rebellion.errors import ConfigError
from rebellion.monitor.server import ServeOptions, build
from rebellion.monitor.store import MAX_TIME, HistoryStore


def test_the_store_refuses_times_beyond_its_range_after_a_flush(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.db")
    try:
        store.append(1000.0, {"cpu": 1.0})
        assert store.flush() == 1
        for since in (1e308, -1e308, MAX_TIME * 2, math.inf, math.nan):
            with pytest.raises(ConfigError, match="since"):
                store.history("cpu", since)
        with pytest.raises(ConfigError, match="until"):
            store.history("cpu", 0.0, 1e308)
        assert len(store.history("cpu", 0.0, MAX_TIME)) == 1
        assert store.history("cpu", MAX_TIME) == []
    finally:
        store.close()


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    app, service = build(ServeOptions(db=str(tmp_path / "h.db"), interval=0.1))
    with running(app) as url:
        wait_ready(url)
        service.store.flush()
        assert service.store.stats()["written"], "nothing was flushed"
        yield url


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("since", "1e308"),
        ("since", "-1e308"),
        ("since", "1e309"),
        ("since", "inf"),
        ("since", "-inf"),
        ("since", "nan"),
        ("since", "1e11.5"),
        ("until", "1e308"),
        ("until", "-1"),
        ("until", "nan"),
        ("resolution", str(10**30)),
        ("resolution", "-1"),
        ("max_points", str(10**100)),
        ("max_points", "10001"),
    ],
)
def test_out_of_range_history_parameters_are_422_naming_them(
    base: str, name: str, value: str
) -> None:
    params = {"metric": "cpu.total", "since": "0", name: value}
    response = httpx.get(base + "/api/v1/history", params=params)
    assert response.status_code == 422, response.text
    assert name in response.text


@pytest.mark.e2e
def test_the_edges_of_each_range_are_answered(base: str) -> None:
    for params in (
        {"since": str(MAX_TIME)},
        {"since": "-31622400"},
        {"since": "0", "until": str(MAX_TIME)},
        {"since": "0", "max_points": "10000", "resolution": "60"},
    ):
        response = httpx.get(base + "/api/v1/history", params={"metric": "cpu.total", **params})
        assert response.status_code == 200, (params, response.text)


@pytest.mark.e2e
def test_no_numeric_history_parameter_gets_a_server_error(base: str) -> None:
    numbers = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(min_value=-(10**40), max_value=10**40).map(str),
        st.sampled_from(["", "1e", "0x10", "1_000", " 5", "\u0665", "-0", "+inf"]),
    )
    names = st.sampled_from(["since", "until", "resolution", "max_points"])
    statuses: list[int] = []
    with httpx.Client(base_url=base, timeout=10) as client:

        @given(st.dictionaries(names, numbers, max_size=4))
        @settings(
            max_examples=150,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(params: dict[str, str]) -> None:
            response = client.get("/api/v1/history", params={"metric": "cpu.total", **params})
            statuses.append(response.status_code)
            assert response.status_code in (200, 422), (params, response.text)
            if response.status_code == 422:
                assert any(name in response.text for name in params), (params, response.text)

        check()
    assert 422 in statuses
    assert 200 in statuses
