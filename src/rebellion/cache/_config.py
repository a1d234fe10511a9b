"""Validated, frozen configuration of a :class:`~rebellion.cache.DistributedCache`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import final

from .. import config
from .._validate import (
    MAX_DURATION,
    check_choice,
    check_duration,
    check_fraction,
    check_int,
    check_name,
)
from ..errors import ConfigError
from ._serial import SERIALIZERS

__all__ = ["CacheConfig", "check_bool", "check_key"]

_SCHEMES = ("redis://", "rediss://", "unix://")


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` checked to be a bool."""
    if not isinstance(value, bool):
        raise ConfigError(name, "True or False", value)
    return value


def check_key(name: str, value: object) -> str:
    """Return ``value`` checked to be a non-empty string (a key or a namespace)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(name, "a non-empty string", value)
    return value


@final
@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Everything that shapes a cache; built by :meth:`create`."""

    memory_cache_size: int
    disk_cache_dir: Path | None
    redis_url: str | None
    default_ttl: float
    stale_grace: float
    serializer: str
    adaptive_ttl: bool
    min_ttl: float
    max_ttl: float
    hot_key_hits: int | None
    preload: bool
    baseline_sample_rate: float
    redis_prefix: str
    redis_timeout: float
    redis_failure_threshold: int
    redis_reset_timeout: float

    @classmethod
    def create(
        cls,
        *,
        memory_cache_size: object,
        disk_cache_dir: object,
        redis_url: object,
        default_ttl: object,
        stale_grace: object,
        serializer: object,
        adaptive_ttl: object,
        min_ttl: object,
        max_ttl: object,
        hot_key_hits: object,
        preload: object,
        baseline_sample_rate: object,
        redis_prefix: object,
        redis_timeout: object,
        redis_failure_threshold: object,
        redis_reset_timeout: object,
    ) -> CacheConfig:
        """Validate every parameter; ``None`` for a size, directory, TTL or URL falls back to
        its ``REBELLION_CACHE_*`` setting (environment, then configuration file)."""
        if memory_cache_size is None:
            memory_cache_size = config.setting("cache.memory_size")
        if disk_cache_dir is None:
            disk_cache_dir = config.setting("cache.disk_dir")
        if default_ttl is None:
            default_ttl = config.setting("cache.default_ttl")
        size = check_int("memory_cache_size", memory_cache_size, minimum=0)
        directory: Path | None = None
        if disk_cache_dir is not None:
            if not isinstance(disk_cache_dir, str | os.PathLike) or not str(disk_cache_dir):
                raise ConfigError("disk_cache_dir", "a directory path or None", disk_cache_dir)
            directory = Path(disk_cache_dir)
            if directory.exists() and not directory.is_dir():
                raise ConfigError("disk_cache_dir", "a directory (not a file)", disk_cache_dir)
        url = config.setting("cache.redis_url") if redis_url is None else redis_url
        if url is not None and (not isinstance(url, str) or not url.startswith(_SCHEMES)):
            raise ConfigError("redis_url", "a redis://, rediss:// or unix:// URL or None", url)
        ttl = check_duration("default_ttl", default_ttl, exclusive_minimum=True)
        grace = check_duration("stale_grace", stale_grace)
        codec = check_choice("serializer", serializer, SERIALIZERS)
        adaptive = check_bool("adaptive_ttl", adaptive_ttl)
        low = ttl / 2 if min_ttl is None else min_ttl
        high = min(ttl * 4, MAX_DURATION) if max_ttl is None else max_ttl
        low = check_duration("min_ttl", low, maximum=ttl, exclusive_minimum=True)
        high = check_duration("max_ttl", high, minimum=ttl)
        hot = None
        if hot_key_hits is not None:
            hot = check_int("hot_key_hits", hot_key_hits, minimum=1)
        return cls(
            memory_cache_size=size,
            disk_cache_dir=directory,
            redis_url=url,
            default_ttl=ttl,
            stale_grace=grace,
            serializer=codec,
            adaptive_ttl=adaptive,
            min_ttl=low,
            max_ttl=high,
            hot_key_hits=hot,
            preload=check_bool("preload", preload),
            baseline_sample_rate=check_fraction("baseline_sample_rate", baseline_sample_rate),
            redis_prefix=check_name("redis_prefix", redis_prefix),
            redis_timeout=check_duration("redis_timeout", redis_timeout, exclusive_minimum=True),
            redis_failure_threshold=check_int(
                "redis_failure_threshold", redis_failure_threshold, minimum=1
            ),
            redis_reset_timeout=check_duration(
                "redis_reset_timeout", redis_reset_timeout, exclusive_minimum=True
            ),
        )
