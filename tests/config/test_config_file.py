"""TOML configuration files: defaults, shared configs, named instances, environment on top."""

from __future__ import annotations

from pathlib import Path

import pytest

import rebellion
from rebellion import CircuitBreaker, ConfigError, Retry, Timeout
from rebellion.config import (
    ConfigDocument,
    config_settings,
    current_config,
    get_cache,
    get_request_queue,
    get_timeout,
    load_config,
    setting,
)

FILE = """
[circuit_breaker.configs.default]
failure_threshold = 5
reset_timeout = 30.0

[circuit_breaker.configs.strict]
failure_threshold = 2

[circuit_breaker.instances.payments]
base = "strict"
reset_timeout = 10.0

[circuit_breaker.instances.search]
minimum_calls = 20

[retry]
max_attempts = 4

[timeout.instances.slow]
seconds = 12.5
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write(tmp_path / "rebellion.toml", FILE)


def test_an_instance_takes_its_base_over_the_defaults(config_file: Path) -> None:
    load_config(config_file)
    payments = rebellion.get_circuit_breaker("payments")
    assert (payments.failure_threshold, payments.reset_timeout) == (2, 10.0)


def test_an_instance_without_a_base_takes_the_defaults(config_file: Path) -> None:
    load_config(config_file)
    search = rebellion.get_circuit_breaker("search")
    assert (search.failure_threshold, search.reset_timeout) == (5, 30.0)
    assert search.config.minimum_calls == 20


def test_an_unnamed_instance_takes_the_defaults(config_file: Path) -> None:
    load_config(config_file)
    assert rebellion.get_circuit_breaker("other").failure_threshold == 5
    assert rebellion.get_retry_policy("checkout").max_attempts == 4


def test_primitives_built_directly_read_the_file_defaults(config_file: Path) -> None:
    load_config(config_file)
    assert CircuitBreaker("direct").failure_threshold == 5
    assert Retry().max_attempts == 4
    assert setting("circuit_breaker.reset_timeout") == 30.0


def test_code_wins_over_the_file(config_file: Path) -> None:
    load_config(config_file)
    assert rebellion.get_circuit_breaker("payments", failure_threshold=7).failure_threshold == 7
    assert rebellion.get_circuit_breaker("payments").failure_threshold == 7


def test_environment_wins_over_the_file(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBELLION_CIRCUIT_BREAKER_FAILURE_THRESHOLD", "9")
    load_config(config_file)
    assert rebellion.get_circuit_breaker("payments").failure_threshold == 9
    assert CircuitBreaker("direct").failure_threshold == 9


def test_timeouts_are_named_instances_too(config_file: Path) -> None:
    load_config(config_file)
    slow = get_timeout("slow")
    assert isinstance(slow, Timeout)
    assert slow.seconds == 12.5
    assert get_timeout("slow") is slow


def test_the_file_is_found_through_rebellion_config(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBELLION_CONFIG", str(config_file))
    assert rebellion.get_circuit_breaker("payments").failure_threshold == 2
    loaded = current_config()
    assert loaded is not None
    assert loaded.path == str(config_file)
    assert load_config().path == str(config_file)


def test_load_without_a_path_or_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REBELLION_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="REBELLION_CONFIG"):
        load_config()


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("text", "parameter"),
    [
        (
            "[circuit_breaker]\nfailure_threshold = 0\n",
            "circuit_breaker.configs.default.failure_threshold",
        ),
        ("[circuit_breaker.instances.a]\ncolour = 1\n", "circuit_breaker.instances.a.colour"),
        ("[circuit_breaker.instances.a]\nbase = 'nope'\n", "circuit_breaker.instances.a.base"),
        ("[retry]\njitter = 'sometimes'\n", "retry.configs.default.jitter"),
        ("[bulkheads]\nmax_concurrent = 1\n", "section"),
        ("[cache]\nmemory_size = -1\n", "cache.configs.default.memory_cache_size"),
        ("[queue]\nworker_count = 0\n", "queue.configs.default.worker_count"),
        ("[monitor]\nport = 70000\n", "monitor.configs.default.port"),
        ("[circuit_breaker\n", "configuration"),
    ],
)
def test_bad_files_name_the_key_and_the_rule(text: str, parameter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ConfigDocument.parse(text)
    assert caught.value.parameter == parameter


def test_a_cycle_of_bases_is_refused() -> None:
    text = """
[retry.configs.a]
base = "b"
[retry.configs.b]
base = "a"
[retry.instances.x]
base = "a"
"""
    with pytest.raises(ConfigError, match="cycles"):
        ConfigDocument.parse(text)


def test_a_key_set_twice_for_the_defaults_is_refused() -> None:
    text = "[retry]\nmax_attempts = 2\n[retry.configs.default]\nmax_attempts = 3\n"
    with pytest.raises(ConfigError, match="set once"):
        ConfigDocument.parse(text)


def test_every_seed_setting_has_a_variable_and_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBELLION_CACHE_MEMORY_SIZE", "64")
    monkeypatch.setenv("REBELLION_CACHE_DISK_DIR", str(tmp_path / "disk"))
    monkeypatch.setenv("REBELLION_CACHE_DEFAULT_TTL", "3600")
    monkeypatch.setenv("REBELLION_QUEUE_STORAGE_PATH", str(tmp_path / "queue.db"))
    monkeypatch.setenv("REBELLION_QUEUE_MAX_SIZE", "50")
    monkeypatch.setenv("REBELLION_QUEUE_WORKER_COUNT", "5")
    cache = get_cache("seeds")
    assert cache.config.memory_cache_size == 64
    assert cache.config.disk_cache_dir == tmp_path / "disk"
    assert cache.config.default_ttl == 3600.0
    queue = get_request_queue("seeds")
    queue.close()
    assert (queue.storage_path, queue.max_size) == (str(tmp_path / "queue.db"), 50)
    assert config_settings("queue")["worker_count"] == 5


def test_the_seed_settings_come_from_the_file_too(tmp_path: Path) -> None:
    text = f"""
