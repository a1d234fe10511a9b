"""What a configuration file may configure: one :class:`Kind` per section.

Each kind names the class it configures, the ``REBELLION_*`` settings that override its
keys, the spelling aliases the seeds used, how to check a set of values (build a
throwaway instance with the real validators) and what can change on a live instance.

>>> KINDS["cache"].param("memory_size")
'memory_cache_size'
>>> KINDS["circuit_breaker"].env["failure_threshold"]
'circuit_breaker.failure_threshold'
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, final

from .._validate import check_int, check_number
from ..errors import ConfigError

__all__ = ["KINDS", "Kind"]

# Parameters a file cannot give: the name comes from the table, the rest are objects.
_NOT_FROM_FILES = frozenset({"self", "name", "clock", "listeners", "rng"})

Applier = Callable[[Any, Mapping[str, Any]], tuple[str, ...]]
"""Apply changed settings to a live instance; return the keys it could not apply."""


def _nothing_live(instance: object, changed: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(changed))


def _breaker(instance: Any, changed: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(instance.reconfigure(**changed))


def _bulkhead(instance: Any, changed: Mapping[str, Any]) -> tuple[str, ...]:
    if "max_concurrent" in changed or "max_queue" in changed:
        instance.resize(
            changed.get("max_concurrent", instance.max_concurrent),
            changed.get("max_queue", instance.max_queue),
        )
    return tuple(sorted(set(changed) - {"max_concurrent", "max_queue"}))


def _rate_limiter(instance: Any, changed: Mapping[str, Any]) -> tuple[str, ...]:
    if "rate" in changed or "burst" in changed:
        instance.set_rate(changed.get("rate", instance.rate), changed.get("burst"))
    return tuple(sorted(set(changed) - {"rate", "burst"}))


def _adaptive(instance: Any, changed: Mapping[str, Any]) -> tuple[str, ...]:
    if changed.get("max_limit") is not None:
        instance.set_max_limit(changed["max_limit"])
    return tuple(sorted(set(changed) - {"max_limit"}))


def _timeout(instance: Any, changed: Mapping[str, Any]) -> tuple[str, ...]:
    if "seconds" in changed:
        seconds = check_number("seconds", changed["seconds"], minimum=0.0, exclusive_minimum=True)
        instance.seconds = seconds
    return tuple(sorted(set(changed) - {"seconds"}))


def _chaos(instance: Any, changed: Mapping[str, Any]) -> tuple[str, ...]:
    rates = {
        short: changed[f"{short}_rate"]
        for short in ("latency", "error", "result")
        if f"{short}_rate" in changed
    }
    if rates:
        instance.set_rates(**rates)
    if "injection_rate" in changed:
        instance.injection_rate = changed["injection_rate"]
    if "enabled" in changed:
        instance.enabled = changed["enabled"]
    live = {"latency_rate", "error_rate", "result_rate", "injection_rate", "enabled"}
    return tuple(sorted(set(changed) - live))


def _check_queue(name: str, values: Mapping[str, Any]) -> None:
    path = values.get("storage_path", "rebellion-queue.db")
    if not isinstance(path, str) or not path:
        raise ConfigError("storage_path", "a file path", path)
    check_int("max_size", values.get("max_size", 1000), minimum=1)
    check_int("worker_count", values.get("worker_count", 1), minimum=1)
    for key in ("lease_timeout", "poll_interval", "idempotency_ttl"):
        if key in values:
            check_number(key, values[key], minimum=0.0, exclusive_minimum=True)


def _check_monitor(name: str, values: Mapping[str, Any]) -> None:
    for key in ("host", "db", "token", "publish", "fleet", "host_id"):
        if key in values and (not isinstance(values[key], str) or not values[key]):
            raise ConfigError(key, "a non-empty string", values[key])
    if "port" in values:
        check_int("port", values["port"], minimum=1, maximum=65535)
    if "interval" in values:
        check_number("interval", values["interval"], minimum=0.0, exclusive_minimum=True)
    origins = values.get("allow_origin", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) and o for o in origins):
        raise ConfigError("allow_origin", "a list of origins (strings)", origins)


@final
@dataclass(frozen=True, slots=True)
class Kind:
    """One configurable kind: its table name, class and rules."""

    name: str
    module: str
    cls: str
    env: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    apply: Applier = _nothing_live
    # Keys accepted besides the constructor's (or instead, when there is no class).
    extra_keys: frozenset[str] = frozenset()
    check: Callable[[str, Mapping[str, Any]], None] | None = None

    def param(self, key: str) -> str:
        """Return the constructor parameter a file key feeds."""
        return self.aliases.get(key, key)

    def load(self) -> type[Any]:
        """Import and return the configured class."""
        return getattr(importlib.import_module(self.module), self.cls)  # type: ignore[no-any-return]

    def keys(self) -> frozenset[str]:
        """Every parameter a file may set for this kind."""
        if self.check is not None:
            return self.extra_keys
        signature = inspect.signature(self.load())
        return frozenset(signature.parameters) - _NOT_FROM_FILES | self.extra_keys

    def constructor_defaults(self) -> dict[str, Any]:
        """The class's own parameter defaults (what a key removed from a file goes back to)."""
        if self.check is not None:
            return {}
        return {
            p.name: p.default
            for p in inspect.signature(self.load()).parameters.values()
            if p.default is not inspect.Parameter.empty and p.name not in _NOT_FROM_FILES
        }

    def validate(self, name: str, values: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` unless ``values`` build a valid instance.

        Raises:
            ConfigError: an unknown key or a value out of range (the message names it).
        """
        known = self.keys()
        for key in sorted(values):
            if key not in known:
                raise ConfigError(
                    key, f"one of the {self.name} keys: {', '.join(sorted(known))}", values[key]
                )
        if self.check is not None:
            self.check(name, values)
            return
        if self.name == "cache":
            from ..cache._config import CacheConfig

            defaults = self.constructor_defaults()
            wanted = set(inspect.signature(CacheConfig.create).parameters) - {"cls"}
            CacheConfig.create(**{k: v for k, v in {**defaults, **values}.items() if k in wanted})
            return
        built = {k: v for k, v in values.items() if k not in self.extra_keys}
        try:
            self.load()(name=name, **built)
        except TypeError as error:  # a value of the wrong kind where the class did not check
            raise ConfigError(self.name, "values of the documented types", str(error)) from None


def _env(kind: str, *keys: str, **renamed: str) -> dict[str, str]:
    table = {key: f"{kind}.{key}" for key in keys}
    table.update(renamed)
    return table


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "circuit_breaker",
            "rebellion.policies.circuit_breaker",
            "CircuitBreaker",
            env=_env(
                "circuit_breaker",
                "failure_threshold",
                "reset_timeout",
                "max_reset_timeout",
                "half_open_max_calls",
                "success_threshold",
                "exponential_backoff_factor",
            ),
            aliases={"max_failures": "failure_threshold"},
            apply=_breaker,
        ),
        Kind(
            "retry",
            "rebellion.policies.retry",
            "Retry",
            env=_env(
                "retry", "max_attempts", "initial_delay", "max_delay", "backoff_factor", "jitter"
            ),
        ),
        Kind(
            "timeout",
            "rebellion.policies.timeout",
            "Timeout",
            env=_env("timeout", "seconds"),
            apply=_timeout,
        ),
        Kind("bulkhead", "rebellion.policies.bulkhead", "Bulkhead", apply=_bulkhead),
        Kind("rate_limiter", "rebellion.policies.ratelimit", "RateLimiter", apply=_rate_limiter),
        Kind("adaptive_limiter", "rebellion.policies.adaptive", "AdaptiveLimiter", apply=_adaptive),
        Kind("chaos", "rebellion.policies.chaos", "Chaos", apply=_chaos),
        Kind("backpressure", "rebellion.flow", "BackpressureHandler"),
        Kind("metric_transformer", "rebellion.metrics", "MetricTransformer"),
        Kind("alert_manager", "rebellion.metrics", "AlertManager"),
        Kind(
            "cache",
            "rebellion.cache",
            "DistributedCache",
            env={
                "memory_cache_size": "cache.memory_size",
                "disk_cache_dir": "cache.disk_dir",
                "default_ttl": "cache.default_ttl",
                "redis_url": "cache.redis_url",
            },
            aliases={"memory_size": "memory_cache_size", "disk_dir": "disk_cache_dir"},
        ),
        Kind(
            "queue",
            "rebellion.durable",
            "PersistentRequestQueue",
            env=_env("queue", "storage_path", "max_size", "worker_count"),
            extra_keys=frozenset(
                {
                    "storage_path",
                    "max_size",
                    "worker_count",
                    "lease_timeout",
                    "poll_interval",
                    "idempotency_ttl",
                }
            ),
            check=_check_queue,
        ),
        Kind(
            "monitor",
            "rebellion.monitor",
            "MonitorService",
            env={**_env("monitor", "host", "port", "interval", "db"), "token": "token"},
            extra_keys=frozenset(
                {
                    "host",
                    "port",
                    "interval",
                    "db",
                    "token",
                    "allow_origin",
                    "publish",
                    "fleet",
                    "host_id",
                }
            ),
            check=_check_monitor,
        ),
    )
}
"""Every section a configuration file may have, by table name."""
