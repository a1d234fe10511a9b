"""Named defaults from ``REBELLION_*`` environment variables, validated with clear errors.

Every primitive is configurable in code; a parameter left out falls back to its
environment default, then to the loaded configuration file's defaults, then to the
built-in one. Variables are read when a primitive is built (not at import), so a test or
a deployment can set them at any time.

>>> import os
>>> os.environ["REBELLION_RETRY_MAX_ATTEMPTS"] = "5"
>>> setting("retry.max_attempts")
5
>>> os.environ["REBELLION_RETRY_MAX_ATTEMPTS"] = "many"
>>> setting("retry.max_attempts")
Traceback (most recent call last):
...
rebellion.errors.ConfigError: REBELLION_RETRY_MAX_ATTEMPTS must be an integer >= 1, got 'many'
>>> del os.environ["REBELLION_RETRY_MAX_ATTEMPTS"]
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, final

from .._validate import MAX_DURATION, MAX_INT
from ..errors import ConfigError

__all__ = [
    "PREFIX",
    "Setting",
    "describe_settings",
    "env_override",
    "register_setting",
    "set_file_defaults",
    "setting",
    "validate_environment",
]

PREFIX = "REBELLION_"


@final
@dataclass(frozen=True, slots=True)
class Setting:
    """One named default: its key (``retry.max_attempts``), parser, rule and value."""

    key: str
    parse: Callable[[str], object]
    rule: str
    default: object

    @property
    def env(self) -> str:
        """The environment variable that overrides this default."""
        return PREFIX + self.key.replace(".", "_").upper()


def _int(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if not minimum <= value <= MAX_INT:
            raise ValueError(text)
        return value

    return parse


def _float(minimum: float, *, exclusive: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text.strip())
        if math.isnan(value) or math.isinf(value):
            raise ValueError(text)
        if value < minimum or (exclusive and value == minimum):
            raise ValueError(text)
        return value

    return parse


def _seconds(*, positive: bool) -> Callable[[str], float]:
    number = _float(0, exclusive=positive)

    def parse(text: str) -> float:
        value = number(text)
        if value > MAX_DURATION:  # what a real wait can honour (about 31.7 years)
            raise ValueError(text)
        return value

    return parse


_SECONDS = f"a number of seconds in (0, {MAX_DURATION:g}]"
_DELAY = f"a number of seconds in [0, {MAX_DURATION:g}]"


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in options:
            raise ValueError(text)
        return value

    return parse


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError(text)
    return names


def _text(text: str) -> str:
    if not text.strip():
        raise ValueError(text)
    return text.strip()


_SETTINGS: dict[str, Setting] = {}


def register_setting(key: str, parse: Callable[[str], object], rule: str, default: object) -> None:
    """Declare a named default (used by modules that add their own settings)."""
    _SETTINGS[key] = Setting(key, parse, rule, default)


for _key, _parse, _rule, _default in (
    ("circuit_breaker.failure_threshold", _int(1), "an integer >= 1", 5),
    ("circuit_breaker.reset_timeout", _seconds(positive=True), _SECONDS, 60.0),
    ("circuit_breaker.max_reset_timeout", _seconds(positive=True), _SECONDS, 600.0),
    ("circuit_breaker.half_open_max_calls", _int(1), "an integer >= 1", 1),
    ("circuit_breaker.success_threshold", _int(1), "an integer >= 1", 1),
    ("circuit_breaker.exponential_backoff_factor", _float(1), "a number >= 1", 1.0),
    ("retry.max_attempts", _int(1), "an integer >= 1", 3),
    ("retry.initial_delay", _seconds(positive=False), _DELAY, 0.1),
    ("retry.max_delay", _seconds(positive=False), _DELAY, 2.0),
    ("retry.backoff_factor", _float(1), "a number >= 1", 2.0),
    (
        "retry.jitter",
        _choice("none", "full", "equal", "decorrelated"),
        "one of none | full | equal | decorrelated",
        "full",
    ),
    ("retry.budget_percent", _float(0), "a number >= 0", 20.0),
    ("retry.budget_min_per_second", _float(0), "a number >= 0", 10.0),
    ("timeout.seconds", _seconds(positive=True), _SECONDS, 30.0),
    ("cache.redis_url", _text, "a non-empty URL", None),
    ("cache.memory_size", _int(0), "an integer >= 0", 1000),
    ("cache.disk_dir", _text, "a non-empty directory path", None),
    ("cache.default_ttl", _float(0, exclusive=True), "a number > 0", 300.0),
    ("queue.storage_path", _text, "a non-empty file path", "rebellion-queue.db"),
    ("queue.max_size", _int(1), "an integer >= 1", 1000),
    ("queue.worker_count", _int(1), "an integer >= 1", 1),
    ("monitor.host", _text, "a non-empty host name or address", "127.0.0.1"),
    ("monitor.port", _int(1), "an integer >= 1", 8765),
    ("monitor.interval", _float(0, exclusive=True), "a number > 0", 1.0),
    ("monitor.db", _text, "a non-empty file path", None),
    ("token", _text, "a non-empty string", None),
    ("config", _text, "a path to a TOML configuration file", None),
    ("allowed_hosts", _names, "comma-separated host names, e.g. monitor.lan,.example.com", None),
    ("fleet_url", _text, "a Redis URL the process joins the fleet on", None),
):
    register_setting(_key, _parse, _rule, _default)


# The loaded configuration file's ``configs.default`` values, by setting key (or None).
_file_defaults: Callable[[str], tuple[bool, object]] | None = None


def set_file_defaults(lookup: Callable[[str], tuple[bool, object]] | None) -> None:
    """Install (or remove) the loaded file's defaults: ``lookup(key) -> (found, value)``."""
    global _file_defaults
    _file_defaults = lookup


