"""``get_*`` helpers that build named instances from the loaded configuration.

Precedence, highest first: keyword arguments in code, ``REBELLION_*`` variables, the
file's instance table, its ``base`` config, its ``configs.default``, the built-in
default. Asking again for a name returns the same instance; only keys given in code are
compared with the registered ones, so a reloaded file never makes a later call fail.

>>> from rebellion import registry
>>> breaker = get_circuit_breaker("inventory", failure_threshold=3)
>>> get_circuit_breaker("inventory") is breaker, breaker.failure_threshold
(True, 3)
>>> registry.unregister("circuit_breaker", "inventory")
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._registry import registry
from ._current import current_config, resolved
from ._kinds import KINDS
from ._live import explicit_keys

if TYPE_CHECKING:
    from ..cache import DistributedCache
    from ..durable import PersistentRequestQueue
    from ..flow import BackpressureHandler
    from ..metrics import AlertManager, MetricTransformer
    from ..policies.adaptive import AdaptiveLimiter
    from ..policies.bulkhead import Bulkhead
    from ..policies.chaos import Chaos
    from ..policies.circuit_breaker import CircuitBreaker
    from ..policies.ratelimit import RateLimiter
    from ..policies.retry import Retry
    from ..policies.timeout import Timeout

__all__ = [
    "config_settings",
    "get_adaptive_limiter",
    "get_alert_manager",
    "get_backpressure_handler",
    "get_bulkhead",
    "get_cache",
    "get_chaos",
    "get_circuit_breaker",
    "get_metric_transformer",
    "get_rate_limiter",
    "get_request_queue",
    "get_retry_policy",
    "get_timeout",
]

_SKIP = ("clock", "listeners")


def _helper(module: str, name: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _named(kind: str, name: str, code: dict[str, Any], build: Callable[..., Any]) -> Any:
    spec = KINDS[kind]
    code = {spec.param(k): v for k, v in code.items()}
    if registry.get(kind, name) is not None:
        # Only what the caller asked for is compared: a reloaded file never makes a
        # later call fail.
        comparable = {k: v for k, v in code.items() if k not in _SKIP}
        return registry.check_settings(kind, name, comparable)
    merged = {**resolved(kind, name), **code}
    instance = build(name, **merged)
    explicit_keys[instance] = frozenset(k for k in code if k not in _SKIP)
    return instance


def _generic(
    kind: str, drop: tuple[str, ...] = (), fill: tuple[str, ...] = ()
) -> Callable[..., Any]:
    def build(name: str, **settings: Any) -> Any:
        from ._env import setting

        cls = KINDS[kind].load()
        comparable = {k: v for k, v in settings.items() if k not in _SKIP}
        args = {k: v for k, v in settings.items() if k not in drop}
        for param in fill:  # required parameters fall back to their setting's default
            args.setdefault(param, setting(KINDS[kind].env[param]))
        return registry.get_or_create(kind, name, lambda: cls(name=name, **args), comparable)

    return build


def config_settings(kind: str, name: str | None = None) -> dict[str, Any]:
    """Return the configured values of ``kind`` (file and environment), by parameter.

    >>> config_settings("queue")["max_size"] >= 1
    True

    Raises:
        ConfigError: ``kind`` is unknown or a ``REBELLION_*`` value is invalid.
    """
    from ._env import setting

    spec = KINDS.get(kind)
    if spec is None:
        from ..errors import ConfigError

        raise ConfigError("kind", f"one of {', '.join(sorted(KINDS))}", kind)
    values = {param: setting(key) for param, key in spec.env.items()}
    loaded = current_config()
    values.update(resolved(kind, name) if loaded is not None else {})
    return {k: v for k, v in values.items() if v is not None}


def get_circuit_breaker(name: str, **settings: Any) -> CircuitBreaker:
    """Return the circuit breaker ``name``, built from the configuration on first use."""
    build = _helper("rebellion.policies.circuit_breaker", "get_circuit_breaker")
    return _named("circuit_breaker", name, settings, build)  # type: ignore[no-any-return]


def get_retry_policy(name: str, **settings: Any) -> Retry:
    """Return the retry policy ``name``, built from the configuration on first use."""
    build = _helper("rebellion.policies.retry", "get_retry_policy")
    return _named("retry", name, settings, build)  # type: ignore[no-any-return]


def get_bulkhead(name: str, **settings: Any) -> Bulkhead:
    """Return the bulkhead ``name``, built from the configuration on first use."""
    build = _helper("rebellion.policies.bulkhead", "get_bulkhead")
    return _named("bulkhead", name, settings, build)  # type: ignore[no-any-return]


def get_rate_limiter(name: str, **settings: Any) -> RateLimiter:
    """Return the rate limiter ``name``, built from the configuration on first use."""
    build = _helper("rebellion.policies.ratelimit", "get_rate_limiter")
    return _named("rate_limiter", name, settings, build)  # type: ignore[no-any-return]


def get_adaptive_limiter(name: str, **settings: Any) -> AdaptiveLimiter:
    """Return the adaptive limiter ``name``, built from the configuration on first use."""
    build = _helper("rebellion.policies.adaptive", "get_adaptive_limiter")
    return _named("adaptive_limiter", name, settings, build)  # type: ignore[no-any-return]


def get_backpressure_handler(name: str, **settings: Any) -> BackpressureHandler[Any]:
    """Return the backpressure handler ``name``, built from the configuration on first use."""
    build = _helper("rebellion.flow", "get_backpressure_handler")
    return _named("backpressure", name, settings, build)  # type: ignore[no-any-return]


def get_metric_transformer(name: str, **settings: Any) -> MetricTransformer:
    """Return the metric transformer ``name``, built from the configuration on first use."""
    build = _helper("rebellion.metrics", "get_metric_transformer")
    return _named("metric_transformer", name, settings, build)  # type: ignore[no-any-return]


def get_alert_manager(name: str, **settings: Any) -> AlertManager:
    """Return the alert manager ``name``, built from the configuration on first use."""
    build = _helper("rebellion.metrics", "get_alert_manager")
    return _named("alert_manager", name, settings, build)  # type: ignore[no-any-return]


def get_timeout(name: str, **settings: Any) -> Timeout:
    """Return the timeout ``name``, built from the configuration on first use."""
    return _named("timeout", name, settings, _generic("timeout"))  # type: ignore[no-any-return]


def get_chaos(name: str, **settings: Any) -> Chaos:
    """Return the fault injector ``name``, built from the configuration on first use."""
    return _named("chaos", name, settings, _generic("chaos"))  # type: ignore[no-any-return]


def get_cache(name: str = "cache", **settings: Any) -> DistributedCache:
    """Return the tiered cache ``name``, built from the configuration on first use."""
    return _named("cache", name, settings, _generic("cache"))  # type: ignore[no-any-return]


def get_request_queue(name: str = "queue", **settings: Any) -> PersistentRequestQueue:
    """Return the durable queue ``name``, built from the configuration on first use.

    ``worker_count`` is kept with its settings: pass it to ``process_queue(concurrency=)``
    (``config_settings("queue", name)["worker_count"]``).
    """
    return _named(  # type: ignore[no-any-return]
        "queue", name, settings, _generic("queue", ("worker_count",), ("storage_path",))
    )
