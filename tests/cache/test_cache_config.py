"""Every constructor parameter rejects bad input with a message naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rebellion.cache import DistributedCache
from rebellion.errors import ConfigError

BAD: list[tuple[str, Any]] = [
    ("memory_cache_size", -1),
    ("memory_cache_size", 1.5),
    ("memory_cache_size", True),
    ("disk_cache_dir", 42),
    ("disk_cache_dir", ""),
    ("redis_url", "http://localhost"),
    ("redis_url", 6379),
    ("name", ""),
    ("name", " padded "),
    ("default_ttl", 0),
    ("default_ttl", float("nan")),
    ("stale_grace", -1),
    ("serializer", "yaml"),
    ("adaptive_ttl", "yes"),
    ("min_ttl", 0),
    ("min_ttl", 1000),
    ("max_ttl", 1),
    ("hot_key_hits", 0),
    ("hot_key_hits", "4"),
    ("preload", 1),
    ("baseline_sample_rate", 1.5),
    ("baseline_sample_rate", -0.1),
    ("redis_prefix", ""),
    ("redis_timeout", 0),
    ("redis_failure_threshold", 0),
    ("redis_reset_timeout", -5),
    ("clock", "now"),
    ("listeners", [42]),
]


@pytest.mark.parametrize(("parameter", "value"), BAD)
def test_bad_parameter_is_rejected_by_name(parameter: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        DistributedCache(**{parameter: value})
    assert parameter in str(caught.value)


def test_disk_cache_dir_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError, match="disk_cache_dir"):
        DistributedCache(disk_cache_dir=target)


def test_redis_url_defaults_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBELLION_CACHE_REDIS_URL", "http://nope")
    with pytest.raises(ConfigError, match="redis_url"):
        DistributedCache()


def test_zero_memory_size_disables_the_memory_tier() -> None:
    cache = DistributedCache(0)
    assert cache.get_local("k") is None
    assert cache.stats()["tiers"]["memory"]["capacity"] == 0