def setting(key: str, environ: Mapping[str, str] | None = None) -> Any:
    """Return the value of the named default: environment, then file, then built-in.

    Raises:
        ConfigError: the variable is set but does not satisfy the setting's rule.
        KeyError: ``key`` is not a known setting.
    """
    spec = _SETTINGS[key]
    env = os.environ if environ is None else environ
    raw = env.get(spec.env)
    if raw is None:
        lookup = _file_defaults
        if lookup is not None:
            found, value = lookup(key)
            if found:
                return value
        return spec.default
    try:
        return spec.parse(raw)
    except ValueError:
        raise ConfigError(spec.env, spec.rule, raw) from None


def env_override(key: str, environ: Mapping[str, str] | None = None) -> tuple[bool, Any]:
    """Return ``(True, value)`` if the setting's variable is set, else ``(False, None)``.

    Raises:
        ConfigError: the variable is set but does not satisfy the setting's rule.
    """
    spec = _SETTINGS[key]
    env = os.environ if environ is None else environ
    if spec.env not in env:
        return False, None
    return True, setting(key, env)


def validate_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Check every ``REBELLION_*`` variable: known names, valid values.

    Returns:
        The parsed values of the variables that are set, by setting key.

    Raises:
        ConfigError: an unknown ``REBELLION_*`` name (with the closest known one) or a
            value that breaks its rule.
    """
    env = os.environ if environ is None else environ
    by_env = {spec.env: spec for spec in _SETTINGS.values()}
    parsed: dict[str, Any] = {}
    for name in sorted(env):
        if not name.startswith(PREFIX):
            continue
        spec = by_env.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(by_env), n=1)
            hint = f"a known setting (did you mean {close[0]}?)" if close else "a known setting"
            raise ConfigError("environment variable", hint, name)
        parsed[spec.key] = setting(spec.key, env)
    return parsed


def describe_settings() -> list[Setting]:
    """List every known setting, sorted by key (for ``rebellion config`` and docs)."""
    return [_SETTINGS[k] for k in sorted(_SETTINGS)]
