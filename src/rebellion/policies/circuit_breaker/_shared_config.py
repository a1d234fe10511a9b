"""Validated settings of the Redis-shared breaker beyond its trip rule.

The trip rule (window, thresholds, waits, probes) is a :class:`BreakerConfig`, checked
by the same code as the in-process breaker's; this module adds what only sharing needs
(Redis-down behaviour, clock, key lifetime, leases, refresh and re-sync intervals).

>>> window_type_for(None, failure_threshold=5, window_settings=(None, None))
'consecutive'
>>> window_type_for(None, failure_threshold=None, window_settings=(None, 0.2))
'count'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, final

from ..._units import as_seconds
from ..._validate import check_choice, check_duration, check_name
from ...errors import ConfigError
from ._config import BreakerConfig

__all__ = ["REDIS_DOWN_MODES", "SharedSettings", "script_settings", "window_type_for"]

REDIS_DOWN_MODES = ("local", "fail_open", "fail_closed")


def window_type_for(
    window_type: str | None, *, failure_threshold: int | None, window_settings: tuple[Any, ...]
) -> str:
    """Return the window type: as given, else ``consecutive`` for a bare ``failure_threshold``.

    Raises:
        ConfigError: ``window_type`` is missing while both kinds of settings are given.
    """
    if window_type is not None:
        return window_type
    if failure_threshold is None:
        return "count"
    if any(value is not None for value in window_settings):
        raise ConfigError(
            "window_type", "given when both failure_threshold and window settings are set", None
        )
    return "consecutive"


@final
@dataclass(frozen=True, slots=True)
class SharedSettings:
    """What a shared breaker adds to its :class:`BreakerConfig`; built by :meth:`create`."""

    on_redis_down: str
    server_time: bool
    key_ttl: float
    probe_lease: float
    refresh_interval: float
    resync_interval: float
    redis_timeout: float
    key_prefix: str

    @classmethod
    def create(
        cls,
        cfg: BreakerConfig,
        *,
        on_redis_down: object,
        server_time: object,
        clock_given: bool,
        key_ttl: float | timedelta | None,
        probe_lease: float | timedelta,
        refresh_interval: float | timedelta,
        resync_interval: float | timedelta,
        redis_timeout: float | timedelta,
        key_prefix: object,
    ) -> SharedSettings:
        """Validate every parameter against ``cfg`` (names, rules and values in errors)."""
        if cfg.window_type == "count" and cfg.minimum_calls > cfg.window_size:
            raise ConfigError(
                "minimum_calls",
                f"at most window_size ({cfg.window_size:g}) for a count window",
                cfg.minimum_calls,
            )
        mode = check_choice("on_redis_down", on_redis_down, REDIS_DOWN_MODES)
        if server_time is None:
            server_time = not clock_given
        if not isinstance(server_time, bool):
            raise ConfigError("server_time", "True, False or None", server_time)
        lease = check_duration("probe_lease", as_seconds(probe_lease), exclusive_minimum=True)
        refresh = check_duration("refresh_interval", as_seconds(refresh_interval))
        resync = check_duration(
            "resync_interval", as_seconds(resync_interval), exclusive_minimum=True
        )
        timeout = check_duration("redis_timeout", as_seconds(redis_timeout), exclusive_minimum=True)
        # Keys must outlive the longest open wait, a time window and a probe lease.
        span = cfg.window_size if cfg.window_type == "time" else 0.0
        floor = max(cfg.max_reset_timeout, span, lease)
        ttl = check_duration(
            "key_ttl",
            max(3600.0, 2 * floor) if key_ttl is None else as_seconds(key_ttl),
            minimum=floor,
        )
        return cls(
            on_redis_down=mode,
            server_time=server_time,
            key_ttl=ttl,
            probe_lease=lease,
            refresh_interval=refresh,
            resync_interval=resync,
            redis_timeout=timeout,
            key_prefix=check_name("key_prefix", key_prefix),
        )


def script_settings(cfg: BreakerConfig) -> dict[str, Any]:
    """Return the trip-rule settings the Lua script reads."""
    return {
        "window_type": cfg.window_type,
        "window_size": cfg.window_size,
        "window_buckets": cfg.window_buckets,
        "minimum_calls": cfg.minimum_calls,
        "failure_rate_threshold": cfg.failure_rate_threshold,
        "slow_call_duration": cfg.slow_call_duration,
        "slow_call_rate_threshold": cfg.slow_call_rate_threshold,
        "failure_threshold": cfg.failure_threshold,
        "success_threshold": cfg.success_threshold,
        "reset_timeout": cfg.reset_timeout,
        "exponential_backoff_factor": cfg.exponential_backoff_factor,
        "max_reset_timeout": cfg.max_reset_timeout,
        "half_open_max_calls": cfg.half_open_max_calls,
    }
