"""The process's current configuration: ``load_config``, ``REBELLION_CONFIG``, unload.

>>> from rebellion.config import current_config, unload_config
>>> unload_config()
>>> current_config() is None  # nothing loaded and REBELLION_CONFIG unset
True
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from .._clock import Clock
from .._events import Listener
from ..errors import ConfigError
from ._env import set_file_defaults, setting
from ._live import LoadedConfig, with_env

__all__ = ["current_config", "load_config", "reload_config", "resolved", "unload_config"]

_current: LoadedConfig | None = None
_auto_path: str | None = None
_state_lock = threading.RLock()
_resolving = threading.local()


def load_config(
    path: str | os.PathLike[str] | None = None,
    watch: bool = False,
    *,
    interval: float = 1.0,
    clock: Clock | None = None,
    listeners: Iterable[Listener] = (),
) -> LoadedConfig:
    """Make the TOML file at ``path`` (default: ``REBELLION_CONFIG``) the configuration.

    The previous configuration's watcher, if any, stops. Named instances that already
    exist take the file's settings (keys given in code stay); ``reload()`` and the
    watcher re-apply later edits.

    Args:
        path: the file; ``None`` reads ``REBELLION_CONFIG``.
        watch: check the file every ``interval`` seconds and apply valid edits.
        interval: seconds between checks (> 0).
        clock: time source of the interval (tests: ManualClock).
        listeners: receive :class:`ConfigReloaded` and :class:`ConfigRejected`.

    Returns:
        The loaded configuration (``reload()``, ``stop()``, ``resolve()``).

    Raises:
        ConfigError: no path and no ``REBELLION_CONFIG``, or the file is invalid.
    """
    global _current
    if path is None:
        path = setting("config")
        if path is None:
            raise ConfigError("path", "given or set in REBELLION_CONFIG", None)
    if not isinstance(watch, bool):
        raise ConfigError("watch", "True or False", watch)
    with _state_lock:
        _resolving.active = True
        try:
            loaded = LoadedConfig(path, clock=clock, interval=interval, listeners=listeners)
        finally:
            _resolving.active = False
        previous = _current
        unload_config()
        _current = loaded
    # Named instances that already exist take the file's settings too.
    loaded.apply_to_live(None if previous is None else previous.document)
    if watch:
        loaded.watch()
    return loaded


def reload_config() -> bool:
    """Re-read the current configuration file now (what its watcher does on a change).

    Returns:
        True if a changed, valid file was applied; False if unchanged, refused, or no
        configuration is loaded.
    """
    loaded = current_config()
    return False if loaded is None else loaded.reload()


def unload_config() -> None:
    """Forget the loaded configuration and stop its watcher (tests call this)."""
    global _current, _auto_path
    with _state_lock:
        previous, _current = _current, None
        _auto_path = None
    if previous is not None:
        previous.stop()


def current_config() -> LoadedConfig | None:
    """Return the loaded configuration; load ``REBELLION_CONFIG`` on first use if set.

    Raises:
        ConfigError: ``REBELLION_CONFIG`` names a missing or invalid file.
    """
    global _current, _auto_path
    loaded = _current
    if loaded is not None and (
        _auto_path is None or _auto_path == os.environ.get("REBELLION_CONFIG")
    ):
        return loaded
    if getattr(_resolving, "active", False):
        return None
    path = os.environ.get("REBELLION_CONFIG")
    if not path:
        if _auto_path is not None:
            unload_config()
        return None
    with _state_lock:
        _resolving.active = True
        try:
            loaded = LoadedConfig(path)
        finally:
            _resolving.active = False
        if _current is not None:
            _current.stop()
        _current, _auto_path = loaded, path
    return loaded


def _file_default(key: str) -> tuple[bool, object]:
    loaded = current_config()
    return (False, None) if loaded is None else loaded.default_for(key)


set_file_defaults(_file_default)


def resolved(kind: str, name: str | None) -> Mapping[str, Any]:
    """Return the values for ``kind``/``name``: the loaded file (if any), environment on top."""
    loaded = current_config()
    if loaded is None:
        return with_env(kind, {})
    return loaded.resolve(kind, name)
