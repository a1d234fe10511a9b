"""Bad constructor input gets a ConfigError naming the parameter; imports stay lazy."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import httpx
import pytest

from rebellion import ConfigError, Retry
from rebellion.integrations import (
    AsyncResilientTransport,
    RequestRejectedError,
    ResilientTransport,
    http_pipeline,
)

BAD: list[tuple[str, Any]] = [
    ("name", ""),
    ("name", " padded "),
    ("policy_factory", "not callable"),
    ("routes", ["*"]),
    ("routes", {42: lambda key: Retry()}),
    ("routes", {"": lambda key: Retry()}),
    ("routes[]", {"*": "nope"}),
    ("classifier", "default"),
    ("retry_methods", "GET"),
    ("retry_methods", ["GET", 1]),
    ("retry_methods", ["G E T"]),
    ("raise_on_exhausted", "yes"),
    ("max_hosts", 0),
    ("max_hosts", 1.5),
    ("max_attempts", 0),
    ("initial_delay", -1),
    ("max_delay", float("nan")),
    ("failure_threshold", 0),
    ("reset_timeout", 0),
    ("hedge_delay", -0.1),
    ("clock", object()),
]


@pytest.mark.parametrize("cls", [ResilientTransport, AsyncResilientTransport])
@pytest.mark.parametrize(("parameter", "value"), BAD)
def test_bad_input_names_the_parameter(cls: type, parameter: str, value: Any) -> None:
    key = parameter.removesuffix("[]")
    with pytest.raises(ConfigError) as caught:
        cls(**{key: value})
    assert caught.value.parameter == parameter
    assert parameter in str(caught.value)


def test_the_wrapped_transport_must_match_the_mode() -> None:
    with pytest.raises(ConfigError, match="transport"):
        ResilientTransport(httpx.AsyncHTTPTransport())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="transport"):
        AsyncResilientTransport(httpx.HTTPTransport())  # type: ignore[arg-type]


def test_default_pipeline_settings_conflict_with_a_policy_factory() -> None:
    with pytest.raises(ConfigError) as caught:
        ResilientTransport(policy_factory=lambda key: Retry(), max_attempts=2)
    assert caught.value.parameter == "max_attempts"


def test_a_factory_that_returns_no_policy_is_reported_on_first_use() -> None:
    transport = ResilientTransport(
        httpx.MockTransport(lambda r: httpx.Response(200)),
        policy_factory=lambda key: "pipeline",  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(ConfigError, match="policy_factory"):
        transport.handle_request(httpx.Request("GET", "http://a.example/"))


def test_http_pipeline_names_its_policies_after_the_key() -> None:
    pipeline = http_pipeline("a.example", name="api", hedge_delay=0.2)
    assert [p.name for p in pipeline.policies] == [
        "api:a.example",
        "api:a.example:retry",
        "api:a.example:hedge",
    ]
    with pytest.raises(ConfigError, match="hedge_delay"):
        http_pipeline("a.example", hedge_delay=-1)


def test_regex_routes_use_search() -> None:
    seen: list[str] = []

    def route(key: str) -> Retry:
        seen.append(key)
        return Retry(1)

    transport = ResilientTransport(
        httpx.MockTransport(lambda r: httpx.Response(200)), routes={re.compile(r"/v\d+/"): route}
    )
    with httpx.Client(transport=transport) as client:
        client.get("http://a.example/api/v2/users")
    assert seen == ["/v\\d+/"]


def test_rejection_error_pickles_round_trip() -> None:
    import pickle

    from rebellion import CircuitOpenError

    error = RequestRejectedError(CircuitOpenError("b", 2.0))
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.policy, copy.retry_after) == ("b", 2.0)


def test_importing_rebellion_imports_no_integration_library() -> None:
    code = (
        "import rebellion, rebellion.integrations, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'httpx', 'starlette', 'opentelemetry', 'structlog'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