[cache]
memory_size = 32
disk_dir = "{tmp_path / "disk"}"
default_ttl = 60.0

[queue]
storage_path = "{tmp_path / "q.db"}"
max_size = 7
worker_count = 3

[monitor]
port = 9100
interval = 2.0
"""
    load_config(write(tmp_path / "r.toml", text))
    assert get_cache().config.memory_cache_size == 32
    queue = get_request_queue()
    queue.close()
    assert queue.max_size == 7
    assert config_settings("queue")["worker_count"] == 3
    assert config_settings("monitor")["port"] == 9100


def test_a_shared_config_is_checked_even_when_no_instance_uses_it() -> None:
    with pytest.raises(ConfigError) as caught:
        ConfigDocument.parse("[bulkhead.configs.tight]\nmax_concurrent = 0\n")
    assert caught.value.parameter == "bulkhead.configs.tight.max_concurrent"


def test_a_cache_built_directly_reads_the_seed_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rebellion.cache import DistributedCache

    monkeypatch.setenv("REBELLION_CACHE_MEMORY_SIZE", "12")
    monkeypatch.setenv("REBELLION_CACHE_DEFAULT_TTL", "3600")
    config = DistributedCache().config
    assert (config.memory_cache_size, config.default_ttl, config.disk_cache_dir) == (
        12,
        3600.0,
        None,
    )
    monkeypatch.setenv("REBELLION_CACHE_MEMORY_SIZE", "-3")
    with pytest.raises(ConfigError, match="REBELLION_CACHE_MEMORY_SIZE"):
        DistributedCache()


def test_metric_transformers_and_alert_managers_come_from_the_file(tmp_path: Path) -> None:
    text = """
[metric_transformer.instances.system_metrics]
history_size = 300

[alert_manager]
group_wait = 5.0
"""
    load_config(write(tmp_path / "m.toml", text))
    transformer = rebellion.get_metric_transformer("system_metrics")
    assert transformer.history_size == 300
    # The seed's call: its keyword arguments win, and asking again is not a conflict.
    seed = rebellion.get_metric_transformer(name="other", history_size=120, smoothing_window=5)
    assert seed.history_size == 120
    assert rebellion.get_metric_transformer("system_metrics") is transformer
    from rebellion.config import get_alert_manager

    assert get_alert_manager("ops") is get_alert_manager("ops")


def test_asking_again_compares_only_what_code_gives(config_file: Path) -> None:
    load_config(config_file)
    breaker = rebellion.get_circuit_breaker("payments")
    assert rebellion.get_circuit_breaker("payments", failure_threshold=2) is breaker
    with pytest.raises(ConfigError, match="failure_threshold must be 2 as registered"):
        rebellion.get_circuit_breaker("payments", failure_threshold=3)


SEED_SETTINGS = {
    # seed variable: (section, file key)
    "CIRCUIT_BREAKER_FAILURE_THRESHOLD": ("circuit_breaker", "failure_threshold"),
    "CIRCUIT_BREAKER_RESET_TIMEOUT": ("circuit_breaker", "reset_timeout"),
    "RETRY_MAX_ATTEMPTS": ("retry", "max_attempts"),
    "RETRY_INITIAL_DELAY": ("retry", "initial_delay"),
    "RETRY_MAX_DELAY": ("retry", "max_delay"),
    "RETRY_BACKOFF_FACTOR": ("retry", "backoff_factor"),
    "CACHE_MEMORY_SIZE": ("cache", "memory_size"),
    "CACHE_DISK_DIR": ("cache", "disk_dir"),
    "CACHE_REDIS_URL": ("cache", "redis_url"),
    "CACHE_DEFAULT_TTL": ("cache", "default_ttl"),
    "QUEUE_STORAGE_PATH": ("queue", "storage_path"),
    "QUEUE_MAX_SIZE": ("queue", "max_size"),
    "QUEUE_WORKER_COUNT": ("queue", "worker_count"),
}


@pytest.mark.parametrize("variable", sorted(SEED_SETTINGS))
def test_each_seed_variable_is_a_rebellion_variable_and_a_file_key(variable: str) -> None:
    from rebellion.config import KINDS, describe_settings

    section, key = SEED_SETTINGS[variable]
    known = {spec.env: spec.key for spec in describe_settings()}
    assert "REBELLION_" + variable in known
    kind = KINDS[section]
    assert kind.param(key) in kind.env
    assert kind.env[kind.param(key)] == known["REBELLION_" + variable]
